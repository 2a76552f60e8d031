"""The launch forecaster: a thin facade that composes the core's components.

Fitting (each stage timed, with the models it fitted):
1. the catalogue of launch curves (forecasting/catalogue.py);
2. the neighbour model: attribute encoding and search index (forecasting/neighbour_model.py);
3. the global and attribute curves (forecasting/curve_model.py);
4. one LightGBM Dataset of every training row (forecasting/validation.py, features.py);
5. a rolling-origin cross-validation by launch date: every method forecasts each fold's launches
   from earlier launches only; it picks the boosting rounds, the served method (the simplest one
   that beats its fallback on every fold: forecasting/selection.py) and the conformal
   calibration (forecasting/calibration.py, on the folds);
6. the LightGBM launch model, fitted once on every row, only if it is served (forecasting/gbm.py).

Predicting: the served method, with the fallback chain gbm -> neighbours -> attribute_curve ->
global_curve (every answer names its `method`); the planner's pinned analogues are answered by
the neighbour forecast from exactly those; statsforecast for products with more history than
`launch_steps` (forecasting/statistical.py). Steps past `launch_steps` follow the global curve's
shape, scaled from the forecast at `launch_steps`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from forecasting import drivers
from forecasting.artifact import ArtifactReader, ArtifactWriter, artifact_checksum
from forecasting.calibration import ConformalCalibrator
from forecasting.catalogue import LaunchCatalogue
from forecasting.config import ForecasterConfig, default_config
from forecasting.curve_model import CurveModel, moved_to_observed
from forecasting.errors import ArtifactError
from forecasting.features import Pairs, build_rows, feature_names
from forecasting.gbm import LaunchGBM, lgbm_parameters, min_rows_in_leaf, row_scale
from forecasting.jsonsafe import json_safe
from forecasting.levels import LevelCeiling
from forecasting.neighbour_model import Borrowed, NeighbourModel
from forecasting.periods import step_starts
from forecasting.private import CrossFittedCurves
from forecasting.queries import ParsedQueries, parse_queries
from forecasting.selection import FoldForecasts, MethodSelector
from forecasting.statistical import forecast_series
from forecasting.types import Drivers, ForecastQuery, Neighbour, ProductForecast
from forecasting.validation import (
    MIN_GBM_PRODUCTS,
    CrossValidation,
    Fold,
    Training,
    cross_validate,
    training_rows,
    warmup_answers,
    warmup_rows,
)

Progress = Callable[[str, float], None]
# 4: components, each its own files; 5: the forecast role's cross-fitted curves; 6: intervals by
# the point's size (the calibration's bands)
ARTIFACT_FORMAT = 6
DETAILS = frozenset({"curves", "drivers"})

__all__ = ["ARTIFACT_FORMAT", "ForecasterConfig", "LaunchForecaster", "artifact_checksum"]


class LaunchForecaster:
    """Cold-start and warm-up forecaster for product launches (see module docstring).

    Fitted state: `catalogue_`, `neighbours_`, `curves_`, `private_`, `levels_` (derived from
    the catalogue and curves, not saved), `gbm_` and `warmup_gbm_` (None when not served),
    `selector_`, `calibrator_` (each step's quantiles), `total_calibrator_` (those of a
    forecast's total over its steps; None without folds to learn it from), `stages_` (seconds
    and models per fitting stage), `metadata_`.
    """

    def __init__(self, config: ForecasterConfig | None = None) -> None:
        """Create an unfitted forecaster (the service's defaults when no config is given)."""
        self.config = config or default_config()

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        products: pd.DataFrame,
        sales: pd.DataFrame,
        progress: Progress | None = None,
        dask_client: Any = None,
    ) -> LaunchForecaster:
        """Learn from known products and their sales.

        Args:
            products: Frame with product_id, launch_date, attributes.
            sales: Frame with product_id, date, quantity.
            progress: Optional callback(stage, fraction done).
            dask_client: A dask.distributed Client: the final LightGBM model is trained on it.

        Returns:
            self.

        Raises:
            EmptyCatalogue: too few products with sales.
        """
        cfg = self.config
        report = progress or (lambda stage, done: None)
        self.stages_: list[dict[str, Any]] = []
        stage = _StageTimer(self.stages_, report)
        self._fit_catalogue(products, sales, stage)
        nb = self.neighbours_
        gl = self.curves_.global_
        rows, dataset, setup, warmup = None, None, {}, None
        if len(self.catalogue_) >= MIN_GBM_PRODUCTS:
            with stage("training rows", 0.15):
                rows = training_rows(self.catalogue_, nb.codes_, nb.numerics_, gl, cfg)
                setup = self._gbm_setup(rows)
                dataset = _dataset(rows, setup, cfg)
                warmup = self._warmup_training()
        with stage("cross-validation", 0.25) as record:
            cv = cross_validate(
                self.catalogue_,
                nb,
                rows,
                dataset,
                setup,
                gl,
                lambda name, done: report(name, 0.25 + 0.5 * done),
                warmup,
            )
            record["models"] = cv.models
        self.selector_ = MethodSelector(cfg.selection_margin).fit(
            [f.for_selection() for f in cv.folds]
        )
        with stage("calibration", 0.75):
            self.calibrator_, self.total_calibrator_ = self._calibrate(cv)
        self.gbm_: LaunchGBM | None = None
        if self.selector_.served_ == "gbm" and rows is not None and dataset is not None:
            with stage("launch model", 0.8) as record:
                self.gbm_ = LaunchGBM(cfg).fit(
                    dataset, rounds=cv.rounds or cfg.gbm_rounds, dask_client=dask_client, **setup
                )
                record["models"] = 1
        self.warmup_gbm_: LaunchGBM | None = None
        if self.gbm_ is not None and warmup is not None and cv.warmup_rounds:
            with stage("warm-up model", 0.9) as record:
                self.warmup_gbm_ = LaunchGBM(cfg).fit(
                    warmup.dataset,
                    rounds=cv.warmup_rounds,
                    dask_client=dask_client,
                    **warmup.setup,
                )
                record["models"] = 1
        self.metadata_: dict[str, Any] = {
            **self.catalogue_.summary(),
            "n_rows": 0 if rows is None else len(rows.y),
            "rounds": cv.rounds,
            "warmup_rounds": cv.warmup_rounds if self.warmup_gbm_ is not None else None,
            "served_method": self.selector_.served_,
            "fva": self.selector_.table_,
            "selection": self.selector_.decisions_,
            "warmup_decision": cv.warmup_decision,
            "folds": [{"window": list(f.window), "queries": len(f.actual)} for f in cv.folds],
            "models_fitted": sum(s.get("models", 0) for s in self.stages_),
        }
        report("done", 1.0)
        return self

    def refit(
        self,
        products: pd.DataFrame,
        sales: pd.DataFrame,
        progress: Progress | None = None,
        dask_client: Any = None,
    ) -> LaunchForecaster:
        """A new forecaster on (more) data with this one's choices, fitting each model once.

        The served method, the boosting rounds and the calibration that this forecaster's
        cross-validation chose are kept; the catalogue, neighbours, curves and (if served) the
        launch model are fitted on the new data. This is how the training job publishes: its
        backtest's model made the choices on launches before the cutoff, and the published
        model applies them to every launch without cross-validating again.
        """
        self._check_fitted()
        cfg = self.config
        report = progress or (lambda stage, done: None)
        new = LaunchForecaster(cfg)
        new.stages_ = []
        stage = _StageTimer(new.stages_, report)
        new._fit_catalogue(products, sales, stage)
        nb = new.neighbours_
        new.selector_ = self.selector_
        new.calibrator_ = self.calibrator_
        new.total_calibrator_ = self.total_calibrator_
        new.gbm_ = None
        new.warmup_gbm_ = None
        rows = None
        if self.gbm_ is not None and len(new.catalogue_) >= MIN_GBM_PRODUCTS:
            with stage("training rows", 0.3):
                rows = training_rows(
                    new.catalogue_, nb.codes_, nb.numerics_, new.curves_.global_, cfg
                )
                setup = new._gbm_setup(rows)
                dataset = _dataset(rows, setup, cfg)
            with stage("launch model", 0.4) as record:
                new.gbm_ = LaunchGBM(cfg).fit(
                    dataset, rounds=self.gbm_.rounds_, dask_client=dask_client, **setup
                )
                record["models"] = 1
            if self.warmup_gbm_ is not None:
                with stage("warm-up model", 0.7) as record:
                    warmup = new._warmup_training()
                    if warmup is not None:
                        new.warmup_gbm_ = LaunchGBM(cfg).fit(
                            warmup.dataset,
                            rounds=self.warmup_gbm_.rounds_,
                            dask_client=dask_client,
                            **warmup.setup,
                        )
                        record["models"] = 1
        new.metadata_ = {
            **new.catalogue_.summary(),
            "n_rows": 0 if rows is None else len(rows.y),
            "rounds": self.metadata_.get("rounds"),
            "warmup_rounds": None if new.warmup_gbm_ is None else new.warmup_gbm_.rounds_,
            "served_method": new.selector_.served_,
            "fva": new.selector_.table_,
            "selection": new.selector_.decisions_,
            "warmup_decision": self.metadata_.get("warmup_decision"),
            "folds": self.metadata_.get("folds", []),
            "choices_from": "the backtest's model (launches before its cutoff)",
            "models_fitted": sum(s.get("models", 0) for s in new.stages_),
        }
        report("done", 1.0)
        return new

    def _fit_catalogue(
        self, products: pd.DataFrame, sales: pd.DataFrame, stage: _StageTimer
    ) -> None:
        """The components every fit starts from: catalogue, neighbour model, curves."""
        cfg = self.config
        with stage("catalogue", 0.0):
            self.catalogue_ = LaunchCatalogue(cfg).fit(products, sales)
        with stage("neighbour index", 0.05):
            self.neighbours_ = NeighbourModel(cfg).fit(self.catalogue_)
        nb = self.neighbours_
        levels = [len(v) for v in nb.encoder_.categorical.values()]
        with stage("curves", 0.1):
            self.curves_ = CurveModel(cfg).fit(self.catalogue_.curves_, nb.codes_, levels)
            self.private_ = CrossFittedCurves(cfg).fit(
                self.catalogue_.curves_, nb.codes_, nb.encoder_.categorical
            )
            self.levels_ = LevelCeiling().fit(self.catalogue_.launch_curves, self.curves_.global_)

    def _gbm_setup(self, rows: Any) -> dict[str, Any]:
        nb = self.neighbours_
        L = self.config.launch_steps
        return {
            "feature_names": feature_names(
                list(nb.encoder_.categorical), list(nb.encoder_.numeric)
            ),
            "n_categorical": len(nb.encoder_.categorical),
            "scale_floor": 0.05 * float(np.mean(self.curves_.global_[:L])) + 1e-6,
            "min_data_in_leaf": min_rows_in_leaf(self.config, rows.rows_per_product),
        }

    def _warmup_training(self) -> Training | None:
        """The warm-up model's rows and Dataset (None when `warmup_model_observed` is empty)."""
        cfg = self.config
        if not cfg.warmup_model_observed:
            return None
        nb = self.neighbours_
        rows = warmup_rows(self.catalogue_, nb.codes_, nb.numerics_, self.curves_.global_, cfg)
        if not len(rows.y):
            return None
        setup = self._gbm_setup(rows)
        dataset = _dataset(rows, setup, cfg)
        return Training(rows, dataset, {**setup, "rows_per_round": cfg.warmup_model_rows_per_round})

    def _calibrate(
        self, cv: CrossValidation
    ) -> tuple[ConformalCalibrator, ConformalCalibrator | None]:
        """Conformal ratios of the served method on every fold (together the newest
        `cv_window` of the launches: twice the rows of the newest fold alone, which the bands
        of forecasting/calibration.py need); without folds, of the neighbour forecast on the
        newest training launches. Returns the calibrator of each step and the one of a
        forecast's total over its first h steps (h in place of the step; None without folds)."""
        cfg = self.config
        L = cfg.launch_steps
        served = self.selector_.served_
        folds = cv.folds or [f for f in [self._newest_launches()] if f is not None]
        folds = [f for f in folds if served in f.forecasts]
        if not folds:
            return ConformalCalibrator.neutral(L), None
        steps = [
            (fold.actual, fold.forecasts[served], fold.n_observed, fold.scored()) for fold in folds
        ]
        totals = []
        for fold in folds:
            n_observed = fold.n_observed
            actual, point = _first_steps_totals(fold.actual, fold.forecasts[served], n_observed)
            totals.append((actual, point, n_observed, np.isfinite(actual)))
        return _fit_calibrator(steps, cfg), _fit_calibrator(totals, cfg)

    def _newest_launches(self) -> FoldForecasts | None:
        """Neighbour forecasts of the newest fifth of the launches, from earlier launches."""
        days = self.catalogue_.launch_days_
        if len(days) < 5:
            return None
        start = int(np.quantile(days, 0.8))
        fold = Fold(self.catalogue_, start, int(days.max()) + 1, self.config, 0)
        if not fold.earlier.any() or not len(fold.product):
            return None
        nb = self.neighbours_
        q = fold.product
        L = self.config.launch_steps
        observed_total = self._observed_total(self.catalogue_.launch_curves[q], fold.n_observed)
        borrowed = nb.search(
            nb.codes_[q],
            nb.numerics_[q],
            launched_before=np.full(len(q), start, dtype=np.int64),
            exclude=[[int(r)] for r in q],
        )
        forecast = nb.forecast(borrowed, self.curves_.global_, observed_total, fold.n_observed)
        return FoldForecasts(
            ("", ""),
            self.catalogue_.launch_curves[q][:, :L],
            {"neighbours": forecast},
            fold.n_observed,
        )

    @staticmethod
    def _observed_total(curves: np.ndarray, n_observed: np.ndarray) -> np.ndarray:
        mask = np.arange(curves.shape[1])[None, :] < n_observed[:, None]
        return np.where(mask, np.nan_to_num(curves), 0.0).sum(axis=1)

    # ------------------------------------------------------------------ predicting
    @property
    def served_method(self) -> str:
        """The method the folds chose (before the fallback chain)."""
        return self.selector_.served_

    def predict(
        self,
        queries: Sequence[ForecastQuery],
        horizon: int,
        quantiles: Sequence[float] = (),
        explain: bool = False,
        details: frozenset[str] | set[str] = frozenset(),
        private: bool = False,
    ) -> list[ProductForecast]:
        """Forecast each query for `horizon` steps after its last observed step.

        Args:
            queries: Products to forecast (new, warming up or established).
            horizon: Steps to forecast (>= 1).
            quantiles: Quantile levels strictly between 0 and 1.
            explain: Include the neighbours borrowed from.
            details: "curves" (each neighbour's launch curve) and/or "drivers" (the total's
                split into a baseline and contributions); implies `explain`.
            private: The forecast role: no neighbours, curves or drivers in the answer, no
                pins, and every forecast drawn from at least `min_analogues` known products.

        Returns:
            One ProductForecast per query, in order.

        Raises:
            InvalidHistory: history before launch or not finite.
            InvalidAnalogue: a pinned or excluded analogue that is unknown or (pinned) launched
                after the product.
            ValueError: horizon < 1, a quantile outside (0, 1), unknown details, or pins
                with `private`.
        """
        check_request(horizon, quantiles)
        details = frozenset(details)
        if details - DETAILS:
            raise ValueError(
                f"unknown details {sorted(details - DETAILS)}; any of {sorted(DETAILS)}"
            )
        if private and any(q.analogues or q.exclude_analogues for q in queries):
            raise ValueError("analogues and exclude_analogues are not available in private mode")
        explain = (explain or bool(details)) and not private
        details = frozenset() if private else details
        parsed = self._parse(queries)
        L = self.config.launch_steps
        results: list[ProductForecast | None] = [None] * len(queries)
        for i in np.flatnonzero(parsed.n_observed > L):
            results[i] = self._statistical(queries[int(i)], parsed, int(i), horizon, quantiles)
        launch = np.flatnonzero(parsed.n_observed <= L)
        if len(launch):
            answers = self._launch_forecasts(
                queries, parsed, launch, horizon, quantiles, explain, details, private
            )
            for i, forecast in zip(launch, answers, strict=True):
                results[i] = forecast
        return [r for r in results if r is not None]

    def _parse(self, queries: Sequence[ForecastQuery]) -> ParsedQueries:
        self._check_fitted()
        return parse_queries(
            queries,
            self.neighbours_.encoder_,
            self.catalogue_,
            self.config.freq,
            self.config.launch_steps,
        )

    def _check_fitted(self) -> None:
        if not hasattr(self, "selector_"):
            raise RuntimeError("LaunchForecaster is not fitted")

    def predict_components(self, queries: Sequence[ForecastQuery]) -> dict[str, np.ndarray]:
        """Every method's launch curve over steps 1..launch_steps, for backtests and reports.

        Returns:
            {method: (len(queries), launch_steps)} for "global_curve", "attribute_curve",
            "neighbours", "gbm" (when fitted) and "served" (what `predict` answers, with the
            fallback chain); warm queries are moved to their observed level.
        """
        parsed = self._parse(queries)
        if (parsed.n_observed > self.config.launch_steps).any():
            raise ValueError("predict_components takes launch queries only")
        rows = np.arange(len(queries))
        parsed, factor = self._within_known_levels(parsed)
        curves, _, methods = self._components(parsed, rows, every_method=True)
        curves = {method: curve * factor[:, None] for method, curve in curves.items()}
        curves["served"] = _served(curves, methods)
        return curves

    def _within_known_levels(self, parsed: ParsedQueries) -> tuple[ParsedQueries, np.ndarray]:
        """Queries whose observed level is beyond every known product's, brought down to the
        highest known level, and the factor (m,) their forecasts are scaled up by
        (forecasting/levels.py; 1 for every other query)."""
        observed, factor = self.levels_.bound(
            parsed.observed, parsed.n_observed, self.curves_.global_
        )
        if (factor == 1.0).all():
            return parsed, factor
        return dataclasses.replace(parsed, observed=observed), factor

    def _components(
        self,
        parsed: ParsedQueries,
        rows: np.ndarray,
        every_method: bool,
        want_neighbours: bool = False,
    ) -> tuple[dict[str, np.ndarray], Borrowed | None, list[str]]:
        """Per-method launch curves of queries `rows` (only what serving needs unless
        `every_method`), who they borrowed from, and the method that answers each."""
        cfg = self.config
        L = cfg.launch_steps
        codes, numerics = parsed.codes[rows], parsed.numerics[rows]
        n_obs = parsed.n_observed[rows]
        observed_total = parsed.observed_total[rows]
        served = self.selector_.served_
        # The attribute curve answers only when it is served, or as the drivers of a
        # forecaster without a launch model; otherwise no answer reads it.
        attribute = every_method or served == "attribute_curve" or self.gbm_ is None
        curves = self.curves_.forecasts(codes, observed_total, n_obs, 1, attribute)
        # The planner steering the like items (pins or exclusions) gets a forecast borrowed
        # from the like items it approved; otherwise the method the folds chose answers.
        own = (parsed.own_rows[rows] >= 0).tolist()  # Python values: no NumPy scalar per row
        pinned = np.array(
            [
                bool(parsed.pins[i]) or len(parsed.exclude[i]) > own[j]
                for j, i in enumerate(rows.tolist())
            ],
            dtype=bool,
        )
        borrowed = None
        # The neighbours answer when served, or for a launch model a refit on too few
        # products could not fit.
        fallback = served == "neighbours" or (served == "gbm" and self.gbm_ is None)
        if (every_method or want_neighbours or fallback or pinned.any()) and len(rows):
            borrowed = self.neighbours_.search(
                codes,
                numerics,
                exclude=[parsed.exclude[i] for i in rows],
                pins=[parsed.pins[i] for i in rows],
            )
            curves["neighbours"] = self.neighbours_.forecast(
                borrowed, self.curves_.global_, observed_total, n_obs
            )
        if self.gbm_ is not None and len(rows):
            X = self._rows_X(parsed, rows)  # L rows per query, one per step
            curves["gbm"] = self.gbm_.predict(X, group=L).reshape(len(rows), L)
            warm = np.flatnonzero(warmup_answers(n_obs, cfg))
            if self.warmup_gbm_ is not None and len(warm):
                Xw = X.reshape(len(rows), L, -1)[warm].reshape(len(warm) * L, -1)
                curves["gbm"][warm] = self.warmup_gbm_.predict(Xw, group=L).reshape(len(warm), L)
        known = parsed.known[rows]
        main = served if served in curves else "neighbours"
        methods = [
            "neighbours" if pinned[j] else (main if known[j] else "global_curve")
            for j in range(len(rows))
        ]
        return curves, borrowed, methods

    def _rows_X(self, parsed: ParsedQueries, rows: np.ndarray) -> np.ndarray:
        L = self.config.launch_steps
        pairs = Pairs(
            launch_days=parsed.launch_days[rows],
            codes=parsed.codes[rows],
            numerics=parsed.numerics[rows],
            observed=parsed.observed[rows, :L],
            n_observed=parsed.n_observed[rows],
        )
        pair = np.repeat(np.arange(len(rows)), L)
        step = np.tile(np.arange(1, L + 1), len(rows))
        return build_rows(pairs, pair, step, self.curves_.global_)

    def _launch_forecasts(
        self,
        queries: Sequence[ForecastQuery],
        parsed: ParsedQueries,
        rows: np.ndarray,
        horizon: int,
        quantiles: Sequence[float],
        explain: bool,
        details: frozenset[str],
        private: bool,
    ) -> list[ProductForecast]:
        cfg = self.config
        n_obs = parsed.n_observed[rows]
        tails = None
        # The forecast role keeps the clipped level: a ceiling is one known product's sales.
        factor = np.ones(len(rows))
        if not private:
            parsed, level_factor = self._within_known_levels(parsed)
            factor = level_factor[rows]
        if private:
            launch_curves, tails, methods = self._private_curves(parsed, rows)
            curves: dict[str, np.ndarray] = {}
            borrowed = None
        else:
            curves, borrowed, methods = self._components(
                parsed, rows, False, want_neighbours=explain or "drivers" in details
            )
            launch_curves = _served(curves, methods)
        first_steps = n_obs + 1
        steps = first_steps[:, None] + np.arange(horizon)[None, :]
        points = self._extend(launch_curves, steps, tails)
        drivers = (
            self._drivers(parsed, rows, curves, methods, points, steps, factor)
            if "drivers" in details
            else None
        )
        points = points * factor[:, None]
        bands = self.calibrator_.predict(points, steps, n_obs, quantiles)
        total_bands = self._total_bands(points, n_obs, quantiles)
        # A batch's products often share a launch date: compute each calendar once.
        calendars: dict[tuple[dt.date, int], list[dt.date]] = {}
        out: list[ProductForecast] = []
        # Rows as lists of views and Python ints, taken once: indexing NumPy per product cost
        # more than building the product's answer.
        step_rows, point_rows, firsts = list(steps), list(points), first_steps.tolist()
        beyond = (factor > 1.0).tolist()
        band_rows = [(q, list(band)) for q, band in bands.items()]
        total_rows = (
            None if total_bands is None else [(q, b.tolist()) for q, b in total_bands.items()]
        )
        for j, i in enumerate(rows.tolist()):
            query = queries[i]
            key = (query.launch_date, firsts[j])
            start_dates = calendars.get(key)
            if start_dates is None:
                start_dates = calendars[key] = step_starts(query.launch_date, steps[j], cfg.freq)
            warnings = list(parsed.warnings[i])
            if methods[j] == "global_curve":
                warnings.append("no known attribute: answered with the global launch curve")
            if beyond[j]:
                warnings.append(
                    f"sales so far are {factor[j]:.3g} times the highest level any known "
                    "product reached after as many periods: forecast from that level, scaled "
                    "up in proportion"
                )
            neighbours = (
                self._neighbours(borrowed, j, horizon, "curves" in details)
                if explain and borrowed is not None and methods[j] != "global_curve"
                else []
            )
            out.append(
                ProductForecast(
                    product_id=query.product_id,
                    method=methods[j],
                    steps=step_rows[j],
                    start_dates=start_dates,
                    point=point_rows[j],
                    quantiles={q: band[j] for q, band in band_rows},
                    neighbours=neighbours,
                    warnings=warnings,
                    drivers=None if drivers is None else drivers[j],
                    total_quantiles=None
                    if total_rows is None
                    else {q: values[j] for q, values in total_rows},
                )
            )
        return out

    def _total_bands(
        self, points: np.ndarray, n_observed: np.ndarray, levels: Sequence[float]
    ) -> dict[float, np.ndarray] | None:
        """{level: (m,)} quantiles of each forecast's total over its (m, h) points, or None
        without a total calibrator. Calibrated on totals of up to launch_steps periods; a longer
        horizon reads the longest (its tail is small beside the launch)."""
        if self.total_calibrator_ is None or not len(levels):
            return None
        totals = points.sum(axis=1, keepdims=True)
        length = np.full(totals.shape, points.shape[1])
        bands = self.total_calibrator_.predict(totals, length, n_observed, levels)
        return {q: band[:, 0] for q, band in bands.items()}

    def _neighbours(
        self, borrowed: Borrowed, j: int, horizon: int, with_curves: bool
    ) -> list[Neighbour]:
        out = []
        ids = self.catalogue_.product_ids_
        curves = self.catalogue_.curves_
        for row, sim, weight in zip(
            borrowed.rows[j], borrowed.similarity[j], borrowed.weight[j], strict=True
        ):
            if row < 0:
                continue
            curve = None
            if with_curves:
                values = curves[row, :horizon]
                curve = tuple(
                    float(v)
                    for v in np.concatenate([values, np.full(horizon - len(values), np.nan)])
                )
            out.append(
                Neighbour(
                    product_id=str(ids[row]),
                    similarity=float(np.clip(sim, 0.0, 1.0)),
                    weight=float(weight),
                    curve=curve,
                )
            )
        return out

    def _private_curves(
        self, parsed: ParsedQueries, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """The forecast role's launch curves, the global curves their tails follow, and the
        method of each: curves fitted on the half of the catalogue that the query's own
        description does not hash to (forecasting/private.py), so a known product's description
        is answered without it. On a paired attack, a model that learnt from a product was
        closer to it than to the same product unseen (the launch model by 0.10 WAPE, the
        neighbours 0.10, attribute curves of >= 10 products 0.013, of >= 100 still 0.002 when
        every product was asked about: benchmarks/privacy_attack.py)."""
        L = self.config.launch_steps
        private = self.private_
        curve, attribute, answering = private.curve(parsed.codes[rows], self.config.private_group)
        tails = np.stack([half.global_ for half in private.halves_])[answering]
        launch = moved_to_observed(
            curve[:, :L], parsed.observed_total[rows], parsed.n_observed[rows]
        )
        return launch, tails, ["attribute_curve" if a else "global_curve" for a in attribute]

    def _extend(
        self, launch_curves: np.ndarray, steps: np.ndarray, tails: np.ndarray | None = None
    ) -> np.ndarray:
        """Points at `steps` (m, h) of each launch curve; past launch_steps the shape of the
        global curve (or of each row's `tails`) continues from the curve's last step (flat
        past the curves' own length)."""
        L = self.config.launch_steps
        inside = np.take_along_axis(launch_curves, np.minimum(steps, L) - 1, axis=1)
        if steps.max(initial=0) <= L:  # the common request: no tail to compute
            point = inside
        else:
            tail = self._tail(steps, tails)
            point = np.where(steps <= L, inside, launch_curves[:, L - 1 : L] * tail)
        return np.where(np.isfinite(point), np.maximum(point, 0.0), 0.0)

    def _tail(self, steps: np.ndarray, tails: np.ndarray | None = None) -> np.ndarray:
        L = self.config.launch_steps
        g = self.curves_.global_[None, :] if tails is None else tails
        g = np.broadcast_to(g, (len(steps), g.shape[1]))
        ratio = np.take_along_axis(g, np.minimum(steps, g.shape[1]) - 1, axis=1)
        return ratio / np.maximum(g[:, L - 1 : L], 1e-9)

    def _drivers(
        self,
        parsed: ParsedQueries,
        rows: np.ndarray,
        curves: dict[str, np.ndarray],
        methods: list[str],
        points: np.ndarray,
        steps: np.ndarray,
        factor: np.ndarray,
    ) -> list[Drivers]:
        """The total over the horizon as a baseline plus contributions (forecasting/drivers.py):
        `points` are the forecasts before `factor` scaled them up (a level beyond every known
        product's), and what the scaling adds is the observed history's."""
        L = self.config.launch_steps
        horizon = drivers.Horizon(
            np.minimum(steps, L) - 1, np.where(steps <= L, 1.0, self._tail(steps))
        )
        enc = self.neighbours_.encoder_
        names = [*enc.categorical, *enc.numeric]
        if "gbm" in curves and self.gbm_ is not None:
            X = self._rows_X(parsed, rows)
            n_obs = parsed.n_observed[rows]
            parts = drivers.from_launch_model(self.gbm_, X, names, horizon, n_obs)
            warm = np.flatnonzero(warmup_answers(n_obs, self.config))
            if self.warmup_gbm_ is not None and len(warm):
                # Warm queries the warm-up model answered are explained by its own trees.
                Xw = X.reshape(len(rows), L, -1)[warm].reshape(len(warm) * L, -1)
                within = drivers.Horizon(horizon.inside[warm], horizon.tail[warm])
                mine = drivers.from_launch_model(self.warmup_gbm_, Xw, names, within, n_obs[warm])
                parts.baseline[warm] = mine.baseline
                parts.columns[warm] = mine.columns
                parts.model_total[warm] = mine.model_total
        else:
            codes = parsed.codes[rows]
            own = np.where(
                (codes >= 0).any(axis=1)[:, None], curves["attribute_curve"], curves["global_curve"]
            )
            parts = drivers.from_curves(self.curves_, codes, own, names, horizon)
        total = points.sum(axis=1)
        extra = total * (factor - 1.0)
        parts.columns[:, len(names) + 2] += extra
        parts.model_total += extra
        return drivers.assemble(parts, total * factor, methods, names)

    def quantiles_for(
        self, point: np.ndarray, levels: Sequence[float], observed: int = 0
    ) -> dict[float, np.ndarray]:
        """Calibrated quantiles of (m, launch_steps) launch curves (steps 1..L) of forecasts
        that had seen `observed` periods."""
        points = np.atleast_2d(np.asarray(point, dtype=float))
        steps = np.broadcast_to(np.arange(1, points.shape[1] + 1)[None, :], points.shape)
        bands = self.calibrator_.predict(points, steps, np.full(len(points), observed), levels)
        return {q: v.reshape(np.shape(point)) for q, v in bands.items()}

    def total_quantiles_for(
        self, point: np.ndarray, levels: Sequence[float], observed: int = 0
    ) -> dict[float, np.ndarray] | None:
        """Calibrated quantiles (m,) of the totals of (m, h) forecasts that had seen `observed`
        periods (None without a total calibrator)."""
        points = np.atleast_2d(np.asarray(point, dtype=float))
        return self._total_bands(points, np.full(len(points), observed), levels)

    def curve_of(self, product_id: str) -> np.ndarray:
        """The launch curve of a training product (NaN where not reached)."""
        return np.asarray(self.catalogue_.curves_[self.catalogue_.row(product_id)])

    def attribute_summary(self) -> list[dict[str, Any]]:
        """Each attribute the model knows (see `NeighbourModel.summary`)."""
        self._check_fitted()
        return self.neighbours_.summary()

    def _statistical(
        self,
        query: ForecastQuery,
        parsed: ParsedQueries,
        i: int,
        horizon: int,
        quantiles: Sequence[float],
    ) -> ProductForecast:
        s = int(parsed.n_observed[i])
        history = parsed.observed[i, :s]
        result = forecast_series(history, horizon, self.config.freq, quantiles)
        steps = np.arange(s + 1, s + horizon + 1)
        return ProductForecast(
            product_id=query.product_id,
            method=f"statistical:{result.model}",
            steps=steps,
            start_dates=step_starts(query.launch_date, steps, self.config.freq),
            point=result.point,
            quantiles=result.quantiles,
            warnings=list(result.warnings),
        )

    # ------------------------------------------------------------------ artifacts
    def save(self, directory: Path) -> str:
        """Write the model as text/NumPy/JSON files (no pickles), each component its own.

        Returns:
            "sha256:<hex>" over every artifact file (names and bytes, in name order).
        """
        self._check_fitted()
        writer = ArtifactWriter(directory)
        self.catalogue_.save(writer)
        self.neighbours_.save(writer)
        self.curves_.save(writer)
        self.private_.save(writer)
        if self.gbm_ is not None:
            self.gbm_.save(writer)
        if self.warmup_gbm_ is not None:
            self.warmup_gbm_.save(writer, "warmup_gbm")
        writer.json("calibration", self.calibrator_.to_json())
        if self.total_calibrator_ is not None:
            writer.json("total_calibration", self.total_calibrator_.to_json())
        writer.json("selection", self.selector_.to_json())
        writer.json(
            "metadata",
            json_safe(
                {
                    "format": ARTIFACT_FORMAT,
                    "config": self.config.to_json(),
                    "has_gbm": self.gbm_ is not None,
                    "has_warmup_gbm": self.warmup_gbm_ is not None,
                    "has_total_calibration": self.total_calibrator_ is not None,
                    "training": self.metadata_,
                    "versions": _versions(),
                }
            ),
        )
        return writer.finish()

    @classmethod
    def load(cls, directory: Path, expected_checksum: str | None = None) -> LaunchForecaster:
        """Load a saved model, verifying its checksum first.

        Raises:
            ArtifactError: missing files, corrupted content or a checksum mismatch.
        """
        reader = ArtifactReader(directory, expected_checksum)
        try:
            return cls._read(reader)
        except (OSError, ValueError, KeyError, TypeError, lgb.basic.LightGBMError) as error:
            raise ArtifactError(f"model artifact in {directory} is unreadable: {error}") from error

    @classmethod
    def _read(cls, reader: ArtifactReader) -> LaunchForecaster:
        meta = reader.json("metadata")
        if meta.get("format") != ARTIFACT_FORMAT:
            raise ValueError(f"unsupported artifact format {meta.get('format')}")
        config = ForecasterConfig.from_json(meta["config"])
        self = cls(config)
        self.catalogue_ = LaunchCatalogue.load(reader, config)
        self.neighbours_ = NeighbourModel.load(reader, config, self.catalogue_)
        self.curves_ = CurveModel.load(reader, config)
        self.private_ = CrossFittedCurves.load(reader, config)
        # Derived from the catalogue and the global curve: nothing of its own to save.
        self.levels_ = LevelCeiling().fit(self.catalogue_.launch_curves, self.curves_.global_)
        self.gbm_ = LaunchGBM.load(reader, config) if meta["has_gbm"] else None
        self.warmup_gbm_ = (
            LaunchGBM.load(reader, config, "warmup_gbm") if meta.get("has_warmup_gbm") else None
        )
        self.calibrator_ = ConformalCalibrator.from_json(reader.json("calibration"))
        # An artifact from before totals were calibrated answers without a total band.
        self.total_calibrator_ = (
            ConformalCalibrator.from_json(reader.json("total_calibration"))
            if meta.get("has_total_calibration")
            else None
        )
        self.selector_ = MethodSelector.from_json(reader.json("selection"), config.selection_margin)
        self.metadata_ = dict(meta["training"])
        self.stages_ = []  # timings are the run's, not the artifact's (its checksum is the data's)
        return self


class _StageTimer:
    """Times each fitting stage and counts the models it fitted (`stages_`)."""

    def __init__(self, log: list[dict[str, Any]], report: Progress) -> None:
        self.log = log
        self.report = report

    @contextmanager
    def __call__(self, name: str, done: float) -> Iterator[dict[str, Any]]:
        self.report(name, done)
        record: dict[str, Any] = {"stage": name, "models": 0}
        start = time.perf_counter()
        yield record
        record["seconds"] = round(time.perf_counter() - start, 3)
        self.log.append(record)


def _first_steps_totals(
    actual: np.ndarray, point: np.ndarray, n_observed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(q, L) totals of actual and of point over the h steps after each query's observed ones,
    in column h - 1 (NaN where those steps pass L or one of them is unknown)."""
    L = actual.shape[1]
    sums = (np.full(actual.shape, np.nan), np.full(actual.shape, np.nan))
    for k in np.unique(n_observed).tolist():
        rows = n_observed == k
        for out, values in zip(sums, (actual, point), strict=True):
            out[rows, : L - k] = np.cumsum(values[rows, k:], axis=1)  # NaN stays NaN onwards
    return sums


def _fit_calibrator(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], cfg: ForecasterConfig
) -> ConformalCalibrator:
    """A calibrator fitted on (actual, point, n_observed, mask) of each fold: the masked cells
    of (q, L) matrices, a cell's column + 1 its step (or its count of steps, for totals)."""
    L = cfg.launch_steps
    flat: list[list[np.ndarray]] = [[], [], [], []]
    for actual, point, n_observed, mask in parts:
        column = np.broadcast_to(np.arange(1, L + 1)[None, :], mask.shape)
        observed = np.broadcast_to(n_observed[:, None], mask.shape)
        for out, values in zip(flat, (actual, point, column, observed), strict=True):
            out.append(values[mask])
    a, p, s, o = (np.concatenate(part) for part in flat)
    return ConformalCalibrator(cfg.interval_drift, cfg.interval_level_bins).fit(a, p, s, o, L)


def _dataset(rows: Any, setup: dict[str, Any], config: ForecasterConfig) -> lgb.Dataset:
    """One Dataset of every training row; folds train on subsets of it (shared bins)."""
    scale = row_scale(rows.X, setup["feature_names"], setup["scale_floor"])
    return lgb.Dataset(
        rows.X,
        rows.y / scale,
        weight=scale,
        categorical_feature=list(range(setup["n_categorical"])),
        # The training parameters, so that no fold or final fit re-bins the rows.
        params=lgbm_parameters(config, setup["min_data_in_leaf"], len(rows.y)),
        free_raw_data=False,
    )


def _served(curves: dict[str, np.ndarray], methods: list[str]) -> np.ndarray:
    """(m, L) each query's curve from the method that answers it."""
    if not methods:
        return next(iter(curves.values()))[:0]
    answering = np.array(methods)
    out = np.empty(curves[methods[0]].shape)
    for method in set(methods):  # one masked copy per method, not one row per query
        rows = answering == method
        out[rows] = curves[method][rows]
    return out


def check_request(horizon: int, quantiles: Sequence[float]) -> None:
    """Refuse a horizon below 1 or a quantile level outside (0, 1) (every predict checks this)."""
    if horizon < 1:
        raise ValueError("horizon must be at least 1")
    if any(not 0 < q < 1 for q in quantiles):
        raise ValueError("quantiles must be strictly between 0 and 1")


def _versions() -> dict[str, str]:
    import statsforecast

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "lightgbm": lgb.__version__,
        "statsforecast": statsforecast.__version__,
    }
