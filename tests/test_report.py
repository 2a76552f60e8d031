"""The backtest report's readable parts: method order, value added, the served method and why,
warm-up sentences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
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


def test_a_report_without_samples_says_none_were_plotted(tmp_path: Path) -> None:
    text = write_html(METRICS, [], tmp_path / "report.html").read_text()
    assert text.split("<h2>Sample test products</h2>")[1].startswith("<p>none plotted")


def test_the_total_band_is_reported_in_the_terminal_and_the_html_when_measured(
    tmp_path: Path,
) -> None:
    served = {
        **METRICS["methods"]["served"],
        "bias": -38.4,
        "total_coverage": 0.853,
        "total_n_products": 41,
        "total_service_levels": {"0.8": 0.79, "0.9": 0.874, "0.95": 0.93},
    }
    metrics = {**METRICS, "launch_steps": 12, "methods": {**METRICS["methods"], "served": served}}
    line = total_band_line(metrics)
    assert line == (
        "the served 10-90% band for a product's total over 12 weeks held 85.3% of the totals "
        "of the 41 test products on sale for all 12 weeks "
        "(its points summed to 38.4% less than they sold); "
        "an order of its 90% quantile would have covered 87.4% of them"
    )
    text = write_html(metrics, [], tmp_path / "report.html").read_text()
    assert "85.3% of the totals of the 41 test products on sale for all 12 weeks" in text
    assert "<th scope=col>totals in their band</th>" in text and "<td>85.3%</td>" in text
    # A model trained before the measure existed has no such line.
    assert total_band_line(METRICS) is None


def test_the_statistical_line_names_the_mix_of_models_served() -> None:
    stats = {"n_products": 82, "horizon": 12, "wape": 60.0, "naive_wape": 61.0, "coverage": 0.8}
    line = statistical_line({"statistical": {**stats, "models": {"AutoETS": 2, "Naive": 80}}})
    assert line.endswith("models served: Naive on 80, AutoETS on 2")


# A young test set (a late cutoff, or a monthly catalogue): the backtest scored only the steps
# its launches had reached, two warm-ups at most, and no product's total.
YOUNG: dict[str, Any] = {
    **METRICS,
    "launch_steps": 12,
    "methods": {
        **METRICS["methods"],
        "served": {
            **METRICS["methods"]["served"],
            "total_coverage": None,
            "total_n_products": 0,
            "total_service_levels": {"0.8": None, "0.9": None, "0.95": None},
        },
    },
    "per_step": {"served": [{"wape": 50.0, "n": 8}] * 4 + [{"wape": None, "n": 0}] * 8},
    "warmup": {
        "1": {
            "scored_steps": [2, 12],
            "cold_wape": 47.6,
            "warm": {"wape": 37.4, "coverage": 0.75, "n": 12},
            "ratio": 0.786,
        },
        "4": {
            "scored_steps": [5, 12],
            "cold_wape": None,
            "warm": {"wape": None, "coverage": None, "n": 0},
            "ratio": None,
        },
    },
}


def test_a_warm_up_with_nothing_to_score_says_so_instead_of_dashes_and_zero_coverage() -> None:
    assert warmup_lines(YOUNG) == [
        # Weeks 5-12 were never reached: the line names the weeks it did score.
        "with period 1 observed, WAPE on weeks 2-4 is 37.4 against 47.6 cold (ratio 0.786), "
        "10-90% coverage 75.0%",
        "with periods 1-4 observed: not scored "
        "(no test product had reached week 5 by the last sale)",
    ]


def test_a_young_test_set_says_which_steps_and_totals_it_could_score(tmp_path: Path) -> None:
    assert total_band_line(YOUNG) == (
        "no test product had been on sale for all 12 weeks by the last sale, so the band for a "
        "product's total is not scored"
    )
    text = write_html(YOUNG, [], tmp_path / "report.html").read_text()
    assert "No test product had reached week 5 by the last sale: the scores cover weeks 1-4" in text
    assert ">0.0%<" not in text and "nan" not in text.split("<h2>")[0].lower()
    # The warm-up plot draws the scored count only: its labels name the weeks scored.
    warm_up = text.split("<h2>Warm-up")[1].split("<h2>")[0]
    assert warm_up.count("data:image/png") == 1


def test_an_unknown_coverage_reads_as_a_dash_not_zero_or_a_dangling_percent() -> None:
    methods = {**METRICS["methods"], "gbm": {**METRICS["methods"]["gbm"], "coverage": None}}
    console = Console(record=True, width=120)
    console.print(metrics_table({**METRICS, "methods": methods}))
    (gbm,) = [line for line in console.export_text().splitlines() if "│ gbm " in line]
    assert gbm.rstrip(" │").endswith("-") and "-%" not in gbm


def test_a_catalogue_too_small_for_a_fold_is_not_said_to_be_supported_by_the_folds() -> None:
    cv = {"served": "neighbours", "fva": {}, "decisions": ["no cross-validation fold: ..."]}
    lines = selection_lines({**METRICS, "cross_validation": cv})
    assert lines[0] == (
        "served method: neighbours (too few launches for a cross-validation fold, so it is "
        "served unchecked)"
    )
    assert "folds support" in selection_lines(METRICS)[0]


def test_established_products_that_sold_nothing_held_out_have_no_wape_and_say_why() -> None:
    stats = {
        "n_products": 12,
        "horizon": 12,
        "wape": None,
        "naive_wape": None,
        "coverage": 0.917,
        "models": {"Naive": 12},
    }
    line = statistical_line({"frequency": "M", "statistical": stats})
    assert line == (
        "statistical models on 12 established products, last 12 months held out: no WAPE "
        "(they sold nothing in those months), 10-90% coverage 91.7%, models served: Naive on 12"
    )


def test_the_html_report_is_offline_labelled_and_fits_a_phone(tmp_path: Path) -> None:
    sample = {
        "product_id": "P1",
        "launch_date": "2026-05-22",
        "attributes": {"category": "tops"},
        "method": "gbm",
        "actual": [3.0, 4.0],
        "forecast": [2.0, 2.5],
        "lower": [1.0, 1.0],
        "upper": [4.0, 5.0],
        "neighbours": [{"curve": [1.0, 2.0]}],
    }
    text = write_html(METRICS, [sample], tmp_path / "report.html").read_text()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert "img{max-width:100%" in text and 'class="scroll"' in text  # the table scrolls alone
    assert "http://" not in text and "https://" not in text
    assert text.count("<img ") == text.count('alt="') == 3
    assert "<th scope=col>bias %</th>" in text and "MAE (units per week)" in text


def test_plots_tick_whole_steps_and_keep_the_coverage_legend_off_the_points(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import training.report as report

    drawn: list[Any] = []
    monkeypatch.setattr(report, "_png", lambda fig: drawn.append(fig) or "")
    # Four steps scored (a young test set): no tick at 1.5 or 2.5.
    report.wape_per_step_plot({**YOUNG, "per_step": {"served": YOUNG["per_step"]["served"][:4]}})
    (ax,) = drawn[0].axes
    assert all(float(x).is_integer() for x in ax.get_xticks())
    assert ax.get_xlabel() == "weeks since launch (1 = the launch week)"
    # A warm-up band that held 50% sits low on the scale, where the legend used to sit.
    low = {"1": {**YOUNG["warmup"]["1"], "warm": {"wape": 37.4, "coverage": 0.5, "n": 4}}}
    report.warmup_plot({**YOUNG, "warmup": low})
    right = drawn[1].axes[1]
    legend = right.get_legend().get_window_extent()
    assert legend.y0 >= right.get_window_extent().y1  # above the axes, clear of every point
