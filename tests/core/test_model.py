"""LaunchForecaster: answers, warm-up, warnings, quantiles, fallbacks, errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from forecasting.baseline import CurveBaseline
from forecasting.errors import EmptyCatalogue, InvalidHistory
from forecasting.features import RATIO_PRIOR
from forecasting.model import LaunchForecaster
from forecasting.types import ForecastQuery, ProductForecast
from tests.core.conftest import small_config

LAUNCH = dt.date(2026, 7, 6)
DRESS = {
    "category": "dresses",
    "subcategory": "midi",
    "color": "red",
    "material": "cotton",
    "channel": "store",
    "is_basic": False,
    "price": 25.0,
}


def weekly(start: dt.date, values: list[float]) -> tuple[tuple[dt.date, float], ...]:
    return tuple((start + dt.timedelta(days=7 * i), v) for i, v in enumerate(values))


def test_cold_start_forecast_covers_steps_one_to_horizon_with_the_served_method(
    fitted: LaunchForecaster,
) -> None:
    [forecast] = fitted.predict([ForecastQuery(launch_date=LAUNCH, attributes=DRESS)], 6)
    assert forecast.method == fitted.served_method == "gbm"
    assert forecast.steps.tolist() == [1, 2, 3, 4, 5, 6]
    assert forecast.start_dates[1] == LAUNCH + dt.timedelta(days=7)
    assert np.isfinite(forecast.point).all() and (forecast.point >= 0).all()
    assert forecast.warnings == []


def test_warm_up_forecast_starts_after_the_last_observed_step(fitted: LaunchForecaster) -> None:
    history = (*weekly(LAUNCH, [30.0, 20.0]), (LAUNCH + dt.timedelta(days=15), 5.0))
    [forecast] = fitted.predict(
        [ForecastQuery(launch_date=LAUNCH, attributes=DRESS, history=history)], 4
    )
    assert forecast.steps.tolist() == [4, 5, 6, 7]
    assert forecast.start_dates[0] == LAUNCH + dt.timedelta(days=21)


def test_warm_up_level_follows_the_observed_sales(fitted: LaunchForecaster) -> None:
    low, high = (
        fitted.predict(
            [ForecastQuery(launch_date=LAUNCH, attributes=DRESS, history=weekly(LAUNCH, [v, v]))], 4
        )[0]
        for v in (1.0, 200.0)
    )
    assert high.point.sum() > 3 * low.point.sum()


def test_warm_global_curve_moves_half_way_to_the_observed_level(
    fitted: LaunchForecaster,
) -> None:
    # Observed at 4x the global curve over two steps (RATIO_PRIOR aside): the curve is scaled
    # by about 2, the shrunk ratio, not by 4.
    g = fitted.curves_.global_
    history = weekly(LAUNCH, [4 * g[0] + 3 * RATIO_PRIOR / 2, 4 * g[1] + 3 * RATIO_PRIOR / 2])
    warm = fitted.predict_components(
        [ForecastQuery(launch_date=LAUNCH, attributes=DRESS, history=history)]
    )
    np.testing.assert_allclose(warm["global_curve"][0], 2.0 * g[: len(warm["global_curve"][0])])


def test_unseen_attribute_value_warns_and_still_answers(fitted: LaunchForecaster) -> None:
    attrs = {**DRESS, "color": "teal", "sleeve": "long"}
    del attrs["material"]
    [forecast] = fitted.predict([ForecastQuery(launch_date=LAUNCH, attributes=attrs)], 3)
    assert (
        "attribute color=teal was never seen in training; treated as unknown" in forecast.warnings
    )
    assert any("sleeve" in w and "unknown" in w for w in forecast.warnings)
    assert any("material is missing" in w for w in forecast.warnings)
    assert forecast.method == fitted.served_method


def test_no_known_attribute_falls_back_to_the_global_curve_with_a_warning(
    fitted: LaunchForecaster,
) -> None:
    [forecast] = fitted.predict(
        [ForecastQuery(launch_date=LAUNCH, attributes={"color": "teal"})], 3, explain=True
    )
    assert forecast.method == "global_curve"
    assert forecast.neighbours == []
    assert any("global launch curve" in w for w in forecast.warnings)


@pytest.mark.parametrize("horizon", [1, 8, 30])
def test_quantiles_are_monotone_non_negative_and_finite(
    fitted: LaunchForecaster, horizon: int
) -> None:
    levels = (0.05, 0.1, 0.5, 0.9, 0.95)
    queries = [
        ForecastQuery(launch_date=LAUNCH, attributes=DRESS),
        ForecastQuery(launch_date=LAUNCH, attributes=DRESS, history=weekly(LAUNCH, [0.0, 0.0])),
        ForecastQuery(launch_date=LAUNCH, attributes={}),
    ]
    for forecast in fitted.predict(queries, horizon, quantiles=levels):
        stacked = np.column_stack([forecast.quantiles[q] for q in levels])
        assert stacked.shape == (horizon, len(levels))
        assert np.isfinite(stacked).all() and (stacked >= 0).all()
        assert (np.diff(stacked, axis=1) >= 0).all()
        assert forecast.total_quantiles is not None
        totals = [forecast.total_quantiles[q] for q in levels]
        assert np.isfinite(totals).all() and min(totals) >= 0 and totals == sorted(totals)


def test_the_total_band_is_learnt_on_totals_so_it_is_narrower_than_the_summed_weeks(
    fitted: LaunchForecaster,
) -> None:
    """A week's error is partly its own and partly the launch's level: summed, the weeks' bands
    overstate the total's spread, which the total band, learnt on totals, does not."""
    queries = [
        ForecastQuery(launch_date=LAUNCH, attributes={"category": c, "color": k})
        for c in ("tops", "dresses", "trousers")
        for k in ("red", "blue", "black")
    ]
    for forecast in fitted.predict(queries, 12, quantiles=(0.1, 0.9)):
        assert forecast.total_quantiles is not None
        summed = forecast.quantiles[0.9].sum() - forecast.quantiles[0.1].sum()
        learnt = forecast.total_quantiles[0.9] - forecast.total_quantiles[0.1]
        assert 0 < learnt < summed


def test_explain_lists_neighbours_whose_weights_sum_to_one(fitted: LaunchForecaster) -> None:
    [forecast] = fitted.predict(
        [ForecastQuery(launch_date=LAUNCH, attributes=DRESS)], 2, explain=True
    )
    assert 0 < len(forecast.neighbours) <= fitted.config.neighbours_k
    assert np.isclose(sum(n.weight for n in forecast.neighbours), 1.0)
    assert all(0 <= n.similarity <= 1 for n in forecast.neighbours)


def test_a_catalogue_product_is_not_its_own_neighbour(fitted: LaunchForecaster) -> None:
    pid = str(fitted.catalogue_.product_ids_[10])
    query = ForecastQuery(launch_date=LAUNCH, attributes=DRESS, product_id=pid)
    [forecast] = fitted.predict([query], 2, explain=True)
    assert pid not in {n.product_id for n in forecast.neighbours}


def test_batch_answers_match_single_answers(fitted: LaunchForecaster) -> None:
    queries = [
        ForecastQuery(
            launch_date=LAUNCH + dt.timedelta(days=i), attributes={**DRESS, "price": 10.0 + i}
        )
        for i in range(5)
    ]
    batch = fitted.predict(queries, 5)
    for query, answer in zip(queries, batch, strict=True):
        np.testing.assert_allclose(fitted.predict([query], 5)[0].point, answer.point)


def test_a_launch_selling_beyond_every_known_level_is_forecast_in_proportion(
    fitted: LaunchForecaster,
) -> None:
    # The trees cannot extrapolate past the highest level they learnt from: 10,000 and
    # 1,000,000 a week were forecast alike. Beyond the catalogue's ceiling the forecast is
    # the ceiling's, scaled by how far past it the product sells, and says so.
    def warm(per_week: float) -> ProductForecast:
        query = ForecastQuery(
            launch_date=LAUNCH, attributes=DRESS, history=weekly(LAUNCH, [per_week] * 2)
        )
        return fitted.predict([query], 4, quantiles=[0.1, 0.9], details={"drivers"})[0]

    ceiling = fitted.levels_.ceiling_[2]
    g = fitted.curves_.global_
    at_ceiling = (ceiling * (g[0] + g[1] + RATIO_PRIOR) - RATIO_PRIOR) / 2
    within, big, huge = warm(0.5 * at_ceiling), warm(1e4 * at_ceiling), warm(1e6 * at_ceiling)
    assert not any("highest level" in w for w in within.warnings)
    assert any("highest level any known product reached" in w for w in big.warnings)
    np.testing.assert_allclose(huge.point, 100 * big.point, rtol=1e-6)
    np.testing.assert_allclose(huge.quantiles[0.9], 100 * big.quantiles[0.9], rtol=1e-6)
    assert (big.point > 1000 * within.point).all()
    # The drivers still sum to the total, the scaling counted as the history's.
    assert big.drivers is not None
    parts = big.drivers.baseline + sum(big.drivers.contributions.values())
    assert parts == pytest.approx(big.point.sum(), rel=1e-9)
    assert big.drivers.contributions["history"] > 0.9 * big.point.sum()
    # The forecast role is not told where the ceiling is (it is one known product's sales).
    query = ForecastQuery(
        launch_date=LAUNCH, attributes=DRESS, history=weekly(LAUNCH, [1e4 * at_ceiling] * 2)
    )
    private = fitted.predict([query], 4, private=True)[0]
    assert not any("highest level" in w for w in private.warnings)


def test_the_level_ceiling_is_continuous_at_the_highest_known_level(
    fitted: LaunchForecaster,
) -> None:
    # Just below and just above the ceiling the forecasts barely differ: no jump where the
    # proportional forecast takes over.
    ceiling = fitted.levels_.ceiling_[2]
    g = fitted.curves_.global_
    at_ceiling = (ceiling * (g[0] + g[1] + RATIO_PRIOR) - RATIO_PRIOR) / 2
    below, above = (
        fitted.predict(
            [ForecastQuery(launch_date=LAUNCH, attributes=DRESS, history=weekly(LAUNCH, [v, v]))],
            4,
        )[0].point
        for v in (0.999 * at_ceiling, 1.001 * at_ceiling)
    )
    np.testing.assert_allclose(above, below, rtol=0.01)


def test_a_history_too_large_to_forecast_is_refused_naming_the_field(
    fitted: LaunchForecaster,
) -> None:
    query = ForecastQuery(launch_date=LAUNCH, attributes=DRESS, history=weekly(LAUNCH, [1e300]))
    with pytest.raises(InvalidHistory) as error:
        fitted.predict([query], 3)
    assert error.value.errors[0]["field"] == "history"
    assert "above" in error.value.errors[0]["message"]


def test_history_before_launch_is_refused(fitted: LaunchForecaster) -> None:
    query = ForecastQuery(
        launch_date=LAUNCH, attributes=DRESS, history=((LAUNCH - dt.timedelta(days=1), 3.0),)
    )
    with pytest.raises(InvalidHistory) as error:
        fitted.predict([query], 3)
    # The core names the field relative to the query and says which query it was.
    assert error.value.errors[0] == {
        "index": "0",
        "field": "history",
        "message": "dated before launch_date",
    }


def test_non_finite_history_is_refused(fitted: LaunchForecaster) -> None:
    query = ForecastQuery(launch_date=LAUNCH, attributes=DRESS, history=((LAUNCH, float("nan")),))
    with pytest.raises(InvalidHistory):
        fitted.predict([query], 3)


def test_long_history_goes_to_a_statistical_model(fitted: LaunchForecaster) -> None:
    rng = np.random.default_rng(1)
    history = weekly(LAUNCH - dt.timedelta(days=7 * 40), list(20 + rng.normal(0, 3, 40)))
    [forecast] = fitted.predict(
        [
            ForecastQuery(
                launch_date=LAUNCH - dt.timedelta(days=7 * 40), attributes=DRESS, history=history
            )
        ],
        6,
        quantiles=(0.1, 0.9),
    )
    assert forecast.method.startswith("statistical:")
    assert forecast.steps.tolist() == list(range(41, 47))
    assert (forecast.quantiles[0.1] <= forecast.quantiles[0.9]).all()


def test_flat_long_history_names_the_fallback_model(fitted: LaunchForecaster) -> None:
    start = LAUNCH - dt.timedelta(days=7 * 20)
    [forecast] = fitted.predict(
        [ForecastQuery(launch_date=start, attributes=DRESS, history=weekly(start, [4.0] * 20))], 3
    )
    assert forecast.method == "statistical:Naive"
    assert np.allclose(forecast.point, 4.0)
    assert any("flat" in w for w in forecast.warnings)


@pytest.mark.parametrize("n_products", [0, 2])
def test_empty_or_tiny_catalogue_raises_a_clear_error(n_products: int) -> None:
    products = pd.DataFrame(
        {
            "product_id": [f"P{i}" for i in range(n_products)],
            "launch_date": pd.to_datetime(["2025-01-06"] * n_products),
            "attributes": [{"color": "red"}] * n_products,
        }
    )
    sales = pd.DataFrame(
        {
            "product_id": products["product_id"],
            "date": products["launch_date"],
            "quantity": [1.0] * n_products,
        }
    )
    with pytest.raises(EmptyCatalogue, match="at least 3 products with sales"):
        LaunchForecaster(small_config()).fit(products, sales)
    with pytest.raises(EmptyCatalogue):
        CurveBaseline(small_config()).fit(products, sales)


def test_small_catalogue_without_gbm_answers_with_neighbours() -> None:
    products = pd.DataFrame(
        {
            "product_id": ["A", "B", "C", "D"],
            "launch_date": pd.to_datetime(["2025-01-06", "2025-01-13", "2025-01-20", "2025-01-27"]),
            "attributes": [{"color": "red"}, {"color": "blue"}, {"color": "red"}, {}],
        }
    )
    sales = pd.DataFrame(
        {
            "product_id": ["A", "A", "B", "C", "D", "D"],
            "date": pd.to_datetime(
                ["2025-01-06", "2025-01-13", "2025-01-13", "2025-01-20", "2025-01-27", "2025-02-03"]
            ),
            "quantity": [5.0, -9.0, 3.0, 4.0, 2.0, 1.0],
        }
    )
    model = LaunchForecaster(small_config()).fit(products, sales)
    assert model.metadata_["n_clipped"] == 1
    [forecast] = model.predict(
        [ForecastQuery(launch_date=LAUNCH, attributes={"color": "red"})], 3, quantiles=(0.1, 0.9)
    )
    assert forecast.method == "neighbours"
    assert np.isfinite(forecast.point).all()


def test_curve_baseline_answers_with_attribute_or_global_curve_and_warns(
    catalogue: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    products, sales = catalogue
    baseline = CurveBaseline(small_config()).fit(products, sales)
    attr, glob = baseline.predict(
        [
            ForecastQuery(launch_date=LAUNCH, attributes=DRESS),
            ForecastQuery(launch_date=LAUNCH, attributes={}),
        ],
        10,
        quantiles=(0.1, 0.9),
    )
    assert attr.method == "attribute_curve" and glob.method == "global_curve"
    assert all(any("no trained model" in w for w in f.warnings) for f in (attr, glob))
    assert (attr.quantiles[0.1] <= attr.quantiles[0.9]).all() and (attr.quantiles[0.1] >= 0).all()
    assert len(attr.point) == 10


def test_attribute_curve_is_the_mean_of_its_known_values_shrunk_curves(
    fitted: LaunchForecaster,
) -> None:
    from forecasting.curve_model import ATTRIBUTE_SHRINKAGE
    from forecasting.curves import global_curve

    cat, enc = fitted.catalogue_, fitted.neighbours_.encoder_
    codes = fitted.neighbours_.codes_
    g = fitted.curves_.global_
    shrunk = []
    for j in range(2):  # a product's first two categorical values
        rows = cat.curves_[codes[:, j] == codes[0, j]]
        reached = np.isfinite(rows).any(axis=0)
        curve = np.where(reached, global_curve(rows, fitted.config.curve_statistic), g)
        shrunk.append(
            (len(rows) * curve + ATTRIBUTE_SHRINKAGE * g) / (len(rows) + ATTRIBUTE_SHRINKAGE)
        )
    query = np.full((1, len(enc.categorical)), -1)
    query[0, :2] = codes[0, :2]
    np.testing.assert_allclose(fitted.curves_.attribute_curve(query)[0], np.mean(shrunk, axis=0))
    unknown = fitted.curves_.attribute_curve(np.full((1, len(enc.categorical)), -1))
    assert np.isnan(unknown).all()
