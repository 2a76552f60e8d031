"""Conformal quantiles: the spread of actual / forecast on out-of-sample launches.

Calibrated on the cross-validation folds (the newest launches), per step and separately for
cold starts and for warm-ups by how many periods were observed, since each observed period
narrows the spread (pooled over every warm-up, 10-90% intervals covered 0.81 of VISUELLE 2018
H1's launches with 1 period observed and 0.90 with 6). A step with too few rows uses the pooled
ratios of its kind, a warm-up observed longer than the fold's the longest. Every launch of a
fold is forecast with each observed count (forecasting/validation.py `Fold`): when each was
forecast with one count, cycling, each count's table learnt from a sixth of the launches and its
tails were noise (VISUELLE 2018 H2, seed 0, log ratio of the 90% to the 10% quantile at step 6:
0.99 after 4 weeks observed, 1.19 after 5, 1.57 after 6; 10-90% coverage after 4 weeks 0.69).

Each of those tables is learnt separately for `level_bins` equal-count bands of the point's
size: sales are counts, so a forecast of 8 a week misses by a larger share than one of 80, and
one table for both gave the small ones too narrow intervals and the large ones too wide (warm-ups
on VISUELLE 2018 H1, 10-90% coverage of products forecast 5-10 a week / above 40 a week: 0.38 /
0.90 with one table, 0.45 / 0.85 with three bands; the smallest stay undercovered: they are
rare in a band of a third of the folds' rows).

Later launches drift away from the folds the spread was learnt on (a season sells more or less
than the one before), so intervals calibrated exactly undercover them: on VISUELLE, 10-90%
intervals covered 0.808 of 2018 H1's launches and 0.751 of 2018 H2's. Each tail is therefore
read `drift` further out (0.01: the 10% quantile is the folds' 9%), chosen on those two periods
and confirmed on 2019 (see CHANGELOG.md).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

LEVELS = np.round(np.linspace(0.01, 0.99, 99), 2)
MIN_ROWS = 30
FACTOR_CACHE_SIZE = 64  # (kind, levels) tables read at requested levels, kept for predict


class ConformalCalibrator:
    """Multiplicative quantiles of a point forecast.

    Fitted state: `ratios_` {"cold" | "warm" | "warm:K": (bands, steps, len(LEVELS))}
    quantiles of actual / forecast per band of the point's size and step (the last step serves
    every later one): "warm" pools every warm-up, "warm:K" those with K periods observed;
    `edges_` {kind: (bands - 1,)} the points where each kind's bands meet.
    """

    def __init__(self, drift: float = 0.0, level_bins: int = 1) -> None:
        """`drift`: how much further out each tail is read (see the module docstring);
        `level_bins`: each table is learnt separately for this many bands of the point's size."""
        self.drift = drift
        self.level_bins = level_bins

    def fit(
        self,
        actual: np.ndarray,
        point: np.ndarray,
        step: np.ndarray,
        observed: np.ndarray,
        n_steps: int,
    ) -> ConformalCalibrator:
        """Learn from out-of-sample rows (flat arrays of equal length; `observed`: the periods
        each row's forecast had seen, 0 for a cold start)."""
        ok = np.isfinite(actual) & (point > 1e-9)
        observed = np.asarray(observed, dtype=np.int64)
        sample = _Sample(np.where(ok, actual, np.nan) / np.where(ok, point, 1.0), step, n_steps)
        self.ratios_: dict[str, np.ndarray] = {}
        self.edges_: dict[str, np.ndarray] = {}
        for derived in ("_lookup", "_factor_cache"):  # from ratios_, cached for predict
            self.__dict__.pop(derived, None)
        pooled = {}
        for kind, rows in (("cold", observed == 0), ("warm", observed > 0)):
            rows = rows & ok
            if rows.sum() < MIN_ROWS:
                rows = ok
            pooled[kind] = self._fit_kind(kind, sample, point, rows, None)
        for k in np.unique(observed[ok & (observed > 0)]).tolist():
            rows = ok & (observed == k)
            if rows.sum() >= MIN_ROWS:
                self._fit_kind(f"warm:{k}", sample, point, rows, pooled["warm"])
        return self

    def _fit_kind(
        self,
        kind: str,
        sample: _Sample,
        point: np.ndarray,
        rows: np.ndarray,
        fallback: np.ndarray | None,
    ) -> np.ndarray:
        """`ratios_[kind]` (bands, steps, levels) and `edges_[kind]` (bands - 1,): the tables
        of `rows` in equal-count bands of the point's size (a band's step with too few rows
        reads the kind's unbanded row, a step of that with too few `fallback`'s). Returns the
        unbanded table (steps, levels)."""
        pooled = sample.per_step(rows, fallback)
        inner = np.linspace(0, 1, self.level_bins + 1)[1:-1]
        edges = np.quantile(point[rows], inner) if rows.any() else np.empty(0)
        band = np.searchsorted(edges, point, side="right")
        tables = [sample.per_step(rows & (band == b), pooled) for b in range(len(edges) + 1)]
        self.ratios_[kind] = np.stack(tables) if len(edges) else pooled[None]
        self.edges_[kind] = edges
        return pooled

    def predict(
        self, points: np.ndarray, steps: np.ndarray, observed: np.ndarray, levels: Sequence[float]
    ) -> dict[float, np.ndarray]:
        """{level: (m, h)} quantiles of (m, h) points at (m, h) steps of forecasts that had
        seen `observed` (m,) periods; sorted across levels so they never cross, >= 0."""
        if not len(levels):
            return {}
        ordered = tuple(sorted(levels))
        out = np.empty((*points.shape, len(ordered)))
        names, lookup = self._lookup
        which = lookup[np.clip(np.asarray(observed, dtype=np.int64), 0, len(lookup) - 1)]
        for index in np.unique(which).tolist():
            rows = which == index
            kind = names[index]
            factors = self._factors(kind, ordered)  # (bands, steps, levels asked)
            at = np.minimum(steps[rows], factors.shape[1]) - 1
            band = np.searchsorted(self.edges_[kind], points[rows], side="right")
            out[rows] = points[rows][:, :, None] * factors[band, at]
        stacked = np.sort(np.maximum(out, 0.0), axis=2)
        return {q: stacked[:, :, j] for j, q in enumerate(ordered)}

    def _factors(self, kind: str, levels: tuple[float, ...]) -> np.ndarray:
        """`ratios_[kind]` read at the (sorted) `levels`, each tail widened: (bands, steps,
        levels). Cached, as requests ask for the same few levels again and again (reading the
        tables was a third of a one-product predict); a bounded cache, since clients choose."""
        cache: dict[tuple[str, tuple[float, ...]], np.ndarray] = self.__dict__.setdefault(
            "_factor_cache", {}
        )
        factors = cache.get((kind, levels))
        if factors is None:
            if len(cache) >= FACTOR_CACHE_SIZE:
                cache.clear()
            read_at = self._widened(np.asarray(levels, dtype=float))
            factors = cache[(kind, levels)] = _read(self.ratios_[kind], read_at)
        return factors

    @functools.cached_property
    def _lookup(self) -> tuple[list[str], np.ndarray]:
        """(table names, lookup): a forecast that saw k periods reads table
        `names[lookup[min(k, len(lookup) - 1)]]`: cold at 0, else the table of the longest
        observed count calibrated at or below k, the pooled warm-up one when none is. Derived
        from `ratios_` once, not on every predict (a single request's path)."""
        counts = sorted(int(k.split(":")[1]) for k in self.ratios_ if k.startswith("warm:"))
        names = ["cold", "warm", *(f"warm:{c}" for c in counts)]
        lookup = np.ones(max(counts, default=1) + 1, dtype=np.int64)
        lookup[0] = 0
        for index, count in enumerate(counts, start=2):
            lookup[count:] = index
        return names, lookup

    def _widened(self, levels: np.ndarray) -> np.ndarray:
        """The fold's levels read for the requested ones: each tail `drift` further out."""
        shift = np.sign(levels - 0.5) * self.drift
        return np.clip(levels + shift, LEVELS[0], LEVELS[-1])

    def to_json(self) -> dict[str, Any]:
        return {
            "drift": self.drift,
            "level_bins": self.level_bins,
            "edges": {kind: e.tolist() for kind, e in self.edges_.items()},
            "ratios": {kind: t.tolist() for kind, t in self.ratios_.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConformalCalibrator:
        self = cls(float(data["drift"]), int(data["level_bins"]))
        self.ratios_ = {k: np.asarray(t, dtype=float) for k, t in data["ratios"].items()}
        self.edges_ = {k: np.asarray(e, dtype=float) for k, e in data["edges"].items()}
        return self

    @classmethod
    def neutral(cls, n_steps: int) -> ConformalCalibrator:
        """No spread at all (every quantile is the point): for a model with nothing to
        calibrate on."""
        self = cls()
        self.ratios_ = {k: np.ones((1, n_steps, len(LEVELS))) for k in ("cold", "warm")}
        self.edges_ = {k: np.empty(0) for k in ("cold", "warm")}
        return self


class _Sample(NamedTuple):
    """Out-of-sample rows: actual / forecast (NaN where unusable), the step of each, and the
    steps a table covers."""

    ratio: np.ndarray
    step: np.ndarray
    n_steps: int

    def per_step(self, rows: np.ndarray, fallback: np.ndarray | None) -> np.ndarray:
        """(n_steps, len(LEVELS)) ratio quantiles of `rows` per step; a step with fewer than
        MIN_ROWS rows takes `fallback`'s row, or the pooled quantiles of `rows`."""
        if fallback is None:
            table = np.tile(_quantiles(self.ratio[rows]), (self.n_steps, 1))
        else:
            table = fallback.copy()
        for s in range(1, self.n_steps + 1):
            at = rows & (self.step == s)
            if at.sum() >= MIN_ROWS:
                table[s - 1] = _quantiles(self.ratio[at])
        return table


def _read(tables: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """`tables` (..., len(LEVELS)) read at `levels` (within LEVELS' range) by linear
    interpolation on LEVELS' even grid: np.interp for every row at once (a loop of np.interp
    per band and step was a tenth of a one-product request)."""
    position = (levels - LEVELS[0]) / (LEVELS[1] - LEVELS[0])
    below = np.clip(np.floor(position).astype(np.int64), 0, len(LEVELS) - 2)
    share = position - below
    return tables[..., below] * (1.0 - share) + tables[..., below + 1] * share


def _quantiles(ratios: np.ndarray) -> np.ndarray:
    if len(ratios) == 0:
        return np.ones(len(LEVELS))
    return np.quantile(ratios, LEVELS)
