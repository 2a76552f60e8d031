"""Observed sales beyond every known launch's: forecast in proportion to the level.

A product in its first weeks is forecast from how its observed level compares with the global
curve's (forecasting/features.py). The launch model's trees cannot extrapolate past the highest
level they learnt from, and the curves' move to the observed level is clipped, so a launch
selling far above every known product's got the same forecast whatever it sold (on the demo
catalogue, 10,000 a week and 1,000,000 a week for two weeks were both forecast about 680 a
week). Beyond the catalogue's highest level ratio at the same observed count, a query is
forecast as if it had sold at that ceiling, and the forecast is scaled up by how far it is past
it: proportional to the level, the only assumption left where there is no data.
"""

from __future__ import annotations

import numpy as np

from forecasting.features import level_ratio, level_ratio_inverse, observed_totals


class LevelCeiling:
    """The highest level ratio (observed total / the global curve's, see `level_ratio`) any
    known product reached after each number of observed steps.

    Fitted state: `ceiling_` (steps + 1,): index K for K observed steps (index 0 unused, inf
    where no product reached K steps).
    """

    def fit(self, launch_curves: np.ndarray, global_curve: np.ndarray) -> LevelCeiling:
        """Learn from (n, steps) launch curves (NaN where not reached)."""
        steps = launch_curves.shape[1]
        self.ceiling_ = np.full(steps + 1, np.inf)
        # Running totals, one step at a time: a replica loading a catalogue of a million
        # products holds one column more, not a copy of every curve.
        total = np.zeros(len(launch_curves))
        expected = 0.0
        for k in range(1, steps + 1):
            column = launch_curves[:, k - 1]
            reached = np.isfinite(column)
            total += np.where(reached, column, 0.0)
            expected += float(global_curve[k - 1]) if k <= len(global_curve) else 0.0
            highest = float(np.max(total, where=reached, initial=-np.inf))
            if np.isfinite(highest):  # the ratio grows with the total: the highest total's
                self.ceiling_[k] = float(level_ratio(np.asarray(highest), expected))
        return self

    def bound(
        self, observed: np.ndarray, n_observed: np.ndarray, global_curve: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Histories brought down to the ceiling where above it, and the factor (>= 1) each
        forecast made from them is to be scaled by (1 where within the ceiling).

        Args:
            observed: (m, width) observed step totals, NaN beyond `n_observed`.
            n_observed: (m,) observed steps.
            global_curve: the global launch curve the ratios are taken against.
        """
        _, total, expected = observed_totals(observed, n_observed, global_curve)
        ratio = level_ratio(total, expected)
        ceiling = self.ceiling_[np.minimum(n_observed, len(self.ceiling_) - 1)]
        beyond = (n_observed > 0) & (ratio > ceiling)
        factor = np.where(beyond, ratio / np.where(beyond, ceiling, 1.0), 1.0)
        if not beyond.any():
            return observed, factor
        # The total that gives the ceiling's ratio, spread over the steps as observed.
        at_ceiling = level_ratio_inverse(ceiling, expected)
        shrink = np.where(beyond, at_ceiling / np.where(total > 0, total, 1.0), 1.0)
        return observed * shrink[:, None], factor
