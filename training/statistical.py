"""Established products: backtest the statistical models on each product's own recent history.

A product with more history than the launch model covers is answered by statsforecast
(forecasting/statistical.py). The job scores that path too: for every established product it
holds out the last `horizon` periods, forecasts them from the periods before (the model chosen
on the periods before, as a request would), and reports WAPE, MAE, bias and 10-90% coverage
beside the naive last-value reference, overall and per model served, the mix of models served,
and SeasonalNaive's WAPE on the series with a season before the holdout. Every figure is a float
or None (a WAPE over all-zero holdouts has no value), so the metrics go into JSON as they are.

With the Dask engine the series are spread over the workers with `client.map` (fugue, which
statsforecast would need to take Dask frames directly, is not a dependency); every worker runs
the same core function, so both engines give the same numbers.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from forecasting.curves import build_launch_curves
from forecasting.jsonsafe import json_safe
from forecasting.metrics import bias, coverage, mae, wape
from forecasting.periods import Frequency, steps_of
from forecasting.statistical import SEASON_LENGTH, forecast_series

# Enough series for a stable figure while keeping a run short; picked evenly, deterministically.
MAX_SERIES = 400
INTERVAL = (0.1, 0.9)


def established_series(
    products: pd.DataFrame,
    sales: pd.DataFrame,
    freq: Frequency,
    min_length: int,
    max_series: int = MAX_SERIES,
) -> dict[str, np.ndarray]:
    """Step-total series (negative totals as 0) of products with at least `min_length` steps."""
    if sales.empty:
        return {}
    span = _max_steps(products, sales, freq)
    if span < min_length:
        return {}
    curves = build_launch_curves(products, sales, freq, span)
    reached = np.isfinite(curves.values).sum(axis=1)
    rows = np.flatnonzero(reached >= min_length)
    if len(rows) > max_series:
        rows = rows[np.linspace(0, len(rows) - 1, max_series).astype(int)]
    return {str(curves.product_ids[i]): curves.values[i, : reached[i]].astype(float) for i in rows}


def _max_steps(products: pd.DataFrame, sales: pd.DataFrame, freq: Frequency) -> int:
    first = pd.to_datetime(products["launch_date"]).min()
    first_sale = pd.to_datetime(sales["date"]).min()
    start = first_sale if pd.isna(first) else min(first, first_sale)
    end = pd.to_datetime(sales["date"]).max()
    return int(steps_of(pd.Series([start]), pd.Series([end]), freq)[0])


def forecast_holdouts(
    series: list[np.ndarray], horizon: int, freq: Frequency
) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(model, point, lower, upper) for the last `horizon` steps of each series, from the rest.

    Runs on Dask workers as is: plain arguments, plain results.
    """
    out = []
    for y in series:
        result = forecast_series(y[:-horizon], horizon, freq, INTERVAL)
        out.append(
            (
                result.model,
                result.point,
                result.quantiles[INTERVAL[0]],
                result.quantiles[INTERVAL[1]],
            )
        )
    return out


def evaluate_established(
    products: pd.DataFrame,
    sales: pd.DataFrame,
    freq: Frequency,
    launch_steps: int,
    horizon: int,
    client: Any = None,
    max_series: int = MAX_SERIES,
) -> dict[str, Any]:
    """Scores of the statistical path on established products (empty scores when there are none).

    Args:
        products: Frame with product_id, launch_date, attributes.
        sales: Frame with product_id, date, quantity.
        freq: Step frequency.
        launch_steps: Steps the launch model covers; the statistical path answers after them.
        horizon: Periods held out at the end of each series.
        client: A dask.distributed Client, or None to run here.
        max_series: Score at most this many products (0: skip the stage).
    """
    if max_series <= 0:
        return {"n_products": 0, "horizon": horizon, "skipped": "statistical_backtest_series = 0"}
    # The fitting part must itself be longer than the launch model covers.
    found = established_series(products, sales, freq, launch_steps + horizon + 1, max_series)
    # Discontinued products (nothing sold in the periods before the holdout) are not scored:
    # nobody plans them, and their all-zero holdouts would only measure the decay to zero.
    found = {pid: y for pid, y in found.items() if y[-2 * horizon : -horizon].sum() > 0}
    summary: dict[str, Any] = {"n_products": len(found), "horizon": horizon}
    if not found:
        return summary
    series = list(found.values())
    if client is None:
        results = forecast_holdouts(series, horizon, freq)
    else:
        results = _on_dask(client, series, horizon, freq)
    actual = np.vstack([y[-horizon:] for y in series])
    served = [r[0] for r in results]
    point = np.vstack([r[1] for r in results])
    lower = np.vstack([r[2] for r in results])
    upper = np.vstack([r[3] for r in results])
    naive = np.vstack([np.full(horizon, y[-horizon - 1]) for y in series])
    summary.update(_scores(actual, point, lower, upper, naive))
    summary.update(_seasonal_naive_reference(series, horizon, freq, actual, point))
    summary["models"] = dict(sorted(Counter(served).items()))
    summary["per_model"] = {
        name: {
            "n_products": int(rows.sum()),
            **_scores(actual[rows], point[rows], lower[rows], upper[rows], naive[rows]),
        }
        for name in summary["models"]
        for rows in [np.array([s == name for s in served])]
    }
    return summary


def _scores(
    actual: np.ndarray,
    point: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    naive: np.ndarray,
) -> dict[str, float | None]:
    """The served forecast's measures beside the naive (last value) reference."""
    scores = {
        "wape": wape(actual, point),
        "mae": mae(actual, point),
        "bias": bias(actual, point),
        "coverage": coverage(actual, lower, upper),
        "naive_wape": wape(actual, naive),
        "naive_mae": mae(actual, naive),
    }
    return {key: json_safe(value) for key, value in scores.items()}


def _seasonal_naive_reference(
    series: list[np.ndarray],
    horizon: int,
    freq: Frequency,
    actual: np.ndarray,
    point: np.ndarray,
) -> dict[str, Any]:
    """SeasonalNaive's WAPE and the served one on the series with a full season before the
    holdout (None when no series has one)."""
    season = SEASON_LENGTH[freq]
    rows = np.array([len(y) - horizon >= season for y in series])
    if not rows.any():
        return {"seasonal_naive_n_products": 0, "seasonal_naive_wape": None}
    seen = [y[:-horizon] for y, ok in zip(series, rows, strict=True) if ok]
    reference = np.vstack([_seasonal_naive(y, horizon, season) for y in seen])
    return {
        "seasonal_naive_n_products": int(rows.sum()),
        "seasonal_naive_wape": json_safe(wape(actual[rows], reference)),
        "served_wape_on_seasonal_subset": json_safe(wape(actual[rows], point[rows])),
    }


def _seasonal_naive(y: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The value one season before each step (statsforecast's SeasonalNaive)."""
    last_season = y[-season:]
    return np.resize(last_season, horizon)


def _on_dask(
    client: Any, series: list[np.ndarray], horizon: int, freq: Frequency
) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    n_chunks = min(len(series), 2 * n_workers)
    chunks = [list(part) for part in np.array_split(np.arange(len(series)), n_chunks)]
    futures = client.map(
        forecast_holdouts,
        [[series[i] for i in chunk] for chunk in chunks],
        horizon=horizon,
        freq=freq,
        pure=False,
    )
    results: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []
    for part in client.gather(futures):
        results.extend(part)
    return results
