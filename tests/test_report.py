"""The backtest report's readable parts: method order, blend weights, warm-up sentences."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from training.report import blend_line, metrics_table, warmup_lines

METRICS: dict[str, Any] = {
    "frequency": "W",
    "methods": {
        name: {"wape": 60.0, "mae": 1.0, "bias": 0.0, "pinball_mean": 1.0, "coverage": 0.8}
        for name in ("served", "gbm_tweedie", "blend", "gbm", "neighbours", "global_curve")
    },
    "blend_weights": {"cold": {"gbm": 0.7, "neighbours": 0.3}, "warm": {"gbm": 1.0}},
    "warmup": {
        "2": {
            "scored_steps": [3, 12],
            "cold_wape": 63.4,
            "warm": {"wape": 50.4, "coverage": 0.794},
            "ratio": 0.795,
        }
    },
}


def test_every_lightgbm_model_is_listed_next_to_the_main_one() -> None:
    console = Console(record=True, width=200)
    console.print(metrics_table(METRICS))
    rows = [line.split()[1] for line in console.export_text().splitlines() if "60.0" in line]
    assert rows == ["global_curve", "neighbours", "gbm", "gbm_tweedie", "blend", "served"]


def test_the_blend_line_names_each_weight_cold_and_warm() -> None:
    assert blend_line(METRICS) == "blend weights cold: 0.7 gbm + 0.3 neighbours; warm: 1 gbm"
    assert "no LightGBM model" in blend_line({})


def test_warm_up_reads_as_a_sentence_in_the_data_frequency() -> None:
    assert warmup_lines(METRICS) == [
        "with periods 1-2 observed, WAPE on weeks 3-12 is 50.4 against 63.4 cold "
        "(ratio 0.795), 10-90% coverage 79.4%"
    ]
