"""The backtest report's readable parts: method order, value added, the served method and why,
warm-up sentences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from training.report import (
    metrics_table,
    selection_lines,
    statistical_line,
    total_band_line,
    warmup_lines,
    write_html,
)

METRICS: dict[str, Any] = {
    "frequency": "W",
    "methods": {
        name: {"wape": 60.0, "mae": 1.0, "bias": 0.0, "pinball_mean": 1.0, "coverage": 0.8}
        for name in ("served", "gbm", "neighbours", "global_curve")
    },
    "fva": {"gbm": {"vs_fallback": 2.5, "vs_global_curve": 4.0}},
    "cross_validation": {
        "served": "gbm",
        "decisions": ["gbm vs neighbours: WAPE gain per fold +2.1, +1.4 (needs > 0.5): served"],
    },
    "warmup": {
        "2": {
            "scored_steps": [3, 12],
            "cold_wape": 63.4,
            "warm": {"wape": 50.4, "coverage": 0.794},
            "ratio": 0.795,
        }
    },
}


def test_methods_are_listed_simplest_first_with_their_value_added() -> None:
    console = Console(record=True, width=200)
    console.print(metrics_table(METRICS))
    lines = [line for line in console.export_text().splitlines() if "60.0" in line]
    assert [line.split()[1] for line in lines] == ["global_curve", "neighbours", "gbm", "served"]
    assert "2.5" in lines[2] and "4.0" in lines[2]


def test_the_table_reads_whole_on_an_80_column_terminal() -> None:
    metrics = {**METRICS, "methods": {**METRICS["methods"], "attribute_curve": {"wape": 2397.0}}}
    console = Console(record=True, width=80)
    console.print(metrics_table(metrics))
    text = console.export_text()
    assert "…" not in text
    for word in ("attribute_curve", "global_curve", "fallback", "coverage", "2397.0"):
        assert word in text


def test_the_selection_lines_say_what_is_served_and_why() -> None:
    lines = selection_lines(METRICS)
    assert lines[0].startswith("served method: gbm")
    assert "gbm vs neighbours" in lines[1]


def test_warm_up_reads_as_a_sentence_in_the_data_frequency() -> None:
    assert warmup_lines(METRICS) == [
        "with periods 1-2 observed, WAPE on weeks 3-12 is 50.4 against 63.4 cold "
        "(ratio 0.795), 10-90% coverage 79.4%"
    ]


def test_one_observed_period_reads_in_the_singular() -> None:
    one = {**METRICS["warmup"]["2"], "observed_steps": 1, "scored_steps": [2, 12]}
    (line,) = warmup_lines({**METRICS, "warmup": {"1": one}})
    assert line.startswith("with period 1 observed, WAPE on weeks 2-12")


def test_the_html_report_reads_as_prose_not_python(tmp_path: Path) -> None:
    sample = {
        "product_id": "P1",
        "launch_date": "2026-05-22",
        "attributes": {"category": "tops", "price": 24.98},
        "method": "gbm",
        "actual": [3.0, None],
        "forecast": [2.0, 2.5],
        "lower": [1.0, 1.0],
        "upper": [4.0, 5.0],
        "neighbours": [],
    }
    metrics = {**METRICS, "per_step": {"gbm": [{"wape": 50.0}, {"wape": 40.0}]}}
    text = write_html(metrics, [sample], tmp_path / "report.html").read_text()
    assert "category: tops · price: 24.98" in text
    assert "{&#x27;" not in text and "{'" not in text


def test_the_html_report_draws_the_warm_ups_only_when_scored(tmp_path: Path) -> None:
    def warm_up_section(metrics: dict[str, Any]) -> str:
        text = write_html(metrics, [], tmp_path / "report.html").read_text()
        return text.split("<h2>Warm-up")[1].split("<h2>")[0]

    assert "data:image/png;base64," in warm_up_section(METRICS)
    section = warm_up_section({**METRICS, "warmup": {}})
    assert "data:image/png" not in section and "not evaluated" in section


def test_the_total_band_is_reported_in_the_terminal_and_the_html_when_measured(
    tmp_path: Path,
) -> None:
    served = {
        **METRICS["methods"]["served"],
        "bias": -38.4,
        "total_coverage": 0.853,
        "total_service_levels": {"0.8": 0.79, "0.9": 0.874, "0.95": 0.93},
    }
    metrics = {**METRICS, "launch_steps": 12, "methods": {**METRICS["methods"], "served": served}}
    line = total_band_line(metrics)
    assert line == (
        "the served 10-90% band for a product's total over 12 weeks held 85.3% of the test "
        "products' totals "
        "(its points summed to 38.4% less than they sold); "
        "an order of its 90% quantile would have covered 87.4% of them"
    )
    text = write_html(metrics, [], tmp_path / "report.html").read_text()
    assert "85.3% of the test products&#x27; totals" in text
    assert "<th>totals in their band</th>" in text and "<td>85.3%</td>" in text
    # A model trained before the measure existed has no such line.
    assert total_band_line(METRICS) is None


def test_the_statistical_line_names_the_mix_of_models_served() -> None:
    stats = {"n_products": 82, "horizon": 12, "wape": 60.0, "naive_wape": 61.0, "coverage": 0.8}
    line = statistical_line({"statistical": {**stats, "models": {"AutoETS": 2, "Naive": 80}}})
    assert line.endswith("models served: Naive on 80, AutoETS on 2")
