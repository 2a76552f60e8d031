"""statsforecast for established products, with a fallback that names itself."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting.statistical import forecast_series


def test_regular_series_uses_autoets() -> None:
    y = 20 + np.random.default_rng(0).normal(0, 2, 30)
    result = forecast_series(y, 5, "W", quantiles=(0.1, 0.5, 0.9))
    assert result.model == "AutoETS"
    assert (result.quantiles[0.1] <= result.quantiles[0.5]).all()
    assert (result.quantiles[0.5] <= result.quantiles[0.9]).all()


def test_intermittent_series_uses_croston_with_empirical_quantiles() -> None:
    y = np.array([0, 0, 3, 0, 0, 1, 0, 0, 2, 0, 0, 0, 4.0])
    result = forecast_series(y, 4, "W", quantiles=(0.1, 0.9))
    assert result.model == "CrostonOptimized"
    assert (result.quantiles[0.1] <= result.quantiles[0.9]).all()


@pytest.mark.parametrize(
    ("y", "reason"), [(np.array([3.0, 4.0]), "only 2 observed"), (np.full(20, 5.0), "flat")]
)
def test_short_or_flat_series_falls_back_to_naive(y: np.ndarray, reason: str) -> None:
    result = forecast_series(y, 3, "W", quantiles=(0.1, 0.9))
    assert result.model == "Naive"
    assert any(reason in w for w in result.warnings)
    assert np.isfinite(result.point).all() and (result.point >= 0).all()
    assert (result.quantiles[0.1] >= 0).all()


def test_long_seasonal_series_is_forecast_without_negative_values() -> None:
    t = np.arange(120)
    y = np.maximum(
        10 + 8 * np.sin(2 * np.pi * t / 52) + np.random.default_rng(1).normal(0, 1, 120), 0
    )
    result = forecast_series(y, 10, "W", quantiles=(0.1, 0.9))
    assert result.model in {"AutoETS", "SeasonalNaive"}
    assert (result.point >= 0).all() and (result.quantiles[0.1] >= 0).all()
