"""Conformal quantiles: the spread of actual / forecast on out-of-sample launches.

Calibrated on the most recent cross-validation fold (the launches most like the next ones), per
step and separately for cold starts and warm-ups, since a few observed periods narrow the spread.
A step with too few rows uses the pooled ratios of its kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

LEVELS = np.round(np.linspace(0.01, 0.99, 99), 2)
MIN_ROWS = 30


class ConformalCalibrator:
    """Multiplicative quantiles of a point forecast.

    Fitted state: `ratios_` {"cold" | "warm": (steps, len(LEVELS))} quantiles of
    actual / forecast per step (the last row serves every later step).
    """

    def fit(
        self,
        actual: np.ndarray,
        point: np.ndarray,
        step: np.ndarray,
        warm: np.ndarray,
        n_steps: int,
    ) -> ConformalCalibrator:
        """Learn from out-of-sample rows (flat arrays of equal length)."""
        ok = np.isfinite(actual) & (point > 1e-9)
        self.ratios_: dict[str, np.ndarray] = {}
        for kind, rows in (("cold", ~warm), ("warm", warm)):
            rows = rows & ok
            if rows.sum() < MIN_ROWS:
                rows = ok
            pooled = _quantiles(actual[rows] / point[rows])
            table = np.tile(pooled, (n_steps, 1))
            for s in range(1, n_steps + 1):
                at = rows & (step == s)
                if at.sum() >= MIN_ROWS:
                    table[s - 1] = _quantiles(actual[at] / point[at])
            self.ratios_[kind] = table
        return self

    def predict(
        self, points: np.ndarray, steps: np.ndarray, warm: np.ndarray, levels: Sequence[float]
    ) -> dict[float, np.ndarray]:
        """{level: (m, h)} quantiles of (m, h) points at (m, h) steps; sorted across levels so
        they never cross, >= 0."""
        if not len(levels):
            return {}
        ordered = sorted(levels)
        out = np.empty((*points.shape, len(ordered)))
        for kind, rows in (("cold", ~warm), ("warm", warm)):
            if not rows.any():
                continue
            table = self.ratios_[kind]
            factors = np.stack(
                [np.interp(ordered, LEVELS, row) for row in table]
            )  # (steps, levels)
            at = np.minimum(steps[rows], len(table)) - 1
            out[rows] = points[rows][:, :, None] * factors[at]
        stacked = np.sort(np.maximum(out, 0.0), axis=2)
        return {q: stacked[:, :, j] for j, q in enumerate(ordered)}

    def to_json(self) -> dict[str, Any]:
        return {kind: table.tolist() for kind, table in self.ratios_.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConformalCalibrator:
        self = cls()
        self.ratios_ = {kind: np.asarray(table, dtype=float) for kind, table in data.items()}
        return self

    @classmethod
    def neutral(cls, n_steps: int) -> ConformalCalibrator:
        """No spread at all (every quantile is the point): for a model with nothing to
        calibrate on."""
        self = cls()
        self.ratios_ = {k: np.ones((n_steps, len(LEVELS))) for k in ("cold", "warm")}
        return self


def _quantiles(ratios: np.ndarray) -> np.ndarray:
    if len(ratios) == 0:
        return np.ones(len(LEVELS))
    return np.quantile(ratios, LEVELS)
