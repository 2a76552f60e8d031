"""The core's components: selection by value added, pins and exclusions, drivers, privacy,
calendar features, and training that fits each model once."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from forecasting.calibration import ConformalCalibrator
from forecasting.curve_model import CurveModel
from forecasting.errors import InvalidAnalogue
from forecasting.features import calendar
from forecasting.model import LaunchForecaster
from forecasting.types import Analogue, ForecastQuery
from tests.core.conftest import small_config

LAUNCH = dt.date(2026, 7, 6)


def _query(fitted: LaunchForecaster, row: int, **changes: object) -> ForecastQuery:
    """A new product with the attributes of catalogue product `row`, launched after all."""
    attributes = dict(fitted.catalogue_.attributes_[row])
    return ForecastQuery(launch_date=LAUNCH, attributes=attributes, **changes)  # type: ignore[arg-type]


def _noise_catalogue(n: int = 150, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Products whose attributes say nothing about their sales (all follow one curve)."""
    rng = np.random.default_rng(seed)
    launch = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    products = pd.DataFrame(
        {
            "product_id": [f"N{i:04d}" for i in range(n)],
            "launch_date": launch,
            "attributes": [{"colour": str(rng.choice(["a", "b", "c"]))} for _ in range(n)],
        }
    )
    shape = np.array([2, 6, 9, 8, 7, 6, 5, 4, 3, 3, 2, 2], dtype=float)
    rows = []
    for pid, day in zip(products["product_id"], launch, strict=True):
        for k, mean in enumerate(shape):
            date = day + pd.Timedelta(days=7 * k)
            if date <= pd.Timestamp("2026-06-29"):
                rows.append((pid, date, float(rng.poisson(mean * 3))))
    sales = pd.DataFrame(rows, columns=["product_id", "date", "quantity"])
    return products, sales


def test_a_method_that_does_not_beat_its_fallback_is_not_served_and_not_fitted() -> None:
    products, sales = _noise_catalogue()
    # Cold starts only: on launches with nothing observed, nothing here beats the curves.
    model = LaunchForecaster(small_config(warmup_max_observed=0, warmup_model_observed=[])).fit(
        products, sales
    )
    assert model.served_method in {"global_curve", "attribute_curve"}
    assert model.gbm_ is None  # its fit was skipped
    fold_models = next(s for s in model.stages_ if s["stage"] == "cross-validation")["models"]
    assert model.metadata_["models_fitted"] == fold_models  # no final LightGBM model
    assert any("gbm vs" in d and "not served" in d for d in model.selector_.decisions_)


def test_training_fits_one_model_per_fold_and_the_final_model_once(
    fitted: LaunchForecaster,
) -> None:
    """Per fold a launch model and a warm-up model; then each final model once."""
    stages = {s["stage"]: s for s in fitted.stages_}
    assert stages["cross-validation"]["models"] == 2 * fitted.config.cv_folds
    assert stages["launch model"]["models"] == 1
    assert stages["warm-up model"]["models"] == 1
    assert fitted.metadata_["models_fitted"] == 2 * fitted.config.cv_folds + 2
    assert all(s["seconds"] >= 0 for s in fitted.stages_)


def test_the_fva_table_compares_every_method_with_its_fallback_and_naive(
    fitted: LaunchForecaster,
) -> None:
    table = fitted.selector_.table_
    assert set(table) >= {"global_curve", "attribute_curve", "neighbours", "gbm", "naive"}
    gbm = table["gbm"]
    assert len(gbm["per_fold"]) == fitted.config.cv_folds
    assert len(gbm["per_step"]) == fitted.config.launch_steps
    assert gbm["vs_fallback"] == pytest.approx(table["neighbours"]["wape"] - gbm["wape"])
    assert "vs_naive" in gbm


def test_pinned_analogues_are_the_neighbours_in_order_and_change_the_forecast(
    fitted: LaunchForecaster,
) -> None:
    ids = fitted.catalogue_.product_ids_
    pins = (Analogue(str(ids[3]), 2.0), Analogue(str(ids[40]), 1.0))
    plain = fitted.predict([_query(fitted, 5)], 6, explain=True)[0]
    pinned = fitted.predict([_query(fitted, 5, analogues=pins)], 6, explain=True)[0]
    assert [n.product_id for n in pinned.neighbours] == [str(ids[3]), str(ids[40])]
    assert [n.weight for n in pinned.neighbours] == pytest.approx([2 / 3, 1 / 3])
    assert pinned.method == "neighbours"
    assert not np.allclose(plain.point, pinned.point)
    # A single pin at its own level is that product's launch curve.
    single = fitted.predict([_query(fitted, 5, analogues=(Analogue(str(ids[3])),))], 6)[0]
    np.testing.assert_allclose(single.point, np.nan_to_num(fitted.curve_of(str(ids[3]))[:6]))


def test_an_excluded_product_is_never_borrowed_from(fitted: LaunchForecaster) -> None:
    first = fitted.predict([_query(fitted, 5)], 4, explain=True)[0].neighbours
    banned = tuple(n.product_id for n in first[:3])
    plain = fitted.predict([_query(fitted, 5)], 4, explain=True)[0]
    again = fitted.predict([_query(fitted, 5, exclude_analogues=banned)], 4, explain=True)[0]
    assert not set(banned) & {n.product_id for n in again.neighbours}
    assert len(again.neighbours) == len(first)
    # The planner steered the like items: the answer borrows from the ones left.
    assert again.method == "neighbours" and not np.allclose(again.point, plain.point)


def test_unknown_or_later_analogues_are_refused_naming_the_field(
    fitted: LaunchForecaster,
) -> None:
    with pytest.raises(InvalidAnalogue) as unknown:
        fitted.predict([_query(fitted, 1), _query(fitted, 5, analogues=(Analogue("NOPE"),))], 3)
    assert unknown.value.errors[0]["index"] == "1"
    assert unknown.value.errors[0]["field"] == "analogues[0].product_id"
    latest = str(fitted.catalogue_.product_ids_[-1])
    early = ForecastQuery(
        launch_date=dt.date(2000, 1, 3), attributes={}, analogues=(Analogue(latest),)
    )
    with pytest.raises(InvalidAnalogue) as later:
        fitted.predict([early], 3)
    assert later.value.errors[0]["field"] == "analogues[0].product_id"
    with pytest.raises(InvalidAnalogue):
        fitted.predict([_query(fitted, 5, exclude_analogues=("NOPE",))], 3)


def _mixed_queries(model: LaunchForecaster) -> list[ForecastQuery]:
    """A known product, one with nothing known, one warming up and one with a pinned analogue."""
    ids = model.catalogue_.product_ids_
    history = ((LAUNCH, 40.0), (LAUNCH + dt.timedelta(days=7), 30.0))
    return [
        _query(model, 5),
        ForecastQuery(launch_date=LAUNCH, attributes={}),
        _query(model, 6, history=history),
        _query(model, 7, analogues=(Analogue(str(ids[2])),)),
    ]


@pytest.mark.parametrize("served", ["gbm", "curves"])
def test_predict_answers_the_served_curve_whichever_method_answers(
    fitted: LaunchForecaster, served: str
) -> None:
    """predict computes only the curves its answers read (not the attribute curve when the
    launch model answers), yet answers what predict_components, which computes every method,
    calls served; drivers still sum to the total when the curves answer."""
    if served == "gbm":
        model = fitted
    else:
        config = small_config(warmup_max_observed=0, warmup_model_observed=[])
        model = LaunchForecaster(config).fit(*_noise_catalogue())
    assert (model.gbm_ is not None) == (served == "gbm")
    cold = [q for q in _mixed_queries(model) if not q.history]
    L = model.config.launch_steps
    expected = model.predict_components(cold)["served"]
    answered = np.array([f.point for f in model.predict(cold, L)])
    np.testing.assert_allclose(answered, expected, rtol=1e-12, atol=1e-12)
    for forecast in model.predict(_mixed_queries(model), 6, details={"drivers"}):
        assert forecast.drivers is not None
        total = forecast.drivers.baseline + sum(forecast.drivers.contributions.values())
        assert total == pytest.approx(forecast.point.sum(), rel=1e-6, abs=1e-6)


def test_drivers_sum_to_the_forecast_total(fitted: LaunchForecaster) -> None:
    ids = fitted.catalogue_.product_ids_
    history = ((LAUNCH, 40.0), (LAUNCH + dt.timedelta(days=7), 30.0))
    queries = [
        _query(fitted, 5),
        _query(fitted, 6, history=history),
        _query(fitted, 7, analogues=(Analogue(str(ids[2])),)),
        ForecastQuery(launch_date=LAUNCH, attributes={}),
    ]
    for horizon in (4, 30):
        for forecast in fitted.predict(queries, horizon, details={"drivers"}):
            assert forecast.drivers is not None
            total = forecast.drivers.baseline + sum(forecast.drivers.contributions.values())
            assert total == pytest.approx(forecast.point.sum(), rel=1e-6, abs=1e-6)
    cold, warm, pinned, _ = fitted.predict(queries, 6, details={"drivers"})
    assert cold.drivers and cold.drivers.contributions["history"] == 0.0
    assert warm.drivers and warm.drivers.contributions["history"] != 0.0
    assert pinned.drivers and pinned.drivers.contributions["analogues"] != 0.0


def test_an_attribute_value_that_sells_twice_as_much_gets_a_positive_contribution() -> None:
    rng = np.random.default_rng(11)
    n = 240
    launch = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    colour = rng.choice(["plain", "bold"], n)
    products = pd.DataFrame(
        {
            "product_id": [f"C{i:04d}" for i in range(n)],
            "launch_date": launch,
            "attributes": [{"colour": c} for c in colour],
        }
    )
    rows = []
    for pid, day, c in zip(products["product_id"], launch, colour, strict=True):
        season = 3.0 if day.month in (5, 6, 7, 8) else 1.0  # what only the launch model sees
        for k in range(8):
            mean = (20.0 if c == "bold" else 10.0) * season * (1 + k % 3)
            rows.append((pid, day + pd.Timedelta(days=7 * k), float(rng.poisson(mean))))
    sales = pd.DataFrame(rows, columns=["product_id", "date", "quantity"])
    model = LaunchForecaster(small_config(gbm_rounds=60)).fit(products, sales)
    assert model.served_method == "gbm"
    bold, plain = model.predict(
        [
            ForecastQuery(launch_date=LAUNCH, attributes={"colour": "bold"}),
            ForecastQuery(launch_date=LAUNCH, attributes={"colour": "plain"}),
        ],
        8,
        details={"drivers"},
    )
    assert bold.drivers and plain.drivers
    assert bold.drivers.contributions["colour"] > 0 > plain.drivers.contributions["colour"]


def test_private_answers_name_no_product_and_refuse_pins(fitted: LaunchForecaster) -> None:
    [forecast] = fitted.predict(
        [_query(fitted, 5)], 4, explain=True, details={"curves", "drivers"}, private=True
    )
    assert forecast.neighbours == [] and forecast.drivers is None
    with pytest.raises(ValueError, match="private"):
        fitted.predict([_query(fitted, 5, analogues=(Analogue("P00001"),))], 4, private=True)


def test_neighbour_curves_are_aligned_on_their_own_launch(fitted: LaunchForecaster) -> None:
    [forecast] = fitted.predict([_query(fitted, 5)], 5, details={"curves"})
    for neighbour in forecast.neighbours:
        assert neighbour.curve is not None and len(neighbour.curve) == 5
        expected = fitted.curve_of(neighbour.product_id)[:5]
        np.testing.assert_array_equal(np.asarray(neighbour.curve), expected)


def test_calendar_knows_where_in_its_week_and_month_a_launch_falls() -> None:
    days = np.array([dt.date(2026, 11, 30), dt.date(2026, 12, 6)], dtype="datetime64[D]")
    month, _week, weekday, day_of_month = calendar(days.astype(np.int64)).T
    assert weekday.tolist() == [0.0, 6.0]  # a Monday and a Sunday
    assert day_of_month.tolist() == [30.0, 6.0]
    assert month.tolist() == [11.0, 12.0]


def test_quantiles_hold_per_step_and_never_cross(fitted: LaunchForecaster) -> None:
    [forecast] = fitted.predict([_query(fitted, 5)], 20, quantiles=(0.1, 0.5, 0.9))
    low, mid, high = (forecast.quantiles[q] for q in (0.1, 0.5, 0.9))
    assert (low <= mid).all() and (mid <= high).all() and (low >= 0).all()
    bands = fitted.config.interval_level_bins
    assert fitted.calibrator_.ratios_["cold"].shape == (bands, fitted.config.launch_steps, 99)


def test_refit_keeps_the_choices_and_fits_each_model_once(
    fitted: LaunchForecaster, catalogue: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    products, sales = catalogue
    refitted = fitted.refit(products, sales)
    assert refitted.served_method == fitted.served_method
    assert refitted.calibrator_ is fitted.calibrator_
    assert refitted.gbm_ is not None and refitted.gbm_.rounds_ == fitted.gbm_.rounds_  # type: ignore[union-attr]
    assert refitted.metadata_["models_fitted"] == 2  # the launch and warm-up models
    assert not any(s["stage"] == "cross-validation" for s in refitted.stages_)


def test_a_refit_on_too_few_products_for_its_launch_model_answers_with_neighbours(
    fitted: LaunchForecaster, catalogue: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    products, sales = catalogue
    few = products.iloc[:20]
    refitted = fitted.refit(few, sales[sales["product_id"].isin(few["product_id"])])
    assert fitted.served_method == "gbm" and refitted.gbm_ is None
    assert refitted.metadata_["warmup_rounds"] is None
    [forecast] = refitted.predict([_query(refitted, 3)], 4)
    assert forecast.method == "neighbours" and np.isfinite(forecast.point).all()


def test_interval_drift_reads_each_tail_further_out_and_survives_saving() -> None:
    rng = np.random.default_rng(3)
    n = 4000
    actual = rng.gamma(2.0, 5.0, n)
    point = np.full(n, 10.0)
    steps = np.tile(np.arange(1, 5), n // 4)
    warm = np.zeros(n, dtype=bool)
    exact = ConformalCalibrator(0.0).fit(actual, point, steps, warm, 4)
    drifted = ConformalCalibrator(0.01).fit(actual, point, steps, warm, 4)
    grid = (np.full((1, 4), 10.0), np.arange(1, 5)[None, :], np.zeros(1, dtype=bool))
    plain = exact.predict(*grid, levels=[0.09, 0.1, 0.5, 0.9, 0.91])
    wider = drifted.predict(*grid, levels=[0.1, 0.5, 0.9])
    np.testing.assert_allclose(wider[0.1], plain[0.09])
    np.testing.assert_allclose(wider[0.5], plain[0.5])
    np.testing.assert_allclose(wider[0.9], plain[0.91])
    assert (wider[0.1] < plain[0.1]).all() and (wider[0.9] > plain[0.9]).all()
    restored = ConformalCalibrator.from_json(drifted.to_json())
    np.testing.assert_allclose(restored.predict(*grid, levels=[0.1])[0.1], wider[0.1])


def test_one_product_moves_a_private_answer_by_at_most_a_rank_of_its_curves() -> None:
    """A private answer uses attribute values of at least `private_group` (100) products, so a
    product whose sales are multiplied by 1000 moves each step of its value curves' medians to
    the next product's value at most; a value of two products would follow it far."""
    rng = np.random.default_rng(3)
    n = 121
    curves = rng.gamma(4.0, 10.0, size=(n, 8))
    # Attribute 0: one common value. Attribute 1: product 0 and one other share a rare value.
    codes = np.stack([np.zeros(n, dtype=int), np.where(np.arange(n) < 2, 0, 1)], axis=1)
    config = small_config(curve_steps=8, launch_steps=8)
    outlier = curves.copy()
    outlier[0] *= 1000.0
    query = codes[:1]
    answers = {}
    for min_products in (1, config.private_group):
        before, after = (
            CurveModel(config).fit(c, codes, [1, 2]).attribute_curve(query, min_products)[0]
            for c in (curves, outlier)
        )
        answers[min_products] = np.abs(after / before - 1).max()
    sorted_steps = np.sort(curves, axis=0)
    rank_step = (sorted_steps[n // 2 + 1] / sorted_steps[n // 2] - 1).max()
    assert answers[config.private_group] <= rank_step + 1e-9
    assert answers[1] > 10 * answers[config.private_group]


def test_warm_ups_are_calibrated_by_how_many_periods_were_observed() -> None:
    """One observed period leaves a wide spread, three a narrow one: each gets its own band;
    four (not in the fold) reads three's, a cold start its own."""
    rng = np.random.default_rng(5)
    n = 3000
    observed = rng.choice([0, 1, 3], n)
    spread = np.select([observed == 0, observed == 1], [1.0, 0.6], 0.1)
    point = np.full(n, 10.0)
    actual = point * np.exp(rng.normal(0.0, spread))
    steps = rng.integers(4, 9, n)  # after every observed count
    calibrator = ConformalCalibrator().fit(actual, point, steps, observed, 8)
    bands = calibrator.predict(
        np.full((4, 1), 10.0), np.full((4, 1), 5), np.array([0, 1, 3, 4]), levels=[0.1, 0.9]
    )
    width = (bands[0.9] - bands[0.1])[:, 0]
    assert width[0] > width[1] > width[2] > 0
    assert width[3] == width[2]
    restored = ConformalCalibrator.from_json(calibrator.to_json())
    again = restored.predict(
        np.full((4, 1), 10.0), np.full((4, 1), 5), np.array([0, 1, 3, 4]), levels=[0.1, 0.9]
    )
    np.testing.assert_array_equal(again[0.9], bands[0.9])


def test_intervals_are_calibrated_by_the_size_of_the_point() -> None:
    """Small forecasts miss by a larger share than large ones (sales are counts): one table
    for all undercovers the small and overcovers the large; a band per size holds both."""
    rng = np.random.default_rng(11)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        point = rng.choice([2.0, 50.0], n)
        spread = np.where(point < 10, 1.0, 0.2)
        return point * np.exp(rng.normal(0.0, spread)), point

    actual, point = sample(6000)
    steps, observed = np.ones(len(point), dtype=np.int64), np.zeros(len(point), dtype=np.int64)
    fresh, fresh_point = sample(6000)
    coverage = {}
    for bins in (1, 3):
        calibrator = ConformalCalibrator(0.0, bins).fit(actual, point, steps, observed, 1)
        restored = ConformalCalibrator.from_json(calibrator.to_json())
        bands = restored.predict(
            fresh_point[:, None],
            np.ones((len(fresh), 1), dtype=np.int64),
            np.zeros(len(fresh), dtype=np.int64),
            [0.1, 0.9],
        )
        inside = (fresh >= bands[0.1][:, 0]) & (fresh <= bands[0.9][:, 0])
        coverage[bins] = [inside[fresh_point == size].mean() for size in (2.0, 50.0)]
    small, large = coverage[1]
    assert (
        small < 0.7 and large > 0.95
    )  # one table: too narrow for the small, too wide for the large
    for share in coverage[3]:
        assert 0.77 <= share <= 0.83


def test_a_calibrator_without_usable_rows_answers_the_point() -> None:
    """Folds whose launches all lack sales leave nothing to band or calibrate on: the
    intervals collapse to the point instead of failing the training run."""
    rows = 10
    calibrator = ConformalCalibrator(0.0, 3).fit(
        np.full(rows, np.nan),
        np.ones(rows),
        np.ones(rows, dtype=np.int64),
        np.zeros(rows, dtype=np.int64),
        4,
    )
    bands = calibrator.predict(
        np.full((1, 4), 7.0), np.arange(1, 5)[None, :], np.zeros(1, dtype=np.int64), [0.1, 0.9]
    )
    np.testing.assert_array_equal(bands[0.1], np.full((1, 4), 7.0))
    np.testing.assert_array_equal(bands[0.9], np.full((1, 4), 7.0))


def test_the_warm_up_models_value_is_reported_per_fold(
    fitted: LaunchForecaster, catalogue: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    decision = fitted.metadata_["warmup_decision"]
    assert decision.startswith("warm-up model vs launch model on warm-ups: WAPE gain per fold")
    gains = decision.split("per fold ")[1].split(", ")
    assert len(gains) == len(fitted.metadata_["folds"])
    assert all(np.isfinite(float(g)) for g in gains)
    refitted = fitted.refit(*catalogue)
    assert refitted.metadata_["warmup_decision"] == decision


def test_a_sparse_warm_up_step_reads_the_unbanded_warm_up_row() -> None:
    """A warm-up count with too few rows at a step reads the pooled warm-up table's row for
    that step, not the row of one band of point sizes (the smallest band's is the widest)."""
    rng = np.random.default_rng(2)
    n = 3000
    point = rng.gamma(2.0, 10.0, n)
    actual = point * np.exp(rng.normal(0.0, np.where(point < 15, 1.0, 0.2)))
    steps = rng.integers(1, 9, n)
    observed = np.ones(n, dtype=np.int64)
    observed[:60], steps[:60] = 2, 3  # two observed: 60 rows, all at step 3
    banded = ConformalCalibrator(0.0, 3).fit(actual, point, steps, observed, 8)
    one = ConformalCalibrator(0.0, 1).fit(actual, point, steps, observed, 8)
    unbanded_step_5 = one.ratios_["warm"][0][4]
    assert not np.allclose(banded.ratios_["warm"][0][4], unbanded_step_5)
    for band in banded.ratios_["warm:2"]:
        np.testing.assert_array_equal(band[4], unbanded_step_5)


def test_each_fold_launch_calibrates_every_warm_up_count_but_is_chosen_on_once(
    catalogue: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """Every launch of a fold is forecast warm with each of 1..K periods observed, so each
    count's interval table learns from all of them; the choice of method still scores one cold
    and one warm forecast per launch."""
    from forecasting.catalogue import LaunchCatalogue
    from forecasting.validation import Fold

    config = small_config(warmup_max_observed=3)
    known = LaunchCatalogue(config).fit(*catalogue)
    days = known.launch_days_
    fold = Fold(known, int(np.quantile(days, 0.6)), int(days.max()) + 1, config, 0)
    reached = np.isfinite(known.launch_curves[fold.window]).sum(axis=1)
    for k in (1, 2, 3):
        warm_at_k = fold.product[fold.n_observed == k]
        np.testing.assert_array_equal(np.sort(warm_at_k), np.sort(fold.window[reached > k]))
    chosen_on = fold.n_observed[fold.selection]
    assert (chosen_on == 0).sum() == len(fold.window)
    assert (chosen_on > 0).sum() <= len(fold.window)
    assert set(np.unique(chosen_on[chosen_on > 0]).tolist()) == {1, 2, 3}
