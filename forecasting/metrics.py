"""Accuracy measures: WAPE, MAE, bias, pinball loss and interval coverage, overall and per step."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Weighted absolute percentage error: 100 * sum|y - yhat| / sum y (NaN when sum y is 0)."""
    y, f = _clean(actual, forecast)
    total = float(np.abs(y).sum())
    return float(100.0 * np.abs(y - f).sum() / total) if total > 0 else float("nan")


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute error."""
    y, f = _clean(actual, forecast)
    return float(np.abs(y - f).mean()) if y.size else float("nan")


def bias(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Relative bias in percent: 100 * sum(yhat - y) / sum y (positive = over-forecast)."""
    y, f = _clean(actual, forecast)
    total = float(np.abs(y).sum())
    return float(100.0 * (f - y).sum() / total) if total > 0 else float("nan")


def pinball(actual: np.ndarray, forecast: np.ndarray, level: float) -> float:
    """Mean pinball (quantile) loss of a forecast of quantile `level`."""
    y, f = _clean(actual, forecast)
    diff = y - f
    return float(np.mean(np.maximum(level * diff, (level - 1) * diff))) if y.size else float("nan")


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of actuals inside [lower, upper]."""
    y = np.asarray(actual, dtype=float).ravel()
    lo = np.asarray(lower, dtype=float).ravel()
    hi = np.asarray(upper, dtype=float).ravel()
    ok = np.isfinite(y)
    return float(np.mean((y[ok] >= lo[ok]) & (y[ok] <= hi[ok]))) if ok.any() else float("nan")


def total_coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of products whose total over the steps of `actual` (products x steps) lies inside
    [lower, upper] (one bound per product), among the products with every step known."""
    y = np.atleast_2d(np.asarray(actual, dtype=float))
    whole = np.isfinite(y).all(axis=1)
    if not whole.any():
        return float("nan")
    total = y[whole].sum(axis=1)
    lo = np.asarray(lower, dtype=float)[whole]
    hi = np.asarray(upper, dtype=float)[whole]
    return float(np.mean((total >= lo) & (total <= hi)))


def total_share_below(actual: np.ndarray, bound: np.ndarray) -> float:
    """Share of products whose total over the steps of `actual` (products x steps) is at or
    below `bound` (one per product), among the products with every step known: how often an
    order of `bound` would have covered the demand (its level is the service level it aims at)."""
    return total_coverage(actual, np.full(len(np.atleast_2d(actual)), -np.inf), bound)


def _clean(actual: np.ndarray, forecast: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(actual, dtype=float).ravel()
    f = np.asarray(forecast, dtype=float).ravel()
    ok = np.isfinite(y)
    return y[ok], f[ok]


def score(
    actual: np.ndarray,
    point: np.ndarray,
    quantiles: Mapping[float, np.ndarray] | None = None,
    interval: tuple[float, float] = (0.1, 0.9),
) -> dict[str, float]:
    """All measures of (products x steps) matrices; NaN actuals (unreached steps) are ignored."""
    out = {
        "wape": wape(actual, point),
        "mae": mae(actual, point),
        "bias": bias(actual, point),
        "n": int(np.isfinite(np.asarray(actual, dtype=float)).sum()),
    }
    qs = dict(quantiles or {})
    for level, values in sorted(qs.items()):
        out[f"pinball_{level:g}"] = pinball(actual, values, level)
    if qs:
        out["pinball_mean"] = float(np.mean([out[f"pinball_{q:g}"] for q in qs]))
    lo, hi = interval
    if lo in qs and hi in qs:
        out["coverage"] = coverage(actual, qs[lo], qs[hi])
    return out


def score_per_step(
    actual: np.ndarray,
    point: np.ndarray,
    quantiles: Mapping[float, np.ndarray] | None = None,
    interval: tuple[float, float] = (0.1, 0.9),
) -> list[dict[str, float]]:
    """`score` for each step (column) of (products x steps) matrices."""
    qs = dict(quantiles or {})
    return [
        score(actual[:, j], point[:, j], {q: v[:, j] for q, v in qs.items()}, interval)
        for j in range(actual.shape[1])
    ]
