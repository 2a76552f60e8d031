"""Forecasts for established products (more history than the launch model covers).

statsforecast models on the product's own step series: CrostonOptimized for intermittent series,
AutoETS (seasonal when at least two seasons are observed) otherwise, SeasonalNaive when ETS fails
on a long series; a series that is too short or flat, or on which the model fails, goes to a
fallback (Naive for flat or very short series, HistoricAverage after a failure). The answer names
the model that produced it: "statistical:<ModelName>".
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from forecasting.periods import Frequency

SEASON_LENGTH: dict[str, int] = {"D": 7, "W": 52, "M": 12}
MIN_LENGTH = 6  # below this no model is fitted, the fallback answers
INTERMITTENT_ZERO_SHARE = 0.3


@dataclass
class StatisticalForecast:
    """Point and quantile forecast of one series."""

    model: str
    point: np.ndarray
    quantiles: dict[float, np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _level(q: float) -> int | float:
    """The statsforecast interval level (percent) whose bound is quantile `q`."""
    level = round(abs(2 * q - 1) * 100, 6)
    return int(level) if float(level).is_integer() else level


def _levels(quantiles: Sequence[float]) -> list[int | float]:
    """statsforecast interval levels (percent) that give the requested quantiles."""
    return sorted({_level(q) for q in quantiles if abs(q - 0.5) > 1e-9})


def _run(
    model: object, y: np.ndarray, horizon: int, quantiles: Sequence[float]
) -> tuple[np.ndarray, dict[float, np.ndarray]]:
    levels = _levels(quantiles)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = model.forecast(y=y, h=horizon, level=levels or None)  # type: ignore[attr-defined]
        except Exception:
            if not levels:
                raise
            # Models without prediction intervals (Croston, ADIDA): empirical quantiles below.
            result = model.forecast(y=y, h=horizon)  # type: ignore[attr-defined]
    point = np.asarray(result["mean"], dtype=float)
    out: dict[float, np.ndarray] = {}
    if levels and not any(str(key).startswith("lo-") for key in result):
        recent = y[-52:]
        for q in quantiles:
            out[q] = np.full(horizon, float(np.quantile(recent, q)))
        return point, out
    for q in quantiles:
        if abs(q - 0.5) < 1e-9:
            out[q] = point
            continue
        key = f"{'lo' if q < 0.5 else 'hi'}-{_level(q)}"
        out[q] = np.asarray(result.get(key, point), dtype=float)
    return point, out


def _valid(point: np.ndarray, quantiles: dict[float, np.ndarray]) -> bool:
    return bool(np.isfinite(point).all() and all(np.isfinite(v).all() for v in quantiles.values()))


def forecast_series(
    y: np.ndarray, horizon: int, freq: Frequency, quantiles: Sequence[float] = ()
) -> StatisticalForecast:
    """Forecast the next `horizon` steps of one product's step totals.

    Args:
        y: Observed step totals (step 1..s), negative totals already counted as 0.
        horizon: Steps to forecast.
        freq: Frequency of the steps (sets the season length).
        quantiles: Quantile levels wanted.

    Returns:
        The forecast, never negative, quantiles sorted per step.
    """
    from statsforecast.models import (
        AutoETS,
        CrostonOptimized,
        HistoricAverage,
        Naive,
        SeasonalNaive,
    )

    y = np.maximum(np.nan_to_num(np.asarray(y, dtype=float)), 0.0)
    season = SEASON_LENGTH[freq]
    notes: list[str] = []
    candidates: list[object] = []
    if len(y) < MIN_LENGTH:
        notes.append(f"only {len(y)} observed periods: fallback model used")
    elif np.ptp(y) == 0:
        notes.append("flat history: fallback model used")
    elif np.mean(y == 0) >= INTERMITTENT_ZERO_SHARE:
        candidates.append(CrostonOptimized())
    else:
        seasonal = len(y) >= 2 * season
        candidates.append(AutoETS(season_length=season if seasonal else 1))
        if seasonal:
            candidates.append(SeasonalNaive(season_length=season))
    candidates += [Naive()] if not candidates else [HistoricAverage(), Naive()]
    for model in candidates:
        try:
            point, qs = _run(model, y, horizon, quantiles)
        except Exception as error:
            notes.append(
                f"{type(model).__name__} failed ({type(error).__name__}); trying the next model"
            )
            continue
        if not _valid(point, qs):
            notes.append(f"{type(model).__name__} gave non-finite values; trying the next model")
            continue
        return _finish(type(model).__name__, point, qs, quantiles, notes)
    last = np.full(horizon, float(y[-1]) if len(y) else 0.0)
    return _finish("Naive", last, {q: last for q in quantiles}, quantiles, notes)


def _finish(
    name: str,
    point: np.ndarray,
    qs: dict[float, np.ndarray],
    quantiles: Sequence[float],
    notes: list[str],
) -> StatisticalForecast:
    point = np.maximum(point, 0.0)
    levels = sorted(quantiles)
    if levels:
        stacked = np.sort(np.maximum(np.column_stack([qs[q] for q in levels]), 0.0), axis=1)
        qs = {q: stacked[:, j] for j, q in enumerate(levels)}
    return StatisticalForecast(model=name, point=point, quantiles=qs, warnings=notes)
