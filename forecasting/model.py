"""The launch forecaster: neighbours + global LightGBM models, blended, with fallbacks.

Fitting:
1. launch curves of the known products (forecasting/curves.py), global and attribute curves;
2. attribute vectors and a neighbour index; each training product's neighbours are searched
   among products launched strictly before it, never itself (no leakage into the features);
3. rows (product, observed steps 0..K, target step) with attribute, calendar, neighbour, cohort
   and warm-up features (forecasting/features.py);
4. an inner split by launch date (the most recent training launches) picks the number of
   boosting rounds of each LightGBM model (one per objective: the median-seeking L1 and the
   mean-seeking Tweedie err in opposite directions); then each is refitted on every row;
5. a rolling-origin backtest inside the training data (forecasting/blend.py) picks the blend
   weights of the LightGBM models, the neighbour forecast and the attribute curve, and
   calibrates the quantiles (conformal, multiplicative on the blended point) on its
   out-of-sample forecasts.

Predicting: the fallback chain blend -> neighbours -> attribute_curve -> global_curve, and
statsforecast for products with more history than `launch_steps` (forecasting/statistical.py).
Steps past `launch_steps` follow the global curve's shape fitted over `curve_steps` (flat where
no product was observed that long), scaled from the forecast at `launch_steps`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from forecasting.blend import Weights, best_weights, blend_cold_warm, fold_cuts
from forecasting.curves import (
    AttributeCurves,
    LaunchCurves,
    attribute_curves,
    build_launch_curves,
    category_key,
    global_curve,
)
from forecasting.errors import ArtifactError, InvalidHistory
from forecasting.features import (
    CohortLevel,
    LevelRatios,
    MarketLevel,
    PairContext,
    build_rows,
    feature_names,
    level_ratios,
    shrunk_scale,
    to_days,
)
from forecasting.neighbours import (
    FAISS_THRESHOLD,
    AttributeEncoder,
    NeighbourIndex,
    neighbour_curves,
    neighbour_weights,
)
from forecasting.periods import Frequency, step_starts, steps_of
from forecasting.statistical import forecast_series
from forecasting.types import GBM_OBJECTIVES, ForecastQuery, Neighbour, ProductForecast

Progress = Callable[[str, float], None]
ARTIFACT_FORMAT = 3  # 2: several LightGBM models, blend weights; 3: shrunk level features
MIN_GBM_PRODUCTS = 30
TUNING_MAX_PRODUCTS = 20_000  # the attribute weights are tuned on the newest launches only
CALIBRATION_LEVELS = np.round(np.linspace(0.01, 0.99, 99), 2)


@dataclass
class ForecasterConfig:
    """Everything that defines a fitted model besides the data.

    Attributes:
        freq: Period of the steps ("D", "W", "M").
        launch_steps: Steps since launch the launch model covers (longer histories go to
            statsforecast).
        curve_steps: Steps the global/attribute curves are kept for (tail beyond launch_steps).
        k: Neighbours per product.
        attribute_weights: Weight of each attribute in the similarity (default 1): the starting
            point of the tuning.
        attribute_weight_grid: Weights each attribute may try when the neighbour search is
            tuned on the most recent training launches (see `_tune_attribute_weights`; empty,
            the default: no tuning, `attribute_weights` as given). On VISUELLE the tuning
            helps the neighbour forecast but not the blend, hence off by default.
        similarity_power: Neighbour weight = similarity ** power.
        neighbour_statistic: "median" or "mean" of neighbour curves.
        neighbour_level_shrink: 0 keeps the neighbours' level, 1 replaces it by the global
            curve's level (the neighbour forecast keeps their shape either way).
        curve_statistic: "median" or "mean" for global/attribute curves.
        warmup_max_observed: K: the model learns from 0..K observed steps.
        objective: Objective of the main LightGBM model, reported as "gbm" ("l1", "tweedie",
            "poisson", "regression", ...).
        extra_objectives: One more LightGBM model per objective, reported as "gbm_<objective>"
            and offered to the blend.
        lgbm_params: Extra LightGBM parameters (override defaults).
        num_boost_round: Maximum boosting rounds (early-stopped on the inner split).
        validation_fraction: Share of the most recent training launches used as inner split
            (early stopping).
        blend_folds: Folds of the rolling-origin backtest that chooses the blend weights and
            calibrates the quantiles (0: the main GBM alone, calibrated on the inner split).
        blend_window: Share of the most recent training launches those folds forecast.
        blend_step: Grid step of the blend weights.
        cohort_lag_days / cohort_window_days / cohort_early_steps: the recent-launch level.
        num_threads: LightGBM threads (fixed for determinism).
        seed: Random seed.
        faiss_threshold: Above this many products the neighbour index uses faiss.
    """

    freq: Frequency = "W"
    launch_steps: int = 12
    curve_steps: int = 52
    k: int = 20
    attribute_weights: dict[str, float] = field(default_factory=dict)
    attribute_weight_grid: tuple[float, ...] = ()
    similarity_power: float = 2.0
    neighbour_statistic: str = "median"
    neighbour_level_shrink: float = 0.5
    curve_statistic: str = "median"
    warmup_max_observed: int = 6
    objective: str = "l1"
    extra_objectives: tuple[str, ...] = ("tweedie",)
    lgbm_params: dict[str, Any] = field(default_factory=dict)
    num_boost_round: int = 400
    validation_fraction: float = 0.2
    blend_folds: int = 4
    blend_window: float = 0.5
    blend_step: float = 0.1
    cohort_lag_days: int = 14
    cohort_window_days: int = 91
    cohort_early_steps: int = 2
    num_threads: int = 2
    seed: int = 0
    faiss_threshold: int = FAISS_THRESHOLD

    def __post_init__(self) -> None:
        # Caught here, before a training run spends minutes and fails in LightGBM's words.
        for objective in (self.objective, *self.extra_objectives):
            if objective not in GBM_OBJECTIVES:
                raise ValueError(
                    f"unknown LightGBM objective {objective!r}; one of {', '.join(GBM_OBJECTIVES)}"
                )
        if any(not (math.isfinite(w) and w >= 0) for w in self.attribute_weight_grid):
            raise ValueError("attribute_weight_grid holds finite weights >= 0 only")
        if not (0 < self.blend_step <= 1 and _divides_one(self.blend_step)):
            raise ValueError(f"blend_step must divide 1 (0.1, 0.25, ...), got {self.blend_step}")

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        data = dataclasses.asdict(self)
        data["extra_objectives"] = list(self.extra_objectives)
        data["attribute_weight_grid"] = list(self.attribute_weight_grid)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ForecasterConfig:
        """Inverse of `to_json` (unknown keys are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        for name in ("extra_objectives", "attribute_weight_grid"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)

    def gbm_objectives(self) -> dict[str, str]:
        """{component name: objective} of every LightGBM model, the main one first."""
        extra = {f"gbm_{o}": o for o in self.extra_objectives if o != self.objective}
        return {"gbm": self.objective, **extra}

    def lgbm_parameters(self, objective: str | None = None) -> dict[str, Any]:
        """LightGBM parameters: deterministic defaults, then the configured overrides."""
        params: dict[str, Any] = {
            "objective": objective or self.objective,
            "learning_rate": 0.05,
            "num_leaves": 31,
            "min_data_in_leaf": 40,
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "max_cat_to_onehot": 8,
            "cat_smooth": 20.0,
            "verbosity": -1,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.num_threads,
            "seed": self.seed,
        }
        params.update(self.lgbm_params)
        return params


@dataclass
class _Queries:
    """Parsed queries: what the features need, plus warnings per query."""

    launch_days: np.ndarray
    attributes: list[dict[str, Any]]
    codes: np.ndarray
    numerics: np.ndarray
    observed: np.ndarray  # (m, max observed) step totals
    n_observed: np.ndarray
    warnings: list[list[str]]
    known: np.ndarray  # any attribute usable


@dataclass
class _Components:
    """Per-method launch curves of a set of queries, with the neighbours behind them."""

    curves: dict[str, np.ndarray]
    idx: np.ndarray
    sims: np.ndarray
    known: np.ndarray
    n_observed: np.ndarray


class LaunchForecaster:
    """Cold-start and warm-up forecaster for product launches (see module docstring)."""

    def __init__(self, config: ForecasterConfig | None = None) -> None:
        """Create an unfitted forecaster."""
        self.config = config or ForecasterConfig()
        self.boosters_: dict[str, lgb.Booster] = {}
        self.blend_weights_: dict[str, Weights] = _only("neighbours")
        self.calibration_: dict[str, list[float]] = {}
        self.metadata_: dict[str, Any] = {}
        self.attribute_tuning_: dict[str, Any] = {}

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        products: pd.DataFrame,
        sales: pd.DataFrame,
        progress: Progress | None = None,
        dask_client: Any = None,
        boosting_rounds: Mapping[str, int] | None = None,
    ) -> LaunchForecaster:
        """Learn from known products and their sales.

        Args:
            products: Frame with product_id, launch_date, attributes.
            sales: Frame with product_id, date, quantity.
            progress: Optional callback(stage, fraction done).
            dask_client: A dask.distributed Client: the GBM is trained with DaskLGBMRegressor.
            boosting_rounds: Rounds per LightGBM model, skipping the inner split (the blend
                folds reuse the rounds their parent chose; quantiles are then calibrated on
                the neighbour forecast only).

        Returns:
            self.

        Raises:
            EmptyCatalogue: too few products with sales.
        """
        cfg = self.config
        report = progress or (lambda stage, done: None)
        report("curves", 0.0)
        n_curve = max(cfg.launch_steps, cfg.curve_steps)
        curves = build_launch_curves(products, sales, cfg.freq, n_curve)
        self._set_catalogue(curves, sales)
        report("neighbours", 0.2)
        n = len(curves)
        ctx = self._training_context()
        report("features", 0.35)
        pair, step, y, pair_product = self._training_rows(ctx)
        X = build_rows(ctx, pair, step, self.global_curve_)
        self.feature_names_ = feature_names(
            list(self.encoder_.categorical), list(self.encoder_.numeric)
        )
        nb_point = self._neighbour_point(ctx, pair, step)
        self.boosters_ = {}
        self.blend_weights_ = _only("neighbours")
        self.validation_: dict[str, Any] = {}
        if n >= MIN_GBM_PRODUCTS and len(y) > 0:
            if boosting_rounds is None:
                report("inner validation", 0.4)
                best = self._inner_validation(X, y, nb_point, pair, ctx, pair_product)
                # Refit on all rows with a few more rounds since there is more data.
                rounds = {k: round(v / (1 - cfg.validation_fraction)) for k, v in best.items()}
            else:
                best = rounds = dict(boosting_rounds)
                self._calibrate(y, nb_point, ctx.n_observed[pair])
            report("gbm", 0.55)
            self.boosters_ = {
                name: self._train(X, y, objective, rounds[name], dask_client)
                for name, objective in cfg.gbm_objectives().items()
            }
            self.blend_weights_ = _only("gbm")
            folds = self._fold_forecasts(products, sales, curves, best, report, dask_client)
            if folds is not None:
                self._choose_blend(*folds)
        else:
            self._calibrate(y, nb_point, ctx.n_observed[pair])
        self.metadata_ = {
            "attribute_tuning": self.attribute_tuning_,
            "n_products": int(n),
            "n_rows": len(y),
            "n_clipped": int(curves.n_clipped),
            "n_skipped": int(curves.n_skipped),
            "training_data_sha256": _data_hash(curves),
            "first_launch": str(curves.launch_dates.min().astype("datetime64[D]")),
            "last_launch": str(curves.launch_dates.max().astype("datetime64[D]")),
        }
        report("done", 1.0)
        return self

    def _set_catalogue(self, curves: LaunchCurves, sales: pd.DataFrame) -> None:
        cfg = self.config
        self.product_ids_ = curves.product_ids.astype(str)
        self.launch_days_ = to_days(curves.launch_dates)
        self.curves_ = curves.values
        self.encoder_ = AttributeEncoder.fit(curves.attributes, cfg.attribute_weights)
        self.codes_ = self.encoder_.codes(curves.attributes)
        self.numerics_ = self.encoder_.numerics(curves.attributes)
        self.global_curve_ = global_curve(curves.values, cfg.curve_statistic)
        self._tune_attribute_weights()
        self.vectors_ = self.encoder_.vectors_from(self.codes_, self.numerics_)
        self.attribute_curves_ = attribute_curves(
            curves, list(self.encoder_.categorical), cfg.curve_statistic
        )
        self._fit_context(self.launch_days_, curves.values, sales)
        self._build_index()

    def _tune_attribute_weights(self) -> None:
        """Weights of the neighbour search's attributes, tuned like a backtest.

        The most recent training launches (`validation_fraction`) are forecast by their
        neighbours among products launched before each, as served (level pulled towards the
        global curve), and scored by WAPE. The older half of them tunes the weights (one pass of
        coordinate descent, each attribute trying `attribute_weight_grid`); the newer half
        confirms: the tuned weights are kept only if they beat the starting ones there too, so
        noise fitted on one half is not shipped. Sets `encoder_` and `attribute_tuning_`.
        """
        cfg = self.config
        names = self.encoder_.names
        weights = {name: self.encoder_.weight(name) for name in names}
        self.attribute_tuning_ = {"weights": weights, "kept": False}
        rows = np.argsort(self.launch_days_, kind="stable")[-TUNING_MAX_PRODUCTS:]
        days = self.launch_days_[rows]
        recent = np.flatnonzero(days >= np.quantile(days, 1 - cfg.validation_fraction))
        tune, confirm = recent[: len(recent) // 2], recent[len(recent) // 2 :]
        if not cfg.attribute_weight_grid or not names or min(len(tune), len(confirm)) < 10:
            return
        best = self._neighbour_wape(weights, rows, tune)
        tuned = weights
        for name in names:
            for value in cfg.attribute_weight_grid:
                trial = {**tuned, name: float(value)}
                if trial == tuned or not any(trial.values()):
                    continue
                error = self._neighbour_wape(trial, rows, tune)
                # Strictly better only: ties keep the earlier weights (deterministic).
                if error < best * (1 - 1e-9):
                    best, tuned = error, trial
        before = self._neighbour_wape(weights, rows, confirm)
        after = self._neighbour_wape(tuned, rows, confirm) if tuned != weights else before
        kept = after < before * (1 - 1e-9)
        chosen = tuned if kept else weights
        self.attribute_tuning_ = {
            "weights": chosen,
            "tuned": tuned,
            "kept": kept,
            "confirm_wape_before": before,
            "confirm_wape_after": after,
        }
        self.encoder_ = dataclasses.replace(self.encoder_, weights=chosen)

    def _neighbour_wape(
        self, weights: Mapping[str, float], rows: np.ndarray, valid: np.ndarray
    ) -> float:
        """WAPE of the neighbour curve of products rows[valid] under these attribute weights,
        neighbours from rows launched before each (never the product itself)."""
        L = self.config.launch_steps
        encoder = dataclasses.replace(self.encoder_, weights=dict(weights))
        vectors = encoder.vectors_from(self.codes_[rows], self.numerics_[rows])
        days = self.launch_days_[rows]
        index = NeighbourIndex(vectors, days, faiss_threshold=len(rows) + 1)
        idx, sims = index.query(vectors[valid], self.config.k, valid, days[valid])
        curve = self._neighbour_curve(np.where(idx >= 0, rows[idx], -1), sims)
        curve = curve * self._level_pull(curve)[:, None]  # scored as served
        actual = self.curves_[rows[valid], :L]
        seen = np.isfinite(actual)
        return _wape(actual[seen], curve[seen])

    def _context(self, launch_days: np.ndarray) -> np.ndarray:
        """Launch-time context features (CONTEXT_NAMES) per launch day."""
        return np.column_stack([self.cohort_.at(launch_days), self.market_.at(launch_days)])

    def update_context(self, products: pd.DataFrame, sales: pd.DataFrame) -> None:
        """Refresh the launch-time context (recent cohort and market levels) from newer data.

        The model's curves, neighbours and GBM stay as fitted; only the levels "known at
        launch" move forward, each computed from sales dated before the launch it describes.
        Without a refresh, launches after the training data use the last known levels.

        Args:
            products: Frame with product_id, launch_date, attributes (e.g. the whole catalogue).
            sales: Frame with product_id, date, quantity.
        """
        cfg = self.config
        curves = build_launch_curves(products, sales, cfg.freq, cfg.cohort_early_steps)
        self._fit_context(to_days(curves.launch_dates), curves.values, sales)

    def _fit_context(
        self, launch_days: np.ndarray, curves: np.ndarray, sales: pd.DataFrame
    ) -> None:
        """The recent-cohort and market levels behind the launch-time context features."""
        cfg = self.config
        last_day = int(
            to_days(np.array([pd.to_datetime(sales["date"]).max()], dtype="datetime64[ns]"))[0]
        )
        self.cohort_ = CohortLevel.fit(
            launch_days,
            curves,
            cfg.cohort_early_steps,
            cfg.cohort_lag_days,
            cfg.cohort_window_days,
            last_day,
        )
        self.market_ = _market(sales)

    def _build_index(self) -> None:
        """Lookup structures derived from the fitted state (rebuilt on load, never saved)."""
        self.index_ = NeighbourIndex(self.vectors_, self.launch_days_, self.config.faiss_threshold)
        self._row_of = {pid: i for i, pid in enumerate(self.product_ids_)}
        # Every attribute value's shrunk curve in one table (a NaN row last, for unknown
        # values), so a batch's attribute curves are one gather whatever its size.
        L = self.config.launch_steps
        tables = [
            self.attribute_curves_.shrunk_table(name, levels)[:, :L]
            for name, levels in self.encoder_.categorical.items()
        ]
        self._attribute_rows = np.concatenate([*tables, np.full((1, L), np.nan)])
        self._attribute_offsets = np.cumsum([0] + [len(t) for t in tables])[:-1]

    def _attribute_curve(self, codes: np.ndarray) -> np.ndarray:
        """(m, L) attribute curve per query: the mean of the shrunk curves of its known
        categorical values (`AttributeCurves.curve_for`, by level code); NaN rows where no
        value is known."""
        unknown_row = len(self._attribute_rows) - 1
        index = np.where(codes >= 0, codes + self._attribute_offsets[None, :], unknown_row)
        gathered = self._attribute_rows[index]  # (m, n_categorical, L)
        usable = np.isfinite(gathered).all(axis=2)
        total = np.where(usable[:, :, None], gathered, 0.0).sum(axis=1)
        count = usable.sum(axis=1)[:, None]
        return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)

    def _training_context(self) -> PairContext:
        """Neighbour features of every training product, from earlier launches only."""
        cfg = self.config
        n = len(self.product_ids_)
        idx, sims = self.index_.query(
            self.vectors_, cfg.k, exclude=np.arange(n), launched_before=self.launch_days_
        )
        self.training_neighbours_ = idx
        L = cfg.launch_steps
        nb = self._neighbour_curve(idx, sims)
        return PairContext(
            launch_days=self.launch_days_,
            codes=self.codes_,
            numerics=self.numerics_,
            neighbour_curve=nb,
            neighbour_similarity=_mean_similarity(idx, sims),
            observed=self.curves_[:, :L],
            n_observed=np.zeros(n, dtype=np.int64),
            context=self._context(self.launch_days_),
        )

    def _neighbour_curve(self, idx: np.ndarray, sims: np.ndarray) -> np.ndarray:
        """Neighbour curve over launch_steps; global curve where no neighbour qualifies."""
        L = self.config.launch_steps
        weights = neighbour_weights(sims, idx, self.config.similarity_power)
        nb = neighbour_curves(self.curves_[:, :L], idx, weights, self.config.neighbour_statistic)
        return np.where(np.isfinite(nb), nb, self.global_curve_[None, :L])

    def _training_rows(
        self, base: PairContext
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Expand products into (pair, step) rows for 0..K observed steps; updates `base` in place.

        Returns (pair index, step, target, product row of the pair).
        """
        cfg = self.config
        n, L = len(self.product_ids_), cfg.launch_steps
        K = min(cfg.warmup_max_observed, L - 1)
        product = np.repeat(np.arange(n), K + 1)
        observed = np.tile(np.arange(K + 1), n)
        reached = np.isfinite(self.curves_[:, :L]).sum(axis=1)
        usable = reached[product] > observed  # at least one target step after the observed ones
        product, observed = product[usable], observed[usable]
        for name in ("launch_days", "codes", "numerics", "neighbour_curve", "neighbour_similarity"):
            setattr(base, name, getattr(base, name)[product])
        base.observed = self.curves_[product, :L]
        base.context = base.context[product]
        base.n_observed = observed
        steps = np.arange(1, L + 1)
        pair = np.repeat(np.arange(len(product)), L)
        step = np.tile(steps, len(product))
        target = self.curves_[product[pair], step - 1]
        keep = (step > observed[pair]) & np.isfinite(target)
        return pair[keep], step[keep], target[keep], product

    def _neighbour_point(
        self,
        ctx: PairContext,
        pair: np.ndarray,
        step: np.ndarray,
        ratios: LevelRatios | None = None,
    ) -> np.ndarray:
        """The neighbour forecast per row, moved towards the observed level when warm
        (`shrunk_scale`)."""
        ratio_nb = (ratios or level_ratios(ctx, self.global_curve_)).to_neighbours
        scale = shrunk_scale(ratio_nb, ctx.n_observed)
        scale = scale * self._level_pull(ctx.neighbour_curve)
        return np.maximum(ctx.neighbour_curve[pair, step - 1] * scale[pair], 0.0)

    def _level_pull(self, neighbour_curve: np.ndarray) -> np.ndarray:
        """Per product, the factor that pulls a neighbour curve's level towards the global
        curve's (its shape is kept): (global / neighbour level) ** neighbour_level_shrink.
        Attributes say little about a launch's level."""
        L = self.config.launch_steps
        nb_total = np.nansum(neighbour_curve[:, :L], axis=1)
        gl_total = float(np.sum(self.global_curve_[:L]))
        level = np.power((gl_total + 1e-9) / (nb_total + 1e-9), self.config.neighbour_level_shrink)
        return np.clip(level, 0.1, 10.0)

    def _row_scale(self, X: np.ndarray) -> np.ndarray:
        """The expected level of each row: the GBM learns y / scale weighted by scale.

        Minimising sum(scale * |y / scale - r|) is minimising sum|y - scale * r|, the WAPE
        numerator, while trees split on multiplicative effects (a warm product's observed level
        carries over to every later step).
        """
        column = self.feature_names_.index("global_step_rescaled")
        floor = 0.05 * float(np.mean(self.global_curve_[: self.config.launch_steps])) + 1e-6
        scale = X[:, column]
        return np.maximum(np.where(np.isfinite(scale), scale, 0.0), floor)

    def _gbm_predict(
        self, booster: lgb.Booster, X: np.ndarray, num_iteration: int | None = None
    ) -> np.ndarray:
        # Small batches predict faster on one thread: OpenMP start-up costs more than it saves.
        threads = 1 if len(X) < 5000 else self.config.num_threads
        raw = booster.predict(X, num_iteration=num_iteration, num_threads=threads)
        return np.maximum(raw, 0.0) * self._row_scale(X)

    def _inner_validation(
        self,
        X: np.ndarray,
        y: np.ndarray,
        nb_point: np.ndarray,
        pair: np.ndarray,
        ctx: PairContext,
        pair_product: np.ndarray,
    ) -> dict[str, int]:
        """Fit on older launches, score the most recent: the best boosting rounds of each
        LightGBM model, and a first calibration on the main model (replaced by the blend
        folds')."""
        cfg = self.config
        objectives = cfg.gbm_objectives()
        days = self.launch_days_[pair_product[pair]]
        cut = np.quantile(self.launch_days_, 1 - cfg.validation_fraction)
        train, valid = days < cut, days >= cut
        if train.sum() == 0 or valid.sum() == 0:
            self._calibrate(y, nb_point, ctx.n_observed[pair])
            return dict.fromkeys(objectives, cfg.num_boost_round)
        scale = self._row_scale(X)
        train_set = lgb.Dataset(
            X[train],
            y[train] / scale[train],
            weight=scale[train],
            categorical_feature=self._categorical_columns(),
            free_raw_data=False,
        )
        valid_set = lgb.Dataset(
            X[valid], y[valid] / scale[valid], weight=scale[valid], reference=train_set
        )
        rounds: dict[str, int] = {}
        predictions: dict[str, np.ndarray] = {}
        for name, objective in objectives.items():
            booster = lgb.train(
                {**cfg.lgbm_parameters(objective), "metric": "l1"},
                train_set,
                num_boost_round=cfg.num_boost_round,
                valid_sets=[valid_set],
                callbacks=[lgb.early_stopping(50, verbose=False)],
            )
            rounds[name] = max(int(booster.best_iteration or cfg.num_boost_round), 20)
            predictions[name] = self._gbm_predict(booster, X[valid], num_iteration=rounds[name])
        predictions["neighbours"] = nb_point[valid]
        self.validation_ = {
            "rounds": rounds,
            **{f"{name}_wape": _wape(y[valid], v) for name, v in predictions.items()},
        }
        self._calibrate(y[valid], predictions["gbm"], ctx.n_observed[pair][valid])
        return rounds

    def _choose_blend(
        self, actual: np.ndarray, components: Mapping[str, np.ndarray], n_observed: np.ndarray
    ) -> None:
        """Blend weights (cold and warm) and quantile calibration from the out-of-sample
        forecasts of the rolling-origin backtest inside the training data (`_fold_forecasts`,
        see forecasting/blend.py)."""
        step = self.config.blend_step
        warm = n_observed > 0
        self.blend_weights_ = {
            name: best_weights(actual[rows], {c: v[rows] for c, v in components.items()}, step)
            for name, rows in (("cold", ~warm), ("warm", warm))
            if rows.any()
        }
        self.blend_weights_.setdefault("warm", self.blend_weights_["cold"])
        point = blend_cold_warm(components, self.blend_weights_, warm)
        self._calibrate(actual, point, n_observed)
        scores = {**components, "blend": point}
        self.validation_["blend_folds"] = {
            "weights": self.blend_weights_,
            "rows": len(actual),
            **{
                f"{name}_{method}_wape": _wape(actual[rows], values[rows])
                for name, rows in (("cold", ~warm), ("warm", warm))
                for method, values in scores.items()
            },
        }

    def _fold_forecasts(
        self,
        products: pd.DataFrame,
        sales: pd.DataFrame,
        curves: LaunchCurves,
        rounds: Mapping[str, int],
        report: Progress,
        dask_client: Any,
    ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray] | None:
        """Out-of-sample component forecasts of the most recent training launches.

        Each fold fits a forecaster (without folds of its own, with the boosting rounds the
        inner split chose) on the launches before its window and forecasts the window's
        products cold, and warm with 1..K steps observed (K = warmup_max_observed, cycling
        over the products).

        Returns:
            (actual, {component: forecast}, observed steps), one entry per scored
            (product, step) row, or None when no fold has enough earlier launches.
        """
        cfg = self.config
        L = cfg.launch_steps
        K = max(1, min(cfg.warmup_max_observed, L - 1))
        fold_config = dataclasses.replace(cfg, blend_folds=0)
        cuts = fold_cuts(self.launch_days_, cfg.blend_folds, cfg.blend_window)
        parts: list[tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]] = []
        for number, (start, end) in enumerate(cuts):
            report(f"blend fold {number + 1}/{len(cuts)}", 0.6 + 0.4 * number / len(cuts))
            earlier = self.launch_days_ < start
            window = np.flatnonzero((self.launch_days_ >= start) & (self.launch_days_ < end))
            if earlier.sum() < MIN_GBM_PRODUCTS or len(window) == 0:
                continue
            known = set(self.product_ids_[earlier])
            model = LaunchForecaster(fold_config).fit(
                products[products["product_id"].astype(str).isin(known)],
                sales[sales["product_id"].astype(str).isin(known)],
                dask_client=dask_client,
                boosting_rounds=rounds,
            )
            if not model.boosters_:
                continue
            observed = 1 + np.arange(len(window)) % K
            parts.append(self._window_forecasts(model, curves, window, np.zeros_like(observed)))
            # Warm: only products whose observed steps were all reached.
            given = np.arange(K)[None, :] < observed[:, None]
            reached = (np.isfinite(self.curves_[window, :K]) | ~given).all(axis=1)
            parts.append(self._window_forecasts(model, curves, window[reached], observed[reached]))
        parts = [p for p in parts if len(p[0])]
        if not parts:
            return None
        names = list(parts[0][1])
        return (
            np.concatenate([p[0] for p in parts]),
            {name: np.concatenate([p[1][name] for p in parts]) for name in names},
            np.concatenate([p[2] for p in parts]),
        )

    def _window_forecasts(
        self,
        model: LaunchForecaster,
        curves: LaunchCurves,
        rows: np.ndarray,
        observed: np.ndarray,
    ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """A fold model's component forecasts of training products `rows`, each with its
        first `observed` steps given as history, on the steps after those (flat arrays)."""
        L = self.config.launch_steps
        if len(rows) == 0:
            return np.zeros(0), {}, np.zeros(0, dtype=np.int64)
        actual = self.curves_[rows, :L]
        queries = [
            ForecastQuery(
                launch_date=pd.Timestamp(curves.launch_dates[r]).date(),
                attributes=curves.attributes[r],
                history=_history(
                    pd.Timestamp(curves.launch_dates[r]).date(), actual[j, :s], self.config.freq
                ),
            )
            for j, (r, s) in enumerate(zip(rows, observed, strict=True))
        ]
        forecasts = model.predict_components(queries)
        scored = (np.arange(1, L + 1)[None, :] > observed[:, None]) & np.isfinite(actual)
        names = [*model.boosters_, "neighbours", "attribute_curve"]
        return (
            actual[scored],
            {name: forecasts[name][scored] for name in names},
            np.broadcast_to(observed[:, None], actual.shape)[scored],
        )

    def _categorical_columns(self) -> list[int]:
        return list(range(len(self.encoder_.categorical)))

    def _train(
        self, X: np.ndarray, y: np.ndarray, objective: str, rounds: int, dask_client: Any
    ) -> lgb.Booster:
        params = self.config.lgbm_parameters(objective)
        scale = self._row_scale(X)
        target = y / scale
        if dask_client is not None:
            return _train_dask(
                X, target, scale, params, rounds, self._categorical_columns(), dask_client
            )
        data = lgb.Dataset(X, target, weight=scale, categorical_feature=self._categorical_columns())
        return lgb.train(params, data, num_boost_round=rounds)

    def _calibrate(self, y: np.ndarray, point: np.ndarray, n_observed: np.ndarray) -> None:
        """Conformal quantiles of y / point, separately for cold and warm rows."""
        calibration: dict[str, list[float]] = {}
        for name, rows in (("cold", n_observed == 0), ("warm", n_observed > 0)):
            ok = rows & (point > 1e-9)
            if ok.sum() < 20:
                ok = point > 1e-9
            if ok.sum() == 0:
                calibration[name] = [1.0] * len(CALIBRATION_LEVELS)
                continue
            ratios = y[ok] / point[ok]
            calibration[name] = [float(v) for v in np.quantile(ratios, CALIBRATION_LEVELS)]
        self.calibration_ = calibration

    # ------------------------------------------------------------------ predicting
    def predict(
        self,
        queries: Sequence[ForecastQuery],
        horizon: int,
        quantiles: Sequence[float] = (),
        explain: bool = False,
    ) -> list[ProductForecast]:
        """Forecast each query for `horizon` steps after its last observed step.

        Args:
            queries: Products to forecast (new, warming up or established).
            horizon: Steps to forecast (>= 1).
            quantiles: Quantile levels strictly between 0 and 1.
            explain: Include the neighbours used.

        Returns:
            One ProductForecast per query, in order.

        Raises:
            InvalidHistory: history before launch or not finite.
            ValueError: horizon < 1 or a quantile outside (0, 1).
        """
        check_request(horizon, quantiles)
        self._check_fitted()
        parsed = self._parse(queries)
        L = self.config.launch_steps
        long_history = parsed.n_observed > L
        results: list[ProductForecast | None] = [None] * len(queries)
        for i in np.flatnonzero(long_history):
            results[i] = self._statistical(queries[int(i)], parsed, int(i), horizon, quantiles)
        launch = np.flatnonzero(~long_history)
        if len(launch):
            for i, forecast in zip(
                launch,
                self._launch_forecasts(queries, parsed, launch, horizon, quantiles, explain),
                strict=True,
            ):
                results[i] = forecast
        return [r for r in results if r is not None]

    def _check_fitted(self) -> None:
        if not hasattr(self, "curves_"):
            raise RuntimeError("LaunchForecaster is not fitted")

    def _parse(self, queries: Sequence[ForecastQuery]) -> _Queries:
        m = len(queries)
        launch_days = np.array([_day(q.launch_date) for q in queries], dtype=np.int64)
        attributes = [dict(q.attributes or {}) for q in queries]
        codes = self.encoder_.codes(attributes)
        numerics = self.encoder_.numerics(attributes)
        observed_lists = [self._history_steps(q, i) for i, q in enumerate(queries)]
        n_obs = np.array([len(o) for o in observed_lists], dtype=np.int64)
        width = max([self.config.launch_steps, *n_obs.tolist()])
        observed = np.full((m, width), np.nan)
        for i, o in enumerate(observed_lists):
            observed[i, : len(o)] = o
        warnings = [self._attribute_warnings(a, codes[i]) for i, a in enumerate(attributes)]
        known = (codes >= 0).any(axis=1) | np.isfinite(numerics).any(axis=1)
        return _Queries(launch_days, attributes, codes, numerics, observed, n_obs, warnings, known)

    def _history_steps(self, query: ForecastQuery, position: int) -> np.ndarray:
        """Observed step totals 1..s (s = step of the last observation; gaps are zeros)."""
        if not query.history:
            return np.zeros(0)
        dates = pd.Series(pd.to_datetime([d for d, _ in query.history]))
        quantity = np.array([float(v) for _, v in query.history])
        if not np.isfinite(quantity).all():
            raise InvalidHistory(
                "history quantities must be finite",
                [{"field": f"products[{position}].history", "message": "not a finite number"}],
            )
        launch = pd.Series(np.full(len(dates), pd.Timestamp(query.launch_date)))
        steps = steps_of(launch, dates, self.config.freq)
        if (steps < 1).any():
            raise InvalidHistory(
                "history dated before the launch date",
                [{"field": f"products[{position}].history", "message": "dated before launch_date"}],
            )
        totals = np.zeros(int(steps.max()))
        np.add.at(totals, steps - 1, quantity)
        return np.maximum(totals, 0.0)

    def _attribute_warnings(self, attributes: Mapping[str, Any], codes: np.ndarray) -> list[str]:
        out: list[str] = []
        enc = self.encoder_
        for j, name in enumerate(enc.categorical):
            value = attributes.get(name)
            if value is None:
                out.append(f"attribute {name} is missing; treated as unknown")
            elif codes[j] < 0:
                out.append(
                    f"attribute {name}={category_key(value)} was never seen in training; "
                    "treated as unknown"
                )
        for name in enc.numeric:
            value = attributes.get(name)
            if value is None:
                out.append(f"attribute {name} is missing; treated as unknown")
            elif not _is_finite_number(value):
                out.append(f"attribute {name}={value} is not a number; treated as unknown")
        for name in attributes:
            if name not in enc.categorical and name not in enc.numeric:
                out.append(f"attribute {name} is unknown to the model; ignored")
        return out

    def predict_components(self, queries: Sequence[ForecastQuery]) -> dict[str, np.ndarray]:
        """Every method's launch curve over steps 1..launch_steps, for backtests and reports.

        Args:
            queries: Products with at most `launch_steps` observed steps.

        Returns:
            {method: (len(queries), launch_steps) array} for "global_curve", "attribute_curve"
            (the global curve where no categorical value is known), "neighbours", each LightGBM
            model ("gbm", "gbm_<objective>"; absent without them) and "blend"; warm queries are
            rescaled to their observed level.
        """
        self._check_fitted()
        parsed = self._parse(queries)
        if (parsed.n_observed > self.config.launch_steps).any():
            raise ValueError("predict_components takes launch queries only")
        return self._components(queries, parsed, np.arange(len(queries)), every_model=True).curves

    def _components(
        self,
        queries: Sequence[ForecastQuery],
        parsed: _Queries,
        rows: np.ndarray,
        every_model: bool = False,
    ) -> _Components:
        """Per-method curves of queries `rows`; only the LightGBM models the blend weighs
        unless `every_model` (a model with no weight costs serving time for nothing)."""
        cfg = self.config
        L = cfg.launch_steps
        m = len(rows)
        codes, numerics = parsed.codes[rows], parsed.numerics[rows]
        vectors = self.encoder_.vectors_from(codes, numerics)
        exclude = np.array(
            [self._row_of.get(queries[i].product_id or "", -1) for i in rows], dtype=np.int64
        )
        idx, sims = self.index_.query(vectors, cfg.k, exclude=exclude)
        n_obs = parsed.n_observed[rows]
        ctx = PairContext(
            launch_days=parsed.launch_days[rows],
            codes=codes,
            numerics=numerics,
            neighbour_curve=self._neighbour_curve(idx, sims),
            neighbour_similarity=_mean_similarity(idx, sims),
            observed=parsed.observed[rows, :L],
            n_observed=n_obs,
            context=self._context(parsed.launch_days[rows]),
        )
        pair = np.repeat(np.arange(m), L)
        step = np.tile(np.arange(1, L + 1), m)
        curves: dict[str, np.ndarray] = {}
        ratios = level_ratios(ctx, self.global_curve_)
        gl_scale = shrunk_scale(ratios.to_global, n_obs)
        curves["global_curve"] = self.global_curve_[None, :L] * gl_scale[:, None]
        attribute = self._attribute_curve(codes)
        attr_ctx = dataclasses.replace(ctx, neighbour_curve=attribute)
        attr_scale = shrunk_scale(level_ratios(attr_ctx, self.global_curve_).to_neighbours, n_obs)
        # Where no attribute value is known the attribute curve is the global one (also in
        # the blend, which may weigh it).
        curves["attribute_curve"] = np.where(
            np.isfinite(attribute), attribute * attr_scale[:, None], curves["global_curve"]
        )
        nb_point = self._neighbour_point(ctx, pair, step, ratios).reshape(m, L)
        curves["neighbours"] = nb_point
        if self.boosters_ and m:
            X = build_rows(ctx, pair, step, self.global_curve_, ratios)
            weighed = set(self.blend_weights_["cold"]) | set(self.blend_weights_["warm"])
            for name, booster in self.boosters_.items():
                if every_model or name in weighed:
                    curves[name] = self._gbm_predict(booster, X).reshape(m, L)
        curves["blend"] = blend_cold_warm(curves, self.blend_weights_, n_obs > 0) if m else nb_point
        known = parsed.known[rows]
        return _Components(curves, idx, sims, known, n_obs)

    def _launch_forecasts(
        self,
        queries: Sequence[ForecastQuery],
        parsed: _Queries,
        rows: np.ndarray,
        horizon: int,
        quantiles: Sequence[float],
        explain: bool,
    ) -> list[ProductForecast]:
        cfg = self.config
        parts = self._components(queries, parsed, rows)
        weights = (
            neighbour_weights(parts.sims, parts.idx, cfg.similarity_power) if explain else None
        )
        # The fallback chain: blend -> neighbours (no GBM) -> global curve (nothing known).
        main = "blend" if self.boosters_ else "neighbours"
        launch_curves = np.where(
            parts.known[:, None], parts.curves[main], parts.curves["global_curve"]
        )
        first_steps = parts.n_observed + 1
        points = self._extend(launch_curves, first_steps, horizon)
        bands = self._quantile_bands(points, quantiles, parts.n_observed > 0)
        # A batch's products often share a launch date: compute each calendar once.
        calendars: dict[tuple[dt.date, int], list[dt.date]] = {}
        out: list[ProductForecast] = []
        for j, i in enumerate(rows):
            steps = np.arange(first_steps[j], first_steps[j] + horizon)
            key = (queries[i].launch_date, int(first_steps[j]))
            if key not in calendars:
                calendars[key] = step_starts(queries[i].launch_date, steps, cfg.freq)
            warnings = list(parsed.warnings[i])
            if not parts.known[j]:
                warnings.append("no known attribute: answered with the global launch curve")
            neighbours = (
                _neighbours(self.product_ids_, parts.idx[j], parts.sims[j], weights[j])
                if weights is not None and parts.known[j]
                else []
            )
            out.append(
                ProductForecast(
                    product_id=queries[i].product_id,
                    method=main if parts.known[j] else "global_curve",
                    steps=steps,
                    start_dates=calendars[key],
                    point=points[j],
                    quantiles={q: band[j] for q, band in bands.items()},
                    neighbours=neighbours,
                    warnings=warnings,
                )
            )
        return out

    def _extend(
        self, launch_curves: np.ndarray, first_steps: np.ndarray, horizon: int
    ) -> np.ndarray:
        """(m, horizon) points for steps first..first+horizon-1 of each launch curve; past
        launch_steps the global curve's shape continues from the curve's last step."""
        L = self.config.launch_steps
        g = self.global_curve_
        steps = first_steps[:, None] + np.arange(horizon)[None, :]
        inside = np.take_along_axis(launch_curves, np.minimum(steps, L) - 1, axis=1)
        shape = g[np.minimum(steps, len(g)) - 1] / max(g[L - 1], 1e-9)
        point = np.where(steps <= L, inside, launch_curves[:, L - 1 : L] * shape)
        return np.where(np.isfinite(point), np.maximum(point, 0.0), 0.0)

    def quantiles_for(
        self, point: np.ndarray, levels: Sequence[float], warm: bool
    ) -> dict[float, np.ndarray]:
        """Calibrated quantiles of any point forecast array (multiplicative, sorted, >= 0)."""
        flat = self._quantiles(np.asarray(point, dtype=float).ravel(), levels, warm)
        return {q: v.reshape(np.shape(point)) for q, v in flat.items()}

    def attribute_summary(self) -> list[dict[str, Any]]:
        """What the model knows of each attribute, for clients that validate or offer choices.

        Returns:
            One dict per attribute, categorical first: `{"name", "kind": "categorical",
            "values": [{"value", "count"}]}` (count = training products carrying the value) or
            `{"name", "kind": "numeric", "min", "median", "max"}` over the training products
            that carry a finite value (None when none does).
        """
        self._check_fitted()
        out: list[dict[str, Any]] = []
        for j, (name, levels) in enumerate(self.encoder_.categorical.items()):
            counts = np.bincount(self.codes_[:, j][self.codes_[:, j] >= 0], minlength=len(levels))
            values = [{"value": v, "count": int(c)} for v, c in zip(levels, counts, strict=True)]
            out.append({"name": name, "kind": "categorical", "values": values})
        for j, name in enumerate(self.encoder_.numeric):
            column = self.numerics_[:, j]
            column = column[np.isfinite(column)]
            stats = (
                {
                    k: float(f(column))
                    for k, f in (("min", np.min), ("median", np.median), ("max", np.max))
                }
                if len(column)
                else {"min": None, "median": None, "max": None}
            )
            out.append({"name": name, "kind": "numeric", **stats})
        return out

    def curve_of(self, product_id: str) -> np.ndarray:
        """The launch curve of a training product (NaN where not reached)."""
        return np.asarray(self.curves_[self._row_of[product_id]])

    def _quantiles(
        self, point: np.ndarray, levels: Sequence[float], warm: bool
    ) -> dict[float, np.ndarray]:
        bands = self._quantile_bands(point[None, :], levels, np.array([warm]))
        return {q: band[0] for q, band in bands.items()}

    def _quantile_bands(
        self, points: np.ndarray, levels: Sequence[float], warm: np.ndarray
    ) -> dict[float, np.ndarray]:
        """{level: (m, h)} calibrated quantiles of (m, h) points: the point times the level's
        calibrated ratio (warm or cold), sorted across levels so they never cross, >= 0."""
        if not len(levels):
            return {}
        ordered = sorted(levels)
        factors = {
            name: np.interp(ordered, CALIBRATION_LEVELS, np.asarray(ratios))
            for name, ratios in self.calibration_.items()
        }
        per_row = np.where(warm[:, None], factors["warm"][None, :], factors["cold"][None, :])
        stacked = np.sort(np.maximum(points[:, :, None] * per_row[:, None, :], 0.0), axis=2)
        return {q: stacked[:, :, j] for j, q in enumerate(ordered)}

    def _statistical(
        self,
        query: ForecastQuery,
        parsed: _Queries,
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
        """Write the model as text/NumPy/JSON files (no pickles).

        Args:
            directory: Created if missing; existing artifact files are overwritten.

        Returns:
            "sha256:<hex>" over every artifact file (names and bytes, in name order).
        """
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {
            "product_ids": self.product_ids_.astype(str),
            "launch_days": self.launch_days_,
            "curves": self.curves_,
            "codes": self.codes_,
            "numerics": self.numerics_,
            "global_curve": self.global_curve_,
            "cohort_days": self.cohort_.sorted_days,
            "cohort_sum": self.cohort_.cumulative_sum,
            "cohort_count": self.cohort_.cumulative_count,
            "market_days": self.market_.days,
            "market_sum": self.market_.cumulative_sum,
            "market_count": self.market_.cumulative_count,
        }
        for name, array in arrays.items():
            np.save(directory / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        for name, booster in self.boosters_.items():
            (directory / f"{name}.txt").write_text(booster.model_to_string())
        meta = {
            "format": ARTIFACT_FORMAT,
            "config": self.config.to_json(),
            "encoder": self.encoder_.to_json(),
            "feature_names": self.feature_names_,
            "categorical_features": [self.feature_names_[i] for i in self._categorical_columns()],
            "blend_weights": self.blend_weights_,
            "calibration": self.calibration_,
            "calibration_levels": CALIBRATION_LEVELS.tolist(),
            "attribute_curves": {
                name: {
                    value: {"curve": curve.tolist(), "n": count}
                    for value, (curve, count) in table.items()
                }
                for name, table in self.attribute_curves_.by_value.items()
            },
            "attribute_shrinkage": self.attribute_curves_.shrinkage,
            "cohort": {
                "lag_days": self.cohort_.lag_days,
                "window_days": self.cohort_.window_days,
                "last_day": self.cohort_.last_day,
                "market_last_day": self.market_.last_day,
            },
            "gbm_models": list(self.boosters_),
            "training": self.metadata_,
            "validation": getattr(self, "validation_", {}),
            "versions": _versions(),
        }
        (directory / "metadata.json").write_text(json.dumps(meta, sort_keys=True, indent=1))
        checksum = artifact_checksum(directory)
        (directory / "CHECKSUM").write_text(checksum + "\n")
        return checksum

    @classmethod
    def load(cls, directory: Path, expected_checksum: str | None = None) -> LaunchForecaster:
        """Load a saved model, verifying its checksum.

        Args:
            directory: What `save` wrote.
            expected_checksum: "sha256:<hex>" the artifact must have (e.g. from the registry);
                when None, the CHECKSUM file written by `save` is checked instead.

        Raises:
            ArtifactError: missing files, corrupted content or a checksum mismatch.
        """
        directory = Path(directory)
        if not (directory / "metadata.json").is_file():
            raise ArtifactError(f"no model artifact in {directory}")
        try:
            actual = artifact_checksum(directory)
            recorded = (
                (directory / "CHECKSUM").read_text().strip()
                if (directory / "CHECKSUM").is_file()
                else None
            )
        except OSError as error:
            raise ArtifactError(f"cannot read model artifact in {directory}: {error}") from error
        expected = expected_checksum or recorded
        if expected is None:
            raise ArtifactError(f"model artifact in {directory} has no checksum to verify")
        if actual != expected:
            raise ArtifactError(
                f"model artifact in {directory} fails its checksum: "
                f"expected {expected}, got {actual}"
            )
        try:
            return cls._read(directory)
        except (OSError, ValueError, KeyError, TypeError, lgb.basic.LightGBMError) as error:
            raise ArtifactError(f"model artifact in {directory} is unreadable: {error}") from error

    @classmethod
    def _read(cls, directory: Path) -> LaunchForecaster:
        meta = json.loads((directory / "metadata.json").read_text())
        if meta.get("format") != ARTIFACT_FORMAT:
            raise ValueError(f"unsupported artifact format {meta.get('format')}")
        self = cls(ForecasterConfig.from_json(meta["config"]))

        def array(name: str) -> np.ndarray:
            return np.load(directory / f"{name}.npy", allow_pickle=False)

        self.product_ids_ = array("product_ids").astype(str)
        self.launch_days_ = array("launch_days")
        self.curves_ = array("curves")
        self.codes_ = array("codes")
        self.numerics_ = array("numerics")
        self.global_curve_ = array("global_curve")
        self.encoder_ = AttributeEncoder.from_json(meta["encoder"])
        self.vectors_ = self.encoder_.vectors_from(self.codes_, self.numerics_)
        self.feature_names_ = list(meta["feature_names"])
        self.blend_weights_ = {
            kind: {name: float(w) for name, w in weights.items()}
            for kind, weights in meta["blend_weights"].items()
        }
        self.calibration_ = {k: list(v) for k, v in meta["calibration"].items()}
        self.attribute_curves_ = AttributeCurves(
            global_=self.global_curve_,
            by_value={
                name: {
                    value: (np.asarray(e["curve"], dtype=float), int(e["n"]))
                    for value, e in table.items()
                }
                for name, table in meta["attribute_curves"].items()
            },
            shrinkage=float(meta["attribute_shrinkage"]),
        )
        cohort = meta["cohort"]
        self.cohort_ = CohortLevel(
            array("cohort_days"),
            array("cohort_sum"),
            array("cohort_count"),
            int(cohort["lag_days"]),
            int(cohort["window_days"]),
            int(cohort["last_day"]),
        )
        self.market_ = MarketLevel(
            array("market_days"),
            array("market_sum"),
            array("market_count"),
            int(array("market_days")[-1]),
        )
        self.boosters_ = {
            name: lgb.Booster(model_str=(directory / f"{name}.txt").read_text())
            for name in meta["gbm_models"]
        }
        self.metadata_ = dict(meta["training"])
        self.validation_ = dict(meta.get("validation", {}))
        self._build_index()
        return self


def check_request(horizon: int, quantiles: Sequence[float]) -> None:
    """Refuse a horizon below 1 or a quantile level outside (0, 1) (every predict checks this)."""
    if horizon < 1:
        raise ValueError("horizon must be at least 1")
    if any(not 0 < q < 1 for q in quantiles):
        raise ValueError("quantiles must be strictly between 0 and 1")


def artifact_checksum(directory: Path) -> str:
    """sha256 over the names and bytes of every artifact file except CHECKSUM, in name order."""
    digest = hashlib.sha256()
    files = sorted(p for p in Path(directory).iterdir() if p.is_file() and p.name != "CHECKSUM")
    for path in files:
        digest.update(path.name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return "sha256:" + digest.hexdigest()


def _train_dask(
    X: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    params: dict[str, Any],
    rounds: int,
    categorical: list[int],
    client: Any,
) -> lgb.Booster:
    """Train with lightgbm.DaskLGBMRegressor on a few partitions of the rows.

    lightgbm.dask builds on scikit-learn; without it the model is trained by one Dask worker
    (same result as the local engine) so the engine still runs on the cluster.
    """
    import dask.array as da

    try:
        import sklearn  # noqa: F401
    except ImportError:
        text = client.submit(
            _train_text, X, y, weight, params, rounds, categorical, pure=False
        ).result()
        return lgb.Booster(model_str=text)

    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    chunk = max(1, -(-len(y) // (2 * n_workers)))
    dX = da.from_array(X, chunks=(chunk, X.shape[1]))
    dy = da.from_array(y, chunks=(chunk,))
    kwargs = {k: v for k, v in params.items() if k not in {"num_threads", "seed", "verbosity"}}
    model = lgb.DaskLGBMRegressor(
        client=client,
        n_estimators=rounds,
        random_state=params.get("seed", 0),
        n_jobs=params.get("num_threads", 1),
        verbose=-1,
        **kwargs,
    )
    dw = da.from_array(weight, chunks=(chunk,))
    model.fit(dX, dy, sample_weight=dw, categorical_feature=categorical)
    return model.to_local().booster_


def _train_text(
    X: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    params: dict[str, Any],
    rounds: int,
    categorical: list[int],
) -> str:
    data = lgb.Dataset(X, y, weight=weight, categorical_feature=categorical)
    return str(lgb.train(params, data, num_boost_round=rounds).model_to_string())


def _divides_one(step: float) -> bool:
    units = 1 / step
    return abs(units - round(units)) < 1e-9


def _only(component: str) -> dict[str, Weights]:
    """Blend weights that give one component all the weight, cold and warm."""
    return {"cold": {component: 1.0}, "warm": {component: 1.0}}


def _history(
    launch: dt.date, values: np.ndarray, freq: Frequency
) -> tuple[tuple[dt.date, float], ...]:
    """Step totals 1..len(values) as a query history dated on each step's first day."""
    starts = step_starts(launch, np.arange(1, len(values) + 1), freq)
    return tuple((day, float(v)) for day, v in zip(starts, values, strict=True))


def _market(sales: pd.DataFrame) -> MarketLevel:
    days = to_days(pd.to_datetime(sales["date"]).to_numpy(dtype="datetime64[ns]"))
    return MarketLevel.fit(days, np.maximum(sales["quantity"].to_numpy(dtype=float), 0.0))


def _wape(y: np.ndarray, yhat: np.ndarray) -> float:
    total = float(np.abs(y).sum())
    return float(100 * np.abs(y - yhat).sum() / total) if total > 0 else float("nan")


def _mean_similarity(idx: np.ndarray, sims: np.ndarray) -> np.ndarray:
    valid = idx >= 0
    count = valid.sum(axis=1)
    return np.divide(
        np.where(valid, sims, 0).sum(axis=1), count, out=np.zeros(len(idx)), where=count > 0
    )


def _neighbours(
    ids: np.ndarray, idx: np.ndarray, sims: np.ndarray, weights: np.ndarray
) -> list[Neighbour]:
    return [
        Neighbour(product_id=str(ids[i]), similarity=float(np.clip(s, 0.0, 1.0)), weight=float(w))
        for i, s, w in zip(idx, sims, weights, strict=True)
        if i >= 0
    ]


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def _day(value: Any) -> int:
    """Days since 1970-01-01 of a date (or anything pandas reads as one)."""
    day = value if type(value) is dt.date else pd.Timestamp(value).date()
    return day.toordinal() - _EPOCH_ORDINAL


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _data_hash(curves: LaunchCurves) -> str:
    digest = hashlib.sha256()
    digest.update("\n".join(curves.product_ids.astype(str)).encode())
    digest.update(to_days(curves.launch_dates).tobytes())
    digest.update(np.nan_to_num(curves.values, nan=-1.0).tobytes())
    digest.update(json.dumps(curves.attributes, sort_keys=True, default=str).encode())
    return "sha256:" + digest.hexdigest()


def _versions() -> dict[str, str]:
    import statsforecast

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "lightgbm": lgb.__version__,
        "statsforecast": statsforecast.__version__,
    }
