"""Established products: a statsforecast model chosen per series that never loses to Naive on
its own backtest, with fallbacks that name themselves and metrics that JSON can carry."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forecasting.metrics import coverage
from forecasting.statistical import (
    SELECTION_MARGIN,
    StatisticalSelector,
    backtest_cutoffs,
    forecast_series,
    stopped_selling,
)
from training.statistical import evaluate_established

QUANTILES = (0.1, 0.5, 0.9)


def random_walk(n: int = 80, seed: int = 0) -> np.ndarray:
    """A level that wanders: the last value is the best forecast."""
    return 200 + np.cumsum(np.random.default_rng(seed).normal(0, 10, n))


def level_shifts(seed: int = 0) -> np.ndarray:
    """A level that holds for ten weeks, then jumps: the last value is the best forecast."""
    levels = np.repeat([50.0, 120, 80, 150, 60, 110, 90, 140], 10)
    return levels + np.random.default_rng(seed).normal(0, 1, len(levels))


def yearly_pattern(n: int = 130, seed: int = 1) -> np.ndarray:
    """Weekly sales with a strong yearly season and little noise."""
    t = np.arange(n)
    noise = np.random.default_rng(seed).normal(0, 2, n)
    return np.maximum(50 + 40 * np.sin(2 * np.pi * t / 52) + noise, 0)


def early_win_late_loss(seed: int = 0) -> np.ndarray:
    """A noisy level (an average of recent weeks beats the last value) that settles at a new
    level in the last weeks (the last value is right at once, the average lags)."""
    rng = np.random.default_rng(seed)
    y = 100 + rng.normal(0, 20, 80)
    y[75:] = 130 + rng.normal(0, 2, 5)
    return y


def intermittent(n: int = 80, seed: int = 2) -> np.ndarray:
    """A slow seller: most weeks nothing, now and then a few units."""
    rng = np.random.default_rng(seed)
    return np.where(rng.random(n) < 0.35, rng.integers(1, 6, n), 0).astype(float)


def assert_sound(result: object, horizon: int) -> None:
    point = result.point  # type: ignore[attr-defined]
    qs = result.quantiles  # type: ignore[attr-defined]
    assert point.shape == (horizon,) and np.isfinite(point).all() and (point >= 0).all()
    stacked = np.column_stack([qs[q] for q in sorted(qs)])
    assert np.isfinite(stacked).all() and (stacked >= 0).all()
    assert (np.diff(stacked, axis=1) >= 0).all()


def test_a_series_where_naive_is_best_is_served_naive() -> None:
    selector = StatisticalSelector("W", 8).fit(level_shifts())
    # AutoETS learns a smoothing weight near 1 (Naive itself): a near tie, which Naive wins.
    assert selector.scores_["AutoETS"] > (1 - SELECTION_MARGIN) * selector.scores_["Naive"]
    assert selector.scores_["WindowAverage"] > selector.scores_["Naive"]
    result = selector.predict(8, QUANTILES)
    assert result.model == "Naive"
    assert np.allclose(result.point, level_shifts()[-1])
    assert_sound(result, 8)


def test_a_seasonal_series_is_served_a_seasonal_model() -> None:
    result = forecast_series(yearly_pattern(), 12, "W", QUANTILES)
    assert result.model == "SeasonalNaive"
    assert_sound(result, 12)
    # The forecast follows the season: the next 12 weeks are last year's same weeks.
    assert np.corrcoef(result.point, yearly_pattern()[-52:-40])[0, 1] > 0.9


def test_a_monthly_seasonal_series_may_use_seasonal_ets() -> None:
    t = np.arange(48)
    y = 100 + 50 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(3).normal(0, 3, 48)
    result = forecast_series(y, 6, "M", QUANTILES)
    assert result.model in {"SeasonalNaive", "AutoETS"}
    assert_sound(result, 6)


def test_an_intermittent_series_is_handled() -> None:
    y = intermittent()
    selector = StatisticalSelector("W", 6).fit(y)
    # The intermittent-demand models are among the candidates and were scored.
    assert {"CrostonOptimized", "ADIDA"} <= set(selector.scores_)
    result = selector.predict(6, QUANTILES)
    assert result.model in selector.scores_
    assert_sound(result, 6)


@pytest.mark.parametrize(
    "y", [random_walk(), yearly_pattern(), intermittent(), random_walk(30, 5), yearly_pattern(60)]
)
def test_the_chosen_model_never_loses_to_naive_on_its_own_backtest(y: np.ndarray) -> None:
    selector = StatisticalSelector("W", 12).fit(y)
    naive = selector.scores_["Naive"]
    chosen = selector.scores_[selector.model_]
    if selector.model_ != "Naive":
        assert chosen < (1 - SELECTION_MARGIN) * naive
        # ... and on every backtest origin, not only on average.
        windows = selector.window_scores_[selector.model_]
        assert (windows < (1 - SELECTION_MARGIN) * selector.window_scores_["Naive"]).all()
    assert chosen <= naive


def test_a_model_that_wins_early_origins_and_loses_the_latest_is_served_naive() -> None:
    selector = StatisticalSelector("W", 4).fit(early_win_late_loss())
    average, naive = selector.window_scores_["WindowAverage"], selector.window_scores_["Naive"]
    # On average over the windows the moving average wins by far more than the margin, and it
    # wins the early origins ...
    assert selector.scores_["WindowAverage"] < 0.75 * selector.scores_["Naive"]
    assert (average[:3] < naive[:3]).all()
    # ... but it loses the latest one, where the level has moved: Naive is served.
    assert average[-1] > naive[-1]
    result = selector.predict(4, QUANTILES)
    assert result.model == "Naive"
    assert np.allclose(result.point, early_win_late_loss()[-1])


def test_a_series_too_short_for_a_full_backtest_is_served_naive() -> None:
    # 24 weeks of a noisy level: the 12-week backtest shrinks to 8-week windows, on which the
    # moving average beats Naive (it was served before issue 12): too little evidence for 12.
    y = 100 + np.random.default_rng(1).normal(0, 20, 24)
    assert backtest_cutoffs(len(y), 12)[0] < 12
    result = forecast_series(y, 12, "W", QUANTILES)
    assert result.model == "Naive"
    assert any("full backtest" in w for w in result.warnings)
    assert_sound(result, 12)


def test_a_product_that_stopped_selling_is_served_zero() -> None:
    y = np.concatenate([np.full(40, 30.0) + np.arange(40) % 3, np.zeros(2)])
    assert stopped_selling(y)
    result = forecast_series(y, 4, "W", QUANTILES)
    assert result.model == "Naive" and np.allclose(result.point, 0)
    assert any("no sales lately" in w for w in result.warnings)


def test_a_slow_seller_with_a_usual_gap_has_not_stopped() -> None:
    y = intermittent()
    y[-2:] = 0
    assert not stopped_selling(y)


def test_short_series_are_backtested_on_shorter_windows() -> None:
    h, cutoffs = backtest_cutoffs(20, 12)
    assert h < 12 and cutoffs and cutoffs[0] >= 6 and cutoffs[-1] + h == 20
    assert backtest_cutoffs(6, 4)[1] == []


@pytest.mark.parametrize(
    ("y", "reason"), [(np.array([3.0, 4.0]), "only 2 observed"), (np.full(20, 5.0), "flat")]
)
def test_short_or_flat_series_falls_back_to_naive(y: np.ndarray, reason: str) -> None:
    result = forecast_series(y, 3, "W", quantiles=(0.1, 0.9))
    assert result.model == "Naive"
    assert any(reason in w for w in result.warnings)
    assert_sound(result, 3)


def test_an_all_zero_series_gives_zero() -> None:
    result = forecast_series(np.zeros(60), 5, "W", QUANTILES)
    assert result.model == "Naive"
    assert np.allclose(result.point, 0)
    assert_sound(result, 5)


def test_negative_and_missing_values_do_not_leak_into_the_answer() -> None:
    y = random_walk(60)
    y[[3, 10]] = [-5.0, np.nan]
    assert_sound(forecast_series(y, 4, "W", QUANTILES), 4)


def catalogue(series: dict[str, np.ndarray]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Products launched on the same Monday with the given weekly sales."""
    launch = pd.Timestamp("2024-01-01")
    products = pd.DataFrame(
        {
            "product_id": list(series),
            "launch_date": [launch] * len(series),
            "attributes": [{}] * len(series),
        }
    )
    sales = pd.DataFrame(
        [
            {"product_id": pid, "date": launch + pd.Timedelta(weeks=k), "quantity": float(q)}
            for pid, y in series.items()
            for k, q in enumerate(y)
        ]
    )
    return products, sales


@pytest.mark.parametrize("growth", [0.97, 1.03], ids=["fading", "growing"])
def test_intervals_follow_the_level_a_product_sells_at_now(growth: float) -> None:
    # Products whose sales fade (or grow) 3% a week, with noise in proportion: their backtest
    # windows sold more (or less) than they do now, and the interval must not carry that level.
    rng = np.random.default_rng(0)
    actual, lower, upper = [], [], []
    for _ in range(100):
        level = (200 if growth < 1 else 20) * growth ** np.arange(80)
        y = rng.poisson(level * rng.lognormal(0, 0.2, 80)).astype(float)
        result = forecast_series(y[:-12], 12, "W", (0.1, 0.9))
        actual.append(y[-12:])
        lower.append(result.quantiles[0.1])
        upper.append(result.quantiles[0.9])
    # 10-90% intervals: 0.75 / 0.79 of the held-out weeks (0.93 / 0.55 with unscaled errors).
    assert 0.7 <= coverage(np.array(actual), np.array(lower), np.array(upper)) <= 0.88


def test_all_zero_holdouts_give_json_safe_metrics() -> None:
    # Sales that stop right at the holdout: every WAPE is 0/0, which must read None, not NaN.
    stopped = np.concatenate([np.full(30, 8.0) + np.arange(30) % 2, np.zeros(12)])
    products, sales = catalogue({f"P{i}": stopped for i in range(3)})
    metrics = evaluate_established(products, sales, "W", launch_steps=12, horizon=12)
    assert metrics["n_products"] == 3
    assert metrics["wape"] is None and metrics["naive_wape"] is None
    assert metrics["models"] == {"Naive": 3}
    json.dumps(metrics, allow_nan=False)


def test_established_backtest_reports_the_mix_and_naive_per_model() -> None:
    products, sales = catalogue(
        {"walk": random_walk(130), "season": yearly_pattern(130), "slow": intermittent(130)}
    )
    metrics = evaluate_established(products, sales, "W", launch_steps=12, horizon=12)
    assert metrics["n_products"] == 3
    assert sum(metrics["models"].values()) == 3
    assert set(metrics["per_model"]) == set(metrics["models"])
    for scores in metrics["per_model"].values():
        assert {"wape", "naive_wape", "coverage", "n_products"} <= set(scores)
    # 118 weeks before the holdout: a full season for SeasonalNaive's reference.
    assert metrics["seasonal_naive_n_products"] == 3
    json.dumps(metrics, allow_nan=False)


def test_models_are_fitted_on_a_bounded_tail_of_a_long_daily_history(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Three years of daily sales: AutoETS with its weekly season costs about 2 ms a period per
    # fit, 7 fits a product (6 backtest windows and the forecast), 12-17 s a request. The models
    # are local: a year of days is enough, and bounds the cost.
    import forecasting.statistical as statistical

    seen: list[int] = []
    real = statistical._quiet_forecast

    def recording(model: object, y: np.ndarray, h: int, level: list[float] | None = None) -> object:
        seen.append(len(y))
        return real(model, y, h, level)

    monkeypatch.setattr(statistical, "_quiet_forecast", recording)
    rng = np.random.default_rng(0)
    t = np.arange(3 * 365)
    y = rng.poisson(20 * (1 + 0.4 * np.sin(2 * np.pi * t / 7))).astype(float)
    result = forecast_series(y, 12, "D", QUANTILES)
    assert_sound(result, 12)
    assert seen and max(seen) <= 364
    # Still a full backtest: six windows, each fitted on the year before its origin.
    assert seen.count(364) >= 6


def test_the_seasonal_naive_reference_is_statsforecasts_seasonal_naive() -> None:
    # The job's SeasonalNaive reference (a WAPE of thousands on the demo: its products fade,
    # so the same weeks a year before sold tens of times more) is the model itself, aligned.
    from statsforecast.models import SeasonalNaive

    from training.statistical import _seasonal_naive

    y = random_walk(130)
    for horizon in (1, 12, 60):
        expected = SeasonalNaive(season_length=52).forecast(y=y, h=horizon)["mean"]
        assert np.allclose(_seasonal_naive(y, horizon, 52), expected)


def test_a_product_selling_in_weekly_lumps_on_a_daily_grid_has_not_stopped() -> None:
    # A daily deployment fed one delivery a week (the demo under LAUNCHCAST_FREQUENCY=D): six
    # empty days in seven. Five days after the last lump is its rhythm, not a stop, though a
    # Poisson seller at the lumps' mean would rarely go five days without a sale; it was served
    # zero (24 of the 43 established products of the D demo's backtest; their held-out days sold).
    rng = np.random.default_rng(0)
    y = np.zeros(7 * 20)
    y[::7] = rng.poisson(40, 20)
    y = y[:-1]  # the answer is asked five days after the last lump
    assert not stopped_selling(y)
    result = forecast_series(y, 12, "D", QUANTILES)
    assert "no sales lately" not in " ".join(result.warnings)
    assert result.point.sum() > 0
    # A gap longer than any it came back from recently is still a stop.
    assert stopped_selling(np.concatenate([y, np.zeros(10)]))


def resumed_after_a_pause(freq: str, resumed: int, seed: int = 0) -> np.ndarray:
    """About 24 a period for a year, a 37-week pause, then 24 a period again: the backtest
    origins fall in the pause (a level of about 1), their windows see sales resume."""
    rng = np.random.default_rng(seed)
    if freq == "W":
        parts = [rng.poisson(24, 52), np.zeros(37), rng.poisson(24, resumed)]
    else:
        parts = [rng.poisson(24, 364), np.zeros(37 * 7), rng.poisson(24, resumed)]
    return np.concatenate(parts).astype(float)


@pytest.mark.parametrize(
    ("freq", "horizon", "resumed"), [("W", 52, 45), ("W", 12, 20), ("D", 104, 90)]
)
def test_intervals_after_a_pause_stay_near_the_level_sold(
    freq: str, horizon: int, resumed: int
) -> None:
    # Each backtest error was divided by its origin's level (about 1 in the pause) and multiplied
    # by today's (about 25): the 90% quantile came out 729 (W, 52), 577 (W, 12) and 258 (D, 104)
    # for a product selling 24 a period. Each window's level now leans towards what it sold.
    y = resumed_after_a_pause(freq, resumed)
    result = forecast_series(y, horizon, freq, QUANTILES)  # type: ignore[arg-type]
    assert_sound(result, horizon)
    assert result.quantiles[0.9].max() < 8 * 24
    assert (result.quantiles[0.9] > result.point).all()


def test_window_level_moves_towards_what_the_window_sold() -> None:
    from forecasting.statistical import LEVEL_WEIGHT_DOWN, LEVEL_WEIGHT_UP, window_level

    pause, selling = np.zeros(8), np.full(8, 99.0)
    # From a pause (level 1) into sales of 99 a week (level 100): half way, geometrically.
    assert window_level(pause, selling, "W") == pytest.approx(100**LEVEL_WEIGHT_UP)
    # A fade: the window sold 0 (level 1) after selling 99 (level 100).
    assert window_level(selling, pause, "W") == pytest.approx(100 ** (1 - LEVEL_WEIGHT_DOWN))
    # A steady window keeps its level at the origin.
    assert window_level(selling, selling, "W") == pytest.approx(100.0)


@pytest.mark.parametrize(("freq", "n"), [("W", 60), ("D", 100)])
def test_a_final_spike_after_zeros_gets_an_interval_of_some_width(freq: str, n: int) -> None:
    # Zeros, then one sale of 1000: Naive serves 1000, and its backtest errors are all zero but
    # the one of the latest window. The 80th percentile of |error| was 0: a 10-90% interval of
    # [1000, 1000]. One nonzero error is too few: Naive's own interval answers.
    y = np.zeros(n)
    y[-1] = 1000.0
    result = forecast_series(y, 12, freq, QUANTILES)  # type: ignore[arg-type]
    assert result.model == "Naive" and np.allclose(result.point, 1000)
    assert_sound(result, 12)
    assert (result.quantiles[0.1] < 950).all() and (result.quantiles[0.9] > 1050).all()
