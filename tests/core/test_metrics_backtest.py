"""Metrics and the backtest by launch date."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from forecasting.backtest import backtest
from forecasting.metrics import (
    bias,
    coverage,
    mae,
    pinball,
    score_per_step,
    total_coverage,
    total_share_below,
    wape,
)
from tests.core.conftest import small_config


def test_metrics_on_a_hand_computed_example() -> None:
    y = np.array([[10.0, 0.0], [5.0, np.nan]])
    f = np.array([[8.0, 1.0], [5.0, 3.0]])
    assert np.isclose(wape(y, f), 100 * 3 / 15)
    assert np.isclose(mae(y, f), 1.0)
    assert np.isclose(bias(y, f), 100 * -1 / 15)
    assert np.isclose(pinball(np.array([10.0]), np.array([8.0]), 0.9), 0.9 * 2)
    assert coverage(y, f - 1, f + 1) == 2 / 3
    assert len(score_per_step(y, f)) == 2


def test_total_coverage_counts_products_whose_total_is_inside_their_band() -> None:
    y = np.array([[10.0, 0.0], [5.0, 9.0], [1.0, np.nan]])
    # Product 1: total 10 in [8, 12]; product 2: total 14 above [2, 4]; product 3 has an
    # unknown step and is not scored.
    assert total_coverage(y, np.array([8.0, 2.0, 0.0]), np.array([12.0, 4.0, 9.0])) == 0.5
    assert np.isnan(total_coverage(np.full((1, 2), np.nan), np.zeros(1), np.ones(1)))


def test_an_order_covers_the_products_whose_total_is_at_or_below_it() -> None:
    y = np.array([[10.0, 0.0], [5.0, 9.0], [3.0, 4.0], [1.0, np.nan]])
    # Totals 10, 14 and 7 against orders of 10, 12 and 9: the first (exactly) and the third
    # are covered; the fourth has an unknown step and is not scored.
    assert total_share_below(y, np.array([10.0, 12.0, 9.0, 0.0])) == 2 / 3


def test_backtest_never_scores_a_trained_product_and_scores_every_method(
    catalogue: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    products, sales = catalogue
    result = backtest(products, sales, small_config(), holdout_fraction=0.25, n_samples=3)
    assert result.model is not None
    trained = set(result.model.catalogue_.product_ids_)
    tested = {s["product_id"] for s in result.samples}
    assert not trained & tested
    cutoff = pd.Timestamp(result.metrics["cutoff"])
    launch = pd.to_datetime(products.set_index("product_id")["launch_date"])
    assert (launch[list(trained)] < cutoff).all()
    assert {"global_curve", "attribute_curve", "neighbours", "gbm", "served"} <= set(
        result.metrics["methods"]
    )
    assert len(result.metrics["per_step"]["served"]) == 8
    # Forecast value added: each method against its fallback and the global curve.
    assert result.metrics["fva"]["gbm"]["vs_fallback"] is not None
    assert result.metrics["fva"]["attribute_curve"]["vs_global_curve"] is not None
    assert result.metrics["warmup"]["2"]["scored_steps"] == [3, 8]
    assert 0 <= result.metrics["methods"]["served"]["total_coverage"] <= 1
    assert 0 <= result.metrics["warmup"]["2"]["warm"]["total_coverage"] <= 1
    # Ordering a total's quantile at a service level: a higher level covers at least as often.
    for scores in (result.metrics["methods"]["served"], result.metrics["warmup"]["2"]["warm"]):
        held = scores["total_service_levels"]
        assert list(held) == ["0.8", "0.9", "0.95"]
        assert 0 <= held["0.8"] <= held["0.9"] <= held["0.95"] <= 1
    json.dumps(result.metrics, allow_nan=False)
    json.dumps(result.samples, allow_nan=False)


def test_the_backtest_scores_warm_ups_at_each_configured_count_of_observed_periods(
    catalogue: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    products, sales = catalogue
    config = small_config(backtest_warmup_observed=[1, 3, 8])
    metrics = backtest(products, sales, config, holdout_fraction=0.25, n_samples=0).metrics
    # 8 observed periods leave none of the 8 launch steps to score: not evaluated.
    assert set(metrics["warmup"]) == {"1", "3"}
    assert metrics["warmup"]["1"]["scored_steps"] == [2, 8]
    assert metrics["warmup"]["3"]["scored_steps"] == [4, 8]
    for scores in metrics["warmup"].values():
        assert 0 <= scores["warm"]["coverage"] <= 1


def test_totals_are_learnt_over_the_steps_after_the_observed_ones() -> None:
    from forecasting.model import _first_steps_totals

    actual = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, np.nan]])
    point = np.ones((2, 3))
    totals, points = _first_steps_totals(actual, point, np.array([0, 1]))
    # Cold: totals over steps 1, 1-2, 1-3; one step observed: over step 2, then step 2-3 has
    # an unknown step, and there is no third total after one observed step.
    np.testing.assert_array_equal(totals, [[1.0, 3.0, 6.0], [5.0, np.nan, np.nan]])
    np.testing.assert_array_equal(points, [[1.0, 2.0, 3.0], [1.0, 2.0, np.nan]])


def test_a_cutoff_so_late_that_no_test_launch_sold_the_observed_periods_scores_nothing(
    catalogue: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    import datetime as dt

    products, sales = catalogue
    # The launches after 2026-05-20 have sold at most 6 weeks by the last sale (2026-06-29):
    # none can be scored after 7 observed weeks, which used to fail the whole backtest.
    metrics = backtest(
        products,
        sales,
        small_config(),
        cutoff=dt.date(2026, 5, 20),
        n_samples=0,
        warmup_observed=[1, 7],
    ).metrics
    unscored = metrics["warmup"]["7"]
    assert unscored["warm"]["n"] == 0 and unscored["warm"]["wape"] is None
    assert unscored["cold_wape"] is None and unscored["ratio"] is None
    assert metrics["warmup"]["1"]["warm"]["wape"] is not None
    # Nor has any of them sold all 8 weeks: no total is scored, and the count says so.
    assert metrics["methods"]["served"]["total_n_products"] == 0
    json.dumps(metrics, allow_nan=False)
