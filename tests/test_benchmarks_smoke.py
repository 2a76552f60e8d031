"""The training-scale benchmark, end to end at a tiny size, so the harness cannot rot.

Timings are never asserted: they live in benchmarks/results/training_scale.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import training_scale

# A small model keeps the run short; the harness records these overrides in its results.
FAST = {
    "LAUNCHCAST_GBM_ROUNDS": "30",
    "LAUNCHCAST_CV_FOLDS": "2",
    "LAUNCHCAST_STATISTICAL_BACKTEST_SERIES": "25",
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def fast_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)


@pytest.mark.slow
@pytest.mark.usefixtures("fast_settings")
def test_the_harness_imports_trains_and_writes_its_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [run] = training_scale.main(
        ["--sizes", "150", "--timeout", "1800", "--results-dir", str(tmp_path)]
    )
    assert (run.outcome, run.exit_code, run.run_status) == ("ok", 0, "succeeded")
    assert run.model_status is not None
    assert run.sales_rows > 150 and run.peak_rss_bytes > 0 and run.cpu_seconds > 0
    # The core reports seconds and models per stage, for the backtest and the published model.
    assert {stage["phase"] for stage in run.stages} == {"backtest", "published"}
    assert run.models_fitted == sum(stage["models"] for stage in run.stages) > 0
    saved = json.loads((tmp_path / "training_scale.json").read_text())
    assert saved["runs"][0]["products"] == 150
    assert saved["runs"][0]["meets_target"] is None  # the issue sets no target at 150
    assert saved["settings_overrides"] == FAST
    assert (tmp_path / "training_scale.png").read_bytes()[:8] == PNG_SIGNATURE
    assert "| 150 |" in capsys.readouterr().out


def test_a_run_past_its_timeout_is_killed_and_recorded_as_missed(tmp_path: Path) -> None:
    # A timeout of 0 s: the first poll finds the process still starting and kills it.
    [run] = training_scale.main(["--sizes", "20", "--timeout", "0", "--results-dir", str(tmp_path)])
    assert (run.outcome, run.exit_code) == ("missed", None)
    saved = json.loads((tmp_path / "training_scale.json").read_text())
    assert [r["outcome"] for r in saved["runs"]] == ["missed"]
    assert (tmp_path / "training_scale.png").read_bytes()[:8] == PNG_SIGNATURE


def test_the_targets_are_the_issues() -> None:
    assert training_scale.target_for(100_000) == (600.0, 4.0)
    assert training_scale.target_for(20_000) == (180.0, None)
    assert training_scale.target_for(10_000) == (None, None)


@pytest.mark.parametrize("sizes", ["", "ten", "5"])
def test_sizes_that_are_not_counts_of_ten_or_more_are_refused(sizes: str) -> None:
    with pytest.raises(SystemExit):
        training_scale.main(["--sizes", sizes])


def test_stages_are_found_as_one_list_by_phase_or_nested_in_the_run_metrics() -> None:
    stages = [{"stage": "fit", "seconds": 1.5, "models": 1}]
    assert training_scale.find_stages({"stages": stages}) == stages
    assert training_scale.find_stages({"training": {"stages": stages}}) == stages
    assert training_scale.find_stages({"stages": {"backtest": stages, "published": []}}) == [
        {"phase": "backtest", **stages[0]}
    ]
    assert training_scale.find_stages({"stages": "not a list", "methods": {}}) == []


@pytest.mark.slow
def test_the_rolling_benchmark_scores_each_month_both_ways_warm_ups_too_and_plots_them(
    tmp_path: Path,
) -> None:
    """Each month of a period gets its own retrained model's WAPE and the period model's WAPE on
    the same launches; pooled, the period model's figure is the one-model backtest's; the
    monthly models' warm-up coverage is pooled per count of periods seen."""
    import datetime as dt

    from benchmarks import visuelle_rolling
    from forecasting.backtest import backtest
    from forecasting.config import default_config
    from forecasting.synthetic import generate_catalogue

    products, sales = generate_catalogue(400, seed=3, end=dt.date(2018, 9, 30), years=1.5)
    small = {"gbm_rounds": 30}
    run = visuelle_rolling.run_split(products, sales, "2018H1", seed=0, overrides=small)

    assert [m["month"] for m in run["months"]] == [f"2018-0{k}" for k in range(1, 7)]
    for month in run["months"]:
        assert 0 < month["served_wape"] < 200 and 0 < month["one_model_wape"] < 200
    known = products[products["launch_date"] < "2018-07-01"]
    one_model = backtest(
        known,
        sales[sales["product_id"].isin(known["product_id"])],
        default_config(seed=0, **small),
        cutoff=dt.date(2018, 1, 1),
        n_samples=0,
        warmup_observed=(),
    )
    assert run["one_model_wape"] == pytest.approx(one_model.metrics["methods"]["served"]["wape"])
    # Warm-ups are scored month by month too, at each count the configuration's backtest scores.
    assert set(run["warmup_coverage"]) == {"1", "2", "4"}
    assert all(0 < share <= 1 for share in run["warmup_coverage"].values())

    path = tmp_path / "rolling.png"
    visuelle_rolling.plot([run], path)
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_the_accuracy_benchmark_names_the_data_folder_it_cannot_find(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import visuelle_accuracy

    monkeypatch.setattr("sys.argv", ["visuelle_accuracy.py", "--data", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_:
        visuelle_accuracy.arguments(visuelle_accuracy.__doc__, tmp_path / "out.json")
    assert exit_.value.code == 2
    assert f"--data: {tmp_path} has no products.csv or sales.csv" in capsys.readouterr().err
