"""Blend weights chosen on a rolling-origin backtest inside the training data.

The blend is a weighted mean of component forecasts (the LightGBM models, the neighbour
forecast, the attribute curve) with non-negative weights summing to one. The weights are read
off out-of-sample predictions only: the most recent launches of the training data are cut into
consecutive windows by launch date, and each window is forecast by a model fitted on the
launches before it, exactly as a new product is forecast after publishing. One window alone
is too noisy to tell components apart (VISUELLE moves by more than a WAPE point between
quarters), hence several.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping

import numpy as np

Weights = dict[str, float]


def fold_cuts(launch_days: np.ndarray, n_folds: int, window: float) -> list[tuple[int, int]]:
    """(start, end) launch days of each fold's held-out window, oldest first.

    The last `window` share of launches (by launch day) is split into `n_folds` windows of
    about equal size; a fold trains on launches before `start` and is scored on launches in
    [start, end). Windows that would be empty are dropped.
    """
    if n_folds <= 0 or len(launch_days) == 0:
        return []
    levels = 1.0 - window + window * np.arange(n_folds) / n_folds
    starts = np.unique(np.quantile(launch_days, levels, method="higher").astype(np.int64))
    end = int(np.max(launch_days)) + 1
    bounds = [*starts.tolist(), end]
    return [(a, b) for a, b in itertools.pairwise(bounds) if a < b]


def simplex_grid(n: int, step: float) -> Iterator[tuple[float, ...]]:
    """Every weight vector of length n on a grid of `step` with non-negative entries summing
    to one, the first component's full weight first."""
    units = round(1 / step)
    for head in itertools.product(range(units, -1, -1), repeat=n - 1):
        rest = units - sum(head)
        if rest >= 0:
            yield tuple(h / units for h in (*head, rest))


def best_weights(actual: np.ndarray, components: Mapping[str, np.ndarray], step: float) -> Weights:
    """The grid weights with the smallest total absolute error (the WAPE numerator).

    Args:
        actual: (r,) actual values.
        components: {name: (r,) forecast}, all finite; the first name wins ties.
        step: Grid step of the weights (e.g. 0.1).

    Returns:
        {name: weight} over the components with a non-zero weight.
    """
    names = list(components)
    stacked = np.column_stack([components[name] for name in names])
    best: tuple[float, ...] | None = None
    best_error = 0.0
    for weights in simplex_grid(len(names), step):
        error = float(np.abs(actual - stacked @ np.asarray(weights)).sum())
        # A relative margin, so rounding noise never moves the weight off the first winner.
        if best is None or error < best_error * (1 - 1e-12):
            best, best_error = weights, error
    assert best is not None  # the grid always holds the first component alone
    return {name: w for name, w in zip(names, best, strict=True) if w > 0}


def blend(components: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """The weighted sum of the components named in `weights`, added in name order (so a
    model loaded from its JSON metadata gives bit-identical numbers)."""
    total: np.ndarray | None = None
    for name, w in sorted(weights.items()):
        part = w * np.asarray(components[name], dtype=float)
        total = part if total is None else total + part
    if total is None:
        raise ValueError("a blend needs at least one weight")
    return total


def blend_cold_warm(
    components: Mapping[str, np.ndarray], weights: Mapping[str, Weights], warm: np.ndarray
) -> np.ndarray:
    """The blend with the "warm" weights where `warm` (one flag per leading-axis entry: a row
    of flat arrays or a product of (m, L) curves) and the "cold" weights elsewhere."""
    cold_weights, warm_weights = weights["cold"], weights["warm"]
    if cold_weights == warm_weights:
        return blend(components, cold_weights)
    shape = (-1,) + (1,) * (np.ndim(next(iter(components.values()))) - 1)
    return np.where(
        np.reshape(warm, shape), blend(components, warm_weights), blend(components, cold_weights)
    )
