"""Feature rows of the global model: one row per (product, observed steps, target step).

The same functions build training rows and serving rows, so serving sees the very features
training saw. A "pair" is a product with its first `n_observed` steps known (0 = cold start);
each pair expands into rows for the steps after the observed ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

# Seconds are not needed: launch dates travel as int64 days since 1970-01-01.
EPOCH = np.datetime64("1970-01-01", "D")
RATIO_PRIOR = 1.0  # pseudo-units that keep level ratios finite when little was observed
# A few observed steps are a noisy measure of a launch's level (the launch week is often
# partial), so a level ratio is shrunk towards 1 in log space: ratio ** (s / (s + this)) after
# s observed steps. On VISUELLE's 2018 launches (weeks 3-12 after 2 observed) the full ratio
# scales the global curve to a WAPE of 79.5, the square root (s = 2) to 58.9, cold is 65.8.
LEVEL_PRIOR_STEPS = 2.0
MARKET_WINDOWS = (7, 28)
YEAR_DAYS = 364
CONTEXT_NAMES = (
    "cohort_level",
    *(f"market_{w}d" for w in MARKET_WINDOWS),
    f"market_{MARKET_WINDOWS[-1]}d_year_on_year",
)


def to_days(dates: np.ndarray) -> np.ndarray:
    """datetime64 array -> int64 days since epoch."""
    return (np.asarray(dates).astype("datetime64[D]") - EPOCH).astype(np.int64)


@dataclass
class PairContext:
    """Everything known about each pair before its target steps.

    Attributes:
        launch_days: (m,) launch date, days since epoch.
        codes: (m, n_cat) categorical level codes, -1 unknown.
        numerics: (m, n_num) numeric attributes, NaN unknown.
        neighbour_curve: (m, L) similarity-weighted neighbour curve.
        neighbour_similarity: (m,) mean similarity of the neighbours used.
        observed: (m, L) observed step totals, NaN beyond `n_observed`.
        n_observed: (m,) observed steps.
        context: (m, c) launch-time context: recent cohort and market levels (see
            `CONTEXT_NAMES`), all from sales dated before the launch.
    """

    launch_days: np.ndarray
    codes: np.ndarray
    numerics: np.ndarray
    neighbour_curve: np.ndarray
    neighbour_similarity: np.ndarray
    observed: np.ndarray
    n_observed: np.ndarray
    context: np.ndarray


def feature_names(categorical: list[str], numeric: list[str]) -> list[str]:
    """Column names of the feature matrix, in order."""
    return (
        [f"cat:{name}" for name in categorical]
        + [f"num:{name}" for name in numeric]
        + [
            "launch_month",
            "launch_week",
            "step",
            "n_observed",
            "neighbour_step",
            "neighbour_level",
            "neighbour_similarity",
            "global_step",
            *CONTEXT_NAMES,
            "observed_mean",
            "observed_1",
            "observed_2",
            "observed_last",
            "ratio_to_neighbours",
            "ratio_to_global",
            "neighbour_step_rescaled",
            "global_step_rescaled",
        ]
    )


class LevelRatios(NamedTuple):
    """Per pair: observed mean, last observed value, ratio of observed to neighbour / global
    (NaN where nothing was observed)."""

    mean: np.ndarray
    last: np.ndarray
    to_neighbours: np.ndarray
    to_global: np.ndarray


def level_ratios(ctx: PairContext, global_curve: np.ndarray) -> LevelRatios:
    """How the observed steps of each pair compare with its neighbours and the global curve."""
    steps = ctx.observed.shape[1]
    mask = np.arange(steps)[None, :] < ctx.n_observed[:, None]
    # np.where over isfinite, not np.nan_to_num: same values here (inputs are finite or NaN)
    # at a fraction of the cost, which matters on the one-product serving path.
    observed = np.where(mask & np.isfinite(ctx.observed), ctx.observed, 0.0)
    total = observed.sum(axis=1)
    count = ctx.n_observed.astype(float)
    has = count > 0
    mean = np.where(has, total / np.maximum(count, 1), np.nan)
    last_index = np.maximum(ctx.n_observed - 1, 0)
    last = np.where(has, observed[np.arange(len(observed)), last_index], np.nan)
    neighbour = ctx.neighbour_curve
    nb_total = np.where(mask & np.isfinite(neighbour), neighbour, 0.0).sum(axis=1)
    gl_total = np.where(mask, global_curve[None, :steps], 0.0).sum(axis=1)
    ratio_nb = np.where(has, (total + RATIO_PRIOR) / (nb_total + RATIO_PRIOR), np.nan)
    ratio_gl = np.where(has, (total + RATIO_PRIOR) / (gl_total + RATIO_PRIOR), np.nan)
    return LevelRatios(mean, last, ratio_nb, ratio_gl)


def shrunk_scale(ratio: np.ndarray, n_observed: np.ndarray) -> np.ndarray:
    """The factor that moves a curve towards the observed level: the level ratio shrunk
    towards 1 (see `LEVEL_PRIOR_STEPS`), 1 where nothing was observed, clipped to [0.1, 10]."""
    s = n_observed.astype(float)
    shrunk = np.power(np.where(np.isfinite(ratio), ratio, 1.0), s / (s + LEVEL_PRIOR_STEPS))
    return np.clip(shrunk, 0.1, 10.0)


def build_rows(
    ctx: PairContext,
    pair: np.ndarray,
    step: np.ndarray,
    global_curve: np.ndarray,
    ratios: LevelRatios | None = None,
) -> np.ndarray:
    """Feature matrix for rows (pair index, 1-based target step).

    Args:
        ctx: Pair contexts.
        pair: (r,) pair index per row.
        step: (r,) target step per row (1-based, <= L).
        global_curve: (>= L,) global launch curve.
        ratios: `level_ratios(ctx, global_curve)` when the caller already has them.

    Returns:
        (r, n_features) float64 matrix in `feature_names` order.
    """
    mean, last, ratio_nb, ratio_gl = (
        ratios if ratios is not None else level_ratios(ctx, global_curve)
    )
    steps = ctx.observed.shape[1]
    launch = ctx.launch_days[pair].astype("datetime64[D]")
    month = launch.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day_of_year = (launch - launch.astype("datetime64[Y]")).astype(np.int64)
    codes = ctx.codes[pair].astype(float)
    codes[codes < 0] = np.nan
    nb_step = ctx.neighbour_curve[pair, step - 1]
    nb_level = (
        np.nanmean(np.where(np.isfinite(ctx.neighbour_curve), ctx.neighbour_curve, np.nan), axis=1)
        if ctx.neighbour_curve.size
        else np.zeros(len(ctx.launch_days))
    )
    gl_step = global_curve[step - 1]
    rescale_nb = shrunk_scale(ratio_nb, ctx.n_observed)[pair]
    rescale_gl = shrunk_scale(ratio_gl, ctx.n_observed)[pair]
    columns = [
        codes,
        ctx.numerics[pair],
        np.column_stack(
            [
                month,
                day_of_year // 7 + 1,
                step,
                ctx.n_observed[pair],
                nb_step,
                nb_level[pair],
                ctx.neighbour_similarity[pair],
                gl_step,
                ctx.context[pair],
                mean[pair],
                np.where(ctx.n_observed >= 1, ctx.observed[:, 0], np.nan)[pair],
                np.where(ctx.n_observed >= 2, ctx.observed[:, min(1, steps - 1)], np.nan)[pair],
                last[pair],
                ratio_nb[pair],
                ratio_gl[pair],
                nb_step * rescale_nb,
                gl_step * rescale_gl,
            ]
        ),
    ]
    return np.column_stack(columns).astype(np.float64)


@dataclass
class CohortLevel:
    """Early sales level of recent launches, as known on a given launch date (leak-free).

    For a launch on day t the level is the mean of the first `early_steps` step totals of the
    products launched in [t - window_days, t - lag_days]; `lag_days` covers those steps, so only
    sales dated before t are used. Launches after the data clamp to the last day with data.
    """

    sorted_days: np.ndarray
    cumulative_sum: np.ndarray
    cumulative_count: np.ndarray
    lag_days: int
    window_days: int
    last_day: int

    @classmethod
    def fit(
        cls,
        launch_days: np.ndarray,
        curves: np.ndarray,
        early_steps: int,
        lag_days: int,
        window_days: int,
        last_day: int,
    ) -> CohortLevel:
        """From training curves ((n, >= early_steps), NaN where not reached)."""
        order = np.argsort(launch_days, kind="stable")
        early = curves[order, :early_steps]
        reached = np.isfinite(early).all(axis=1)
        level = np.where(reached, np.nan_to_num(early).mean(axis=1), 0.0)
        return cls(
            sorted_days=launch_days[order].astype(np.int64),
            cumulative_sum=np.concatenate([[0.0], np.cumsum(level)]),
            cumulative_count=np.concatenate([[0.0], np.cumsum(reached)]),
            lag_days=lag_days,
            window_days=window_days,
            last_day=last_day,
        )

    def at(self, launch_days: np.ndarray) -> np.ndarray:
        """Level per launch day (NaN when no earlier launch qualifies)."""
        t = np.minimum(np.asarray(launch_days, dtype=np.int64), self.last_day + 1)
        hi = np.searchsorted(self.sorted_days, t - self.lag_days, side="right")
        lo = np.searchsorted(self.sorted_days, t - self.window_days, side="left")
        total = self.cumulative_sum[hi] - self.cumulative_sum[lo]
        count = self.cumulative_count[hi] - self.cumulative_count[lo]
        return np.divide(total, count, out=np.full(len(t), np.nan), where=count > 0)


@dataclass
class MarketLevel:
    """Mean quantity per sales observation in windows before a day, from daily totals.

    The level of the market just before a launch (all products' sales dated before the launch
    date), over each of `MARKET_WINDOWS`, and the largest window's ratio to the same window a
    year earlier. Launches after the data clamp to the last day with data.
    """

    days: np.ndarray
    cumulative_sum: np.ndarray
    cumulative_count: np.ndarray
    last_day: int

    @classmethod
    def fit(cls, sale_days: np.ndarray, quantities: np.ndarray) -> MarketLevel:
        """From every sales observation (int64 days, quantities)."""
        days, inverse = np.unique(np.asarray(sale_days, dtype=np.int64), return_inverse=True)
        totals = np.bincount(
            inverse, weights=np.asarray(quantities, dtype=float), minlength=len(days)
        )
        counts = np.bincount(inverse, minlength=len(days)).astype(float)
        return cls(
            days=days,
            cumulative_sum=np.concatenate([[0.0], np.cumsum(totals)]),
            cumulative_count=np.concatenate([[0.0], np.cumsum(counts)]),
            last_day=int(days[-1]) if len(days) else 0,
        )

    def window(self, end: np.ndarray, length: int) -> np.ndarray:
        """Mean quantity per observation dated in [end - length, end)."""
        hi = np.searchsorted(self.days, end, side="left")
        lo = np.searchsorted(self.days, end - length, side="left")
        total = self.cumulative_sum[hi] - self.cumulative_sum[lo]
        count = self.cumulative_count[hi] - self.cumulative_count[lo]
        return np.divide(total, count, out=np.full(len(end), np.nan), where=count > 0)

    def at(self, launch_days: np.ndarray) -> np.ndarray:
        """(m, len(MARKET_WINDOWS) + 1) market features per launch day."""
        t = np.minimum(np.asarray(launch_days, dtype=np.int64), self.last_day + 1)
        columns = [self.window(t, w) for w in MARKET_WINDOWS]
        last = MARKET_WINDOWS[-1]
        year_ago = self.window(t - YEAR_DAYS, last)
        columns.append(
            np.divide(columns[-1], year_ago, out=np.full(len(t), np.nan), where=year_ago > 0)
        )
        return np.column_stack(columns)
