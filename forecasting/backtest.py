"""An honest backtest: split by launch date, fit on the older launches, score the newest.

No test product is ever trained on: the forecaster is fitted on products launched before the
cutoff (and their sales) only. Its own choices (boosting rounds, the served method, quantile
calibration) are made by its cross-validation inside that training part. Every method is
scored cold (nothing observed) and warm (the first steps observed), with its value added over
the method it falls back to, the global curve and naive.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecasting.curves import LaunchCurves, build_launch_curves, resolve_launch_dates
from forecasting.errors import EmptyCatalogue
from forecasting.jsonsafe import json_safe
from forecasting.metrics import score, score_per_step, total_coverage, total_share_below, wape
from forecasting.model import ForecasterConfig, LaunchForecaster, Progress
from forecasting.types import ForecastQuery

INTERVAL = (0.1, 0.9)
# A planner orders a launch's total at a service level: the total's quantile at that level should
# cover the demand that often (scored on the test products' totals).
SERVICE_LEVELS = (0.8, 0.9, 0.95)
TOTAL_LEVELS = tuple(sorted({*INTERVAL, *SERVICE_LEVELS}))


@dataclass
class BacktestResult:
    """What a backtest measured.

    Attributes:
        metrics: JSON-serialisable scores (see `backtest`).
        samples: Per-product predictions for plots: actual, forecast, interval, neighbours.
        model: The forecaster fitted on the training part.
    """

    metrics: dict[str, Any]
    samples: list[dict[str, Any]] = field(default_factory=list)
    model: LaunchForecaster | None = None


def split_by_launch(
    products: pd.DataFrame,
    sales: pd.DataFrame,
    cutoff: dt.date | None = None,
    holdout_fraction: float = 0.2,
) -> tuple[pd.Timestamp, np.ndarray]:
    """The cutoff and a mask of products launched before it (the training part)."""
    launch = resolve_launch_dates(products, sales)
    if cutoff is None:
        known = launch.dropna()
        if known.empty:
            raise EmptyCatalogue("no product has a launch date or a sale")
        cut = pd.Timestamp(
            np.quantile(
                known.to_numpy(dtype="datetime64[ns]").astype(np.int64), 1 - holdout_fraction
            )
        )
        cut = cut.normalize()
    else:
        cut = pd.Timestamp(cutoff)
    return cut, (launch < cut).to_numpy()


def backtest(
    products: pd.DataFrame,
    sales: pd.DataFrame,
    config: ForecasterConfig,
    cutoff: dt.date | None = None,
    holdout_fraction: float = 0.2,
    progress: Progress | None = None,
    warmup_observed: Sequence[int] | None = None,
    n_samples: int = 12,
    dask_client: Any = None,
) -> BacktestResult:
    """Fit on launches before the cutoff, score every method on launches from the cutoff.

    Args:
        products: Frame with product_id, launch_date, attributes.
        sales: Frame with product_id, date, quantity.
        config: Forecaster configuration.
        cutoff: Split date; default: the launch date leaving `holdout_fraction` of products out.
        holdout_fraction: Share of the most recent launches held out when no cutoff is given.
        progress: Optional callback(stage, fraction done).
        warmup_observed: Observed steps of the warm-up evaluations (e.g. 2: weeks 1-2 known);
            None: the configuration's `backtest_warmup_observed`.
        n_samples: How many test products to keep full predictions for.
        dask_client: Passed to `LaunchForecaster.fit`.

    Returns:
        metrics = {"cutoff", "n_train", "n_test", "served_method", "methods": {method: overall
        scores}, "per_step": {method: [scores per step]}, "warmup": {s: {...}}, "fva" (value
        added per method over its fallback, the global curve and naive), "cross_validation"
        (the model's own folds: its FVA table and choices), "stages"}.

    Raises:
        EmptyCatalogue: too few products on either side of the cutoff.
    """
    report = progress or (lambda stage, done: None)
    cut, train_mask = split_by_launch(products, sales, cutoff, holdout_fraction)
    train_products = products[train_mask]
    test_products = products[~train_mask]
    train_sales = sales[sales["product_id"].isin(train_products["product_id"])]
    test_sales = sales[sales["product_id"].isin(test_products["product_id"])]
    report("backtest: fit", 0.0)
    model = LaunchForecaster(config).fit(train_products, train_sales, dask_client=dask_client)
    report("backtest: score", 0.7)
    L = config.launch_steps
    test = build_launch_curves(test_products, test_sales, config.freq, L)
    actual = test.values
    queries = launch_queries(test)
    components = model.predict_components(queries)
    levels = sorted({INTERVAL[0], 0.5, INTERVAL[1]})
    methods: dict[str, Any] = {}
    per_step: dict[str, Any] = {}
    served = components["served"]
    for name, curve in components.items():
        qs = model.quantiles_for(curve, levels)
        methods[name] = score(actual, curve, qs, INTERVAL)
        per_step[name] = score_per_step(actual, curve, qs, INTERVAL)
        totals = model.total_quantiles_for(curve, TOTAL_LEVELS)
        if totals is not None:  # the band a planner reads for a product's total
            methods[name].update(_total_scores(actual, totals))
    if warmup_observed is None:
        warmup_observed = config.backtest_warmup_observed
    warmup = {
        str(s): _warmup_scores(model, queries, actual, served, s) for s in warmup_observed if s < L
    }
    metrics: dict[str, Any] = {
        "cutoff": str(cut.date()),
        "n_train": len(model.catalogue_),
        "n_test": len(queries),
        "frequency": config.freq,
        "launch_steps": L,
        "served_method": model.served_method,
        "interval": list(INTERVAL),
        "methods": methods,
        "per_step": per_step,
        "fva": fva(methods),
        "warmup": warmup,
        "cross_validation": {
            "served": model.served_method,
            "decisions": model.selector_.decisions_
            + [d for d in [model.metadata_.get("warmup_decision")] if d],
            "fva": model.selector_.table_,
            "rounds": model.metadata_.get("rounds"),
            "warmup_rounds": model.metadata_.get("warmup_rounds"),
        },
        "stages": model.stages_,
        "models_fitted": model.metadata_.get("models_fitted"),
        "n_clipped": model.metadata_.get("n_clipped", 0),
    }
    samples = _samples(model, queries, actual, n_samples)
    report("backtest: done", 1.0)
    return BacktestResult(metrics=json_safe(metrics), samples=samples, model=model)


def launch_queries(curves: LaunchCurves) -> list[ForecastQuery]:
    """Cold-start queries (launch date and attributes, nothing observed) of products' curves."""
    return [
        ForecastQuery(launch_date=pd.Timestamp(day).date(), attributes=attrs, product_id=str(pid))
        for pid, day, attrs in zip(
            curves.product_ids, curves.launch_dates, curves.attributes, strict=True
        )
    ]


def fva(methods: dict[str, Any]) -> dict[str, Any]:
    """WAPE points each method gains over its fallback and the global curve (positive: better)."""
    from forecasting.selection import FALLBACK

    out: dict[str, Any] = {}
    for name, scores in methods.items():
        fallback = FALLBACK.get(name)
        row: dict[str, Any] = {"wape": scores.get("wape"), "bias": scores.get("bias")}
        for key, reference in (("vs_fallback", fallback), ("vs_global_curve", "global_curve")):
            if reference in methods and scores.get("wape") is not None:
                theirs = methods[reference].get("wape")
                row[key] = None if theirs is None else theirs - scores["wape"]
        out[name] = row
    return out


def _warmup_scores(
    model: LaunchForecaster,
    queries: list[ForecastQuery],
    actual: np.ndarray,
    cold: np.ndarray,
    observed: int,
) -> dict[str, Any]:
    """Scores on steps observed+1..L with the first `observed` steps given as history."""
    L = model.config.launch_steps
    freq = model.config.freq
    from forecasting.periods import step_start

    reached = np.isfinite(actual[:, :observed]).all(axis=1)
    rows = np.flatnonzero(reached)
    warm_queries = [
        ForecastQuery(
            launch_date=queries[i].launch_date,
            attributes=queries[i].attributes,
            product_id=queries[i].product_id,
            history=tuple(
                (step_start(queries[i].launch_date, s + 1, freq), float(actual[i, s]))
                for s in range(observed)
            ),
        )
        for i in rows
    ]
    forecasts = model.predict(warm_queries, L - observed, quantiles=TOTAL_LEVELS)
    # No test product has sold `observed` periods yet (a late cutoff): nothing to score, and
    # every measure reads as unknown rather than failing the backtest.
    empty = np.empty((0, L - observed))
    warm = np.vstack([f.point for f in forecasts]) if forecasts else empty
    qs = {
        q: np.vstack([f.quantiles[q] for f in forecasts]) if forecasts else empty for q in INTERVAL
    }
    tail = actual[rows, observed:]
    cold_wape = wape(tail, cold[rows, observed:])
    warm_scores = score(tail, warm, qs, INTERVAL)
    bands = [f.total_quantiles for f in forecasts]
    if forecasts and all(band is not None for band in bands):
        levels = bands[0] or {}
        totals = {q: np.array([band[q] for band in bands if band]) for q in levels}
        warm_scores.update(_total_scores(tail, totals))
    naive = np.repeat(actual[rows, observed - 1 : observed], L - observed, axis=1)
    return {
        "observed_steps": observed,
        "scored_steps": [observed + 1, L],
        "cold_wape": cold_wape,
        "naive_wape": wape(tail, naive),
        "warm": warm_scores,
        "ratio": warm_scores["wape"] / cold_wape if cold_wape else float("nan"),
    }


def _total_scores(actual: np.ndarray, totals: dict[float, np.ndarray]) -> dict[str, Any]:
    """How the forecasts' total bands held the (products x steps) actuals' totals: the 10-90%
    band's coverage, and for each service level the share of totals its quantile covered."""
    return {
        # The products whose every step is known: the only ones with a total to score.
        "total_n_products": int(np.isfinite(np.atleast_2d(actual)).all(axis=1).sum()),
        "total_coverage": total_coverage(actual, totals[INTERVAL[0]], totals[INTERVAL[1]]),
        "total_service_levels": {
            f"{q:g}": total_share_below(actual, totals[q]) for q in SERVICE_LEVELS
        },
    }


def _samples(
    model: LaunchForecaster,
    queries: list[ForecastQuery],
    actual: np.ndarray,
    n: int,
) -> list[dict[str, Any]]:
    if n <= 0 or not queries:
        return []
    totals = np.nansum(actual, axis=1)
    # Spread the sample over sales levels so plots show big, middling and small sellers.
    order = np.argsort(totals, kind="stable")
    picks = order[np.unique(np.linspace(0, len(order) - 1, min(n, len(order))).astype(int))]
    chosen = [queries[i] for i in picks]
    forecasts = model.predict(chosen, model.config.launch_steps, quantiles=INTERVAL, explain=True)
    out = []
    for i, forecast in zip(picks, forecasts, strict=True):
        out.append(
            {
                "product_id": queries[i].product_id,
                "launch_date": str(queries[i].launch_date),
                "attributes": queries[i].attributes,
                "method": forecast.method,
                "actual": actual[i].tolist(),
                "forecast": forecast.point.tolist(),
                "lower": forecast.quantiles[INTERVAL[0]].tolist(),
                "upper": forecast.quantiles[INTERVAL[1]].tolist(),
                "neighbours": [
                    {
                        "product_id": nb.product_id,
                        "similarity": nb.similarity,
                        "weight": nb.weight,
                        "curve": model.curve_of(nb.product_id)[
                            : model.config.launch_steps
                        ].tolist(),
                    }
                    for nb in forecast.neighbours
                ],
            }
        )
    return json_safe(out)
