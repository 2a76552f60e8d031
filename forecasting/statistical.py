"""Forecasts for established products (more history than the launch model covers).

`StatisticalSelector` chooses, per series, among statsforecast models by a rolling-origin backtest
on that series' own last windows: Naive, WindowAverage, SeasonalNaive (when every backtest
origin has a full season before it), CrostonOptimized and ADIDA (intermittent series only) and
AutoETS, tried from the simplest. A model replaces the one chosen so far only if its backtest
error is lower by `SELECTION_MARGIN` and it also beats Naive by that margin on every backtest
origin, the latest included: a model that won on the early origins and lost on the late ones is
not served (issue 12). A series too short for the full backtest (every window at the horizon
asked) gets Naive: a few one-step windows are too little evidence to serve a forecast 12 steps
long. So the model served is Naive or beat it everywhere it was tried; simple wins ties. On the
benchmark this serves Naive on nearly every demo series and SeasonalNaive on some seasonal
VISUELLE aggregates (benchmarks/statistical_accuracy.py). The 10-90% (or any) interval comes
from the chosen model's backtest errors (split conformal, as statsforecast's
`ConformalIntervals` does from the same kind of windows, pooled over steps), each divided by its
window's level and multiplied by the series' level now: a product's errors grow and shrink with
its sales, and a fading product's older windows sold more than it does now. A window's level is
its level at the origin moved towards what the window itself sold (see `window_level`): after a
pause or from a near-zero start the level at the origin is about 1 unit, and the errors of the
window where sales resumed, divided by it, came out tens of times the level (a product selling
24 a week after a 37-week pause had a 90% quantile of 553). Errors that are nearly all zero (a
series flat through its backtest, then one sale) say nothing of the spread: fewer than
MIN_INTERVAL_ERRORS nonzero ones count as too few, as fewer errors do.
(With the errors as they were, 10-90% intervals held 0.93-0.98 of the demo's holdout weeks and
0.53-0.73 of VISUELLE's aggregates; scaled, 0.79-0.88 and 0.63-0.92, closer to 0.80 on 13 of the
15 runs: see CHANGELOG.md.)

A series that is too short or flat, or whose product has stopped selling, gets Naive with a
warning that says why. The answer names the model that produced it; the forecaster serves it as
"statistical:<ModelName>".

Every fit (backtest window or forecast) sees at most the last FIT_LENGTH periods: the models
are local, and a long daily history would otherwise cost seconds per AutoETS fit.

The backtest calls each model's `forecast` on the truncated series rather than
`StatsForecast.cross_validation`: the same windows and numbers, but the frame round trip of the
latter costs about 10 ms per series (3 windows of 4 models: 24 vs 14 ms at 52 periods, 37 vs
29 ms at 104), paid inside a forecast request.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forecasting.periods import Frequency

SEASON_LENGTH: dict[str, int] = {"D": 7, "W": 52, "M": 12}
# The moving average spans about a month: a level that moves, without chasing one period's noise.
WINDOW_SIZE: dict[str, int] = {"D": 7, "W": 4, "M": 3}
# Every model is fitted on at most the last FIT_LENGTH periods (a year of days, three years of
# weeks, ten of months): the models are local, and AutoETS costs about 2 ms a period per fit
# with a weekly season. Three years of days took 12-17 s a product (7 fits), a request's whole
# budget; capped, 1-4 s, with the same AutoETS holdout error on noisy weekly-seasonal series.
FIT_LENGTH: dict[str, int] = {"D": 364, "W": 156, "M": 120}
MIN_LENGTH = 6  # below this no model is fitted, the fallback answers
INTERMITTENT_ZERO_SHARE = 0.3
# statsforecast's ETS drops the seasonal component above 24 periods a season (weekly data): a
# seasonal AutoETS there only costs time, so ETS is fitted without season and SeasonalNaive
# carries the yearly pattern.
MAX_ETS_SEASON = 24
# Backtest: this many origins, BACKTEST_STEP periods apart (overlapping windows: more origins
# for the same stretch of recent history), each forecasting the request's horizon.
BACKTEST_WINDOWS = 6
BACKTEST_STEP = 2
# A model more complex than the one chosen so far must lower the backtest MAE by this share, and
# beat Naive's MAE by it on every backtest window (0.1: on the benchmark 0.05 let two losses to
# Naive through and 0.2 gave up most of SeasonalNaive's gains on VISUELLE; see CHANGELOG.md).
SELECTION_MARGIN = 0.1
# A product with no sales at the end of its history has stopped when a seller at its recent
# rate would go that long without a sale with probability below this (see stopped_selling).
STOP_PROBABILITY = 0.01
STOP_RATE_WINDOW = 8
STOP_GAP_WINDOW = 4 * STOP_RATE_WINDOW
# Fewer nonzero backtest errors than this give no usable interval: the model's own (or the
# recent spread) is used instead.
MIN_INTERVAL_ERRORS = 6
# A backtest window's level is the geometric blend level_at_origin ** (1 - w) * level_sold ** w,
# w = LEVEL_WEIGHT_UP when the window sold more than the level at its origin (a resumption after
# a pause, a ramp), LEVEL_WEIGHT_DOWN when less (a fade). With w = 0 (the level at the origin
# alone) a product resuming after a pause got intervals tens of times its sales; the level sold
# wherever higher (w = 1 up, 0 down) narrowed VISUELLE's intervals to 0.60-0.80 coverage, and
# capping the ratio of today's level to the origin's at 2 cut it to 0.57-0.63; 0.75 up widened
# the demo's as this does but narrowed VISUELLE's (see window_level).
LEVEL_WEIGHT_UP = 0.5
LEVEL_WEIGHT_DOWN = 0.25


@dataclass
class StatisticalForecast:
    """Point and quantile forecast of one series."""

    model: str
    point: np.ndarray
    quantiles: dict[float, np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _candidates(y: np.ndarray, freq: Frequency, first_cutoff: int) -> list[Any]:
    """The models to try on `y`, simplest first (the order decides ties).

    SeasonalNaive joins when every backtest origin has a full season before it (so it is scored
    on every window like the others), AutoETS is seasonal when two seasons are observed.
    """
    from statsforecast.models import (
        ADIDA,
        AutoETS,
        CrostonOptimized,
        Naive,
        SeasonalNaive,
        WindowAverage,
    )

    season = SEASON_LENGTH[freq]
    models: list[Any] = [Naive(), WindowAverage(window_size=WINDOW_SIZE[freq])]
    if first_cutoff >= season:
        models.append(SeasonalNaive(season_length=season))
    if np.mean(y == 0) >= INTERMITTENT_ZERO_SHARE:
        models += [CrostonOptimized(), ADIDA()]
    seasonal = len(y) >= 2 * season and season <= MAX_ETS_SEASON
    models.append(AutoETS(season_length=season if seasonal else 1))
    return models


def _quiet_forecast(model: Any, y: np.ndarray, h: int, level: list[float] | None = None) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if level:
            return model.forecast(y=y, h=h, level=level)
        return model.forecast(y=y, h=h)


def backtest_cutoffs(n: int, horizon: int) -> tuple[int, list[int]]:
    """(horizon, origins) of the rolling-origin backtest on a series of `n` periods.

    BACKTEST_WINDOWS origins, BACKTEST_STEP periods apart, the last one `horizon` periods before
    the end; each leaves at least MIN_LENGTH periods to fit on. A short series is backtested on a
    shorter horizon first, then on fewer windows; none when it is too short for one.
    """
    span = BACKTEST_STEP * (BACKTEST_WINDOWS - 1)
    h = min(horizon, max(1, n - MIN_LENGTH - span))
    room = n - MIN_LENGTH - h
    if room < 0:
        return h, []
    n_windows = min(BACKTEST_WINDOWS, room // BACKTEST_STEP + 1)
    return h, [n - h - BACKTEST_STEP * k for k in reversed(range(n_windows))]


def stopped_selling(y: np.ndarray) -> bool:
    """The periods without sales at the end are implausible for a product still on sale.

    A seller at the rate of the STOP_RATE_WINDOW periods before the gap (Poisson) would see that
    many empty periods with probability below STOP_PROBABILITY: the product has most likely
    stopped (sold out, delisted), and the last value (0) is the forecast, whatever the windows
    before the stop favoured. Intermittent sellers (low rate) need a long gap to qualify. A
    gap no longer than one the product sold again after within the STOP_GAP_WINDOW periods
    before it is its usual rhythm, not a stop: sales that come in lumps (a weekly delivery on a
    daily deployment: six empty days in seven) are not Poisson at the lumps' mean.
    """
    sold = np.flatnonzero(y > 0)
    if not len(sold):
        return True
    gap = len(y) - 1 - int(sold[-1])
    if gap == 0:
        return False
    rate = float(np.mean(y[: len(y) - gap][-STOP_RATE_WINDOW:]))
    if gap * rate <= -np.log(STOP_PROBABILITY):
        return False
    recent = sold[sold >= sold[-1] - STOP_GAP_WINDOW]
    return not len(recent) > 1 or int(np.diff(recent).max()) - 1 < gap


class StatisticalSelector:
    """Per-series model choice by backtest, in the shape of a statsforecast model.

    Args:
        freq: Frequency of the steps (sets the season and the window length).
        h: Horizon of the backtest windows (the horizon that will be asked).

    Attributes (after `fit`):
        model_: Name of the chosen model.
        scores_: Backtest MAE of every candidate (inf when it failed or gave non-finite values).
        window_scores_: Backtest MAE of every candidate per window, oldest first (empty when it
            failed).
        errors_: Backtest errors (actual - forecast) of the chosen model, windows x steps.
        origin_levels_: Each window's level (see `window_level`), windows.
        warnings_: What went differently from the plan, for the answer's warnings.
    """

    def __init__(self, freq: Frequency, h: int) -> None:
        self.freq = freq
        self.h = h

    def fit(self, y: np.ndarray) -> StatisticalSelector:
        """Backtest the candidates on the last windows of `y` and keep the chosen one."""
        self.y_ = np.asarray(y, dtype=float)
        self.warnings_: list[str] = []
        h, cutoffs = backtest_cutoffs(len(self.y_), self.h)
        models = _candidates(self.y_, self.freq, cutoffs[0] if cutoffs else 0)
        if not cutoffs:
            self.warnings_.append("too short to backtest: Naive used")
        elif stopped_selling(self.y_):
            self.warnings_.append("no sales lately, unlikely at the recent rate: Naive used")
        elif h < self.h or len(cutoffs) < BACKTEST_WINDOWS:
            self.warnings_.append(
                f"history too short for a full backtest ({BACKTEST_WINDOWS} windows of "
                f"{self.h} periods): Naive used"
            )
        # Naive is always scored: its backtest errors give the interval when it is served.
        tried = models if cutoffs and not self.warnings_ else models[:1]
        self.scores_: dict[str, float] = {}
        self.window_scores_: dict[str, np.ndarray] = {}
        errors: dict[str, np.ndarray] = {}
        for model in tried:
            name = repr(model)
            errors[name] = self._window_errors(model, cutoffs, h)
            self.window_scores_[name] = np.abs(errors[name]).mean(axis=1)
            mae = float(np.abs(errors[name]).mean()) if errors[name].size else float("inf")
            self.scores_[name] = mae if np.isfinite(mae) else float("inf")
        chosen = tried[0]
        for model in tried[1:]:
            if self._beats(repr(model), repr(chosen)):
                chosen = model
        self.chosen_ = chosen
        self.model_ = repr(chosen)
        self.errors_ = errors[self.model_]
        self.origin_levels_ = np.array(
            [window_level(self.y_[:c], self.y_[c : c + h], self.freq) for c in cutoffs]
        )
        return self

    def _beats(self, name: str, chosen: str) -> bool:
        """`name` lowers the chosen model's backtest MAE by the margin and Naive's on every
        window: winning on average while losing on the latest origins is not enough."""
        if not self.scores_[name] < (1 - SELECTION_MARGIN) * self.scores_[chosen]:
            return False
        windows, naive = self.window_scores_[name], self.window_scores_["Naive"]
        return bool(
            windows.shape == naive.shape and (windows < (1 - SELECTION_MARGIN) * naive).all()
        )

    def _window_errors(self, model: Any, cutoffs: list[int], h: int) -> np.ndarray:
        """Actual - forecast on every window (one row per window), or an empty array on failure."""
        rows = []
        for cutoff in cutoffs:
            try:
                fitted = self.y_[max(0, cutoff - FIT_LENGTH[self.freq]) : cutoff]
                mean = np.asarray(_quiet_forecast(model, fitted, h)["mean"], float)
            except Exception:
                return np.empty((0, h))
            rows.append(self.y_[cutoff : cutoff + h] - mean)
        return np.array(rows, dtype=float).reshape(len(cutoffs), h)

    def predict(self, h: int, quantiles: Sequence[float] = ()) -> StatisticalForecast:
        """Forecast `h` steps with the chosen model refitted on the whole series.

        Quantiles come from the backtest errors brought to today's level (the 10-90% interval
        is the point plus and minus the 80th percentile of |error|); with too few of them, from
        the model's own interval, else from the spread of the recent periods. All are clipped
        at 0 and sorted.
        """
        notes = list(self.warnings_)
        name = self.model_
        fitted = self.y_[-FIT_LENGTH[self.freq] :]
        try:
            point = np.asarray(_quiet_forecast(self.chosen_, fitted, h)["mean"], dtype=float)
        except Exception as error:
            notes.append(f"{name} failed ({type(error).__name__}); Naive used")
            name, point = "Naive", np.full(h, self.y_[-1])
        if not np.isfinite(point).all():
            notes.append(f"{name} gave non-finite values; Naive used")
            name, point = "Naive", np.full(h, self.y_[-1])
        errors = self._errors_at_todays_level() if name == self.model_ else np.empty(0)
        qs = {q: self._quantile(name, point, errors, q, h) for q in quantiles}
        return _finish(name, point, qs, quantiles, notes)

    def _errors_at_todays_level(self) -> np.ndarray:
        """The backtest errors (finite ones, flat), each as a share of its window's level (see
        `window_level`), times the level at the end of the series (none when the model failed
        on the backtest)."""
        if len(self.errors_) != len(self.origin_levels_):
            return np.empty(0)
        relative = self.errors_ / self.origin_levels_[:, None]
        return relative[np.isfinite(relative)] * recent_level(self.y_, self.freq)

    def _quantile(
        self, name: str, point: np.ndarray, errors: np.ndarray, q: float, h: int
    ) -> np.ndarray:
        if abs(q - 0.5) < 1e-9:
            return point
        # Zeros only say the series was flat through the backtest (zeros, then one sale of 1000
        # gave [1000, 1000]): the nonzero errors must be enough on their own.
        if np.count_nonzero(np.abs(errors) > 1e-9) >= MIN_INTERVAL_ERRORS:
            # Symmetric, as statsforecast's conformal_distribution: the |error| not exceeded with
            # the interval's probability, both sides of the point.
            spread = float(np.quantile(np.abs(errors), abs(2 * q - 1)))
            return point + np.sign(q - 0.5) * spread
        fitted = self.y_[-FIT_LENGTH[self.freq] :]
        native = _native_bound(self.chosen_ if name == self.model_ else None, fitted, h, q)
        if native is not None:
            return native
        return np.full(h, float(np.quantile(self.y_[-52:], q)))


def recent_level(y: np.ndarray, freq: Frequency) -> float:
    """A series' level at its end: the mean of its last WINDOW_SIZE periods, plus one unit, so
    that a slow seller's few units or none never make the level zero."""
    return float(np.mean(y[-WINDOW_SIZE[freq] :])) + 1.0 if len(y) else 1.0


def window_level(before: np.ndarray, sold: np.ndarray, freq: Frequency) -> float:
    """The level a backtest window's errors are divided by: its level at the origin
    (`recent_level` of the periods `before` it), moved geometrically towards the mean of what
    it `sold` (plus one unit): by LEVEL_WEIGHT_UP when that is higher, LEVEL_WEIGHT_DOWN when
    lower.

    An origin in a pause has a level of 1 however much the product sells around it; its window's
    errors, divided by 1, are each a multiple of today's level. The level at the origin keeps
    most of its weight: the windows where sales took off are the evidence that they can (on
    VISUELLE's aggregates, whose seasons start from nothing, intervals scaled by the level sold
    wherever higher covered 0.60-0.80 of the holdout weeks instead of 0.63-0.92).
    """
    origin = recent_level(before, freq)
    level_sold = float(np.mean(sold)) + 1.0 if len(sold) else origin
    weight = LEVEL_WEIGHT_UP if level_sold > origin else LEVEL_WEIGHT_DOWN
    return float(origin ** (1 - weight) * level_sold**weight)


def _level(q: float) -> int | float:
    """The statsforecast interval level (percent) whose bound is quantile `q`."""
    level = round(abs(2 * q - 1) * 100, 6)
    return int(level) if float(level).is_integer() else level


def _native_bound(model: Any, y: np.ndarray, h: int, q: float) -> np.ndarray | None:
    """The model's own interval bound for quantile `q`, or None when it has none."""
    if model is None or getattr(model, "only_conformal_intervals", False):
        return None
    level = _level(q)
    try:
        result = _quiet_forecast(model, y, h, level=[level])
    except Exception:
        return None
    bound = result.get(f"{'lo' if q < 0.5 else 'hi'}-{level}")
    if bound is None or not np.isfinite(bound).all():
        return None
    return np.asarray(bound, dtype=float)


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
    y = np.maximum(np.nan_to_num(np.asarray(y, dtype=float)), 0.0)
    if len(y) < MIN_LENGTH or np.ptp(y) == 0:
        note = (
            f"only {len(y)} observed periods: fallback model used"
            if len(y) < MIN_LENGTH
            else "flat history: fallback model used"
        )
        last = np.full(horizon, float(y[-1]) if len(y) else 0.0)
        return _finish("Naive", last, {q: last for q in quantiles}, quantiles, [note])
    return StatisticalSelector(freq, horizon).fit(y).predict(horizon, quantiles)


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
