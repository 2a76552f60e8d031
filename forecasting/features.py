"""Feature rows of the launch model: one row per (product, observed steps, target step).

The same function builds training rows and serving rows, so serving sees the very features
training saw. A "pair" is a product with its first `n_observed` steps known (0 = cold start);
each pair expands into rows for the steps after the observed ones.

What is in a row, and why (each was kept only where the backtest paid for it, see CHANGELOG.md):
the product's attributes; the launch calendar (month, week of the year, and where in its period
the launch falls: the weekday and day of the month, because a launch late in a week or month
leaves a short first period); the target step; for warm-up, the observed level and its ratio
to the global curve, shrunk (see `shrunk_scale`); the global curve at the step, raw and moved
to the observed level. Neighbour curves, recent-launch levels and market levels were features
once and did not pay.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Seconds are not needed: launch dates travel as int64 days since 1970-01-01.
EPOCH = np.datetime64("1970-01-01", "D")
RATIO_PRIOR = 1.0  # pseudo-units that keep level ratios finite when little was observed
# A few observed steps are a noisy measure of a launch's level (the launch week is often
# partial), so a level ratio is shrunk towards 1 in log space: ratio ** (s / (s + this)) after
# s observed steps. On VISUELLE's 2018 launches (weeks 3-12 after 2 observed) the full ratio
# scales the global curve to a WAPE of 79.5, the square root (s = 2) to 58.9, cold is 65.8.
LEVEL_PRIOR_STEPS = 2.0
CALENDAR_NAMES = ("launch_month", "launch_week", "launch_weekday", "launch_day_of_month")
HISTORY_NAMES = ("n_observed", "observed_mean", "observed_last", "ratio_to_global")
CURVE_NAMES = ("step", "global_step", "global_step_rescaled")


def to_days(dates: np.ndarray) -> np.ndarray:
    """datetime64 array -> int64 days since epoch."""
    return (np.asarray(dates).astype("datetime64[D]") - EPOCH).astype(np.int64)


@dataclass
class Pairs:
    """Everything known about each pair before its target steps.

    Attributes:
        launch_days: (m,) launch date, days since epoch.
        codes: (m, n_cat) categorical level codes, -1 unknown.
        numerics: (m, n_num) numeric attributes, NaN unknown.
        observed: (m, >= 1) observed step totals, NaN or ignored beyond `n_observed`.
        n_observed: (m,) observed steps.
    """

    launch_days: np.ndarray
    codes: np.ndarray
    numerics: np.ndarray
    observed: np.ndarray
    n_observed: np.ndarray


def feature_names(categorical: list[str], numeric: list[str]) -> list[str]:
    """Column names of the feature matrix, in order."""
    return [
        *(f"cat:{name}" for name in categorical),
        *(f"num:{name}" for name in numeric),
        *CALENDAR_NAMES,
        *HISTORY_NAMES,
        *CURVE_NAMES,
    ]


def observed_level(
    pairs: Pairs, global_curve: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pair: observed mean, last observed value, and the observed total's ratio to the
    global curve's over the same steps (NaN where nothing was observed)."""
    observed, total, expected = observed_totals(pairs.observed, pairs.n_observed, global_curve)
    count = pairs.n_observed.astype(float)
    has = count > 0
    mean = np.where(has, total / np.maximum(count, 1), np.nan)
    last = np.where(
        has, observed[np.arange(len(observed)), np.maximum(pairs.n_observed - 1, 0)], np.nan
    )
    ratio = np.where(has, level_ratio(total, expected), np.nan)
    return mean, last, ratio


def observed_totals(
    observed: np.ndarray, n_observed: np.ndarray, global_curve: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(m, width) observed step totals with zeros beyond each row's `n_observed` (and for
    unknown steps), their sum per row, and the global curve's sum over the same steps."""
    steps = observed.shape[1]
    mask = np.arange(steps)[None, :] < n_observed[:, None]
    observed = np.where(mask & np.isfinite(observed), observed, 0.0)
    width = min(steps, len(global_curve))
    expected = np.where(mask[:, :width], global_curve[None, :width], 0.0).sum(axis=1)
    return observed, observed.sum(axis=1), expected


def level_ratio(total: np.ndarray, expected: np.ndarray | float) -> np.ndarray:
    """An observed total's ratio to the global curve's `expected` total over the same steps
    (`RATIO_PRIOR` keeps it finite when little was observed or expected)."""
    return (total + RATIO_PRIOR) / (expected + RATIO_PRIOR)


def level_ratio_inverse(ratio: np.ndarray, expected: np.ndarray | float) -> np.ndarray:
    """The observed total whose `level_ratio` to `expected` is `ratio`."""
    return ratio * (expected + RATIO_PRIOR) - RATIO_PRIOR


def shrunk_scale(ratio: np.ndarray, n_observed: np.ndarray) -> np.ndarray:
    """The factor that moves a curve towards the observed level: the level ratio shrunk
    towards 1 (see `LEVEL_PRIOR_STEPS`), 1 where nothing was observed, clipped to [0.1, 10]."""
    s = n_observed.astype(float)
    shrunk = np.power(np.where(np.isfinite(ratio), ratio, 1.0), s / (s + LEVEL_PRIOR_STEPS))
    return np.clip(shrunk, 0.1, 10.0)


def calendar(launch_days: np.ndarray) -> np.ndarray:
    """(m, 4) month, week of the year, weekday (Monday 0) and day of the month of each launch."""
    launch = np.asarray(launch_days, dtype=np.int64).astype("datetime64[D]")
    month = launch.astype("datetime64[M]")
    day_of_year = (launch - launch.astype("datetime64[Y]")).astype(np.int64)
    return np.column_stack(
        [
            month.astype(np.int64) % 12 + 1,
            day_of_year // 7 + 1,
            (np.asarray(launch_days, dtype=np.int64) + 3) % 7,  # 1970-01-01 was a Thursday
            (launch - month).astype(np.int64) + 1,
        ]
    ).astype(np.float64)


def build_rows(
    pairs: Pairs, pair: np.ndarray, step: np.ndarray, global_curve: np.ndarray
) -> np.ndarray:
    """Feature matrix for rows (pair index, 1-based target step).

    Args:
        pairs: Pair contexts.
        pair: (r,) pair index per row.
        step: (r,) target step per row (1-based, <= len(global_curve)).
        global_curve: The global launch curve.

    Returns:
        (r, n_features) float64 matrix in `feature_names` order.
    """
    mean, last, ratio = observed_level(pairs, global_curve)
    codes = pairs.codes.astype(float)
    codes[codes < 0] = np.nan
    gl_step = global_curve[step - 1]
    rescale = shrunk_scale(ratio, pairs.n_observed)
    per_pair = np.column_stack(
        [codes, pairs.numerics, calendar(pairs.launch_days), pairs.n_observed, mean, last, ratio]
    )
    return np.column_stack([per_pair[pair], step, gl_step, gl_step * rescale[pair]]).astype(
        np.float64
    )
