"""The global and attribute launch curves: the simplest forecasts, and the fallbacks."""

from __future__ import annotations

import numpy as np

from forecasting.artifact import ArtifactReader, ArtifactWriter
from forecasting.config import ForecasterConfig
from forecasting.curves import global_curve
from forecasting.features import shrunk_scale

ATTRIBUTE_SHRINKAGE = 10.0  # pseudo-products of the global curve in each value's curve


def moved_to_observed(
    curve: np.ndarray, observed_total: np.ndarray, n_observed: np.ndarray
) -> np.ndarray:
    """(m, steps) curves scaled towards the level of each query's observed steps (shrunk, see
    `shrunk_scale`); cold queries (nothing observed) keep their curve."""
    steps = np.arange(curve.shape[1])[None, :]
    expected = np.where(steps < n_observed[:, None], curve, 0.0).sum(axis=1)
    level = np.where(n_observed > 0, (observed_total + 1.0) / (expected + 1.0), np.nan)
    return curve * shrunk_scale(level, n_observed)[:, None]


class CurveModel:
    """The global launch curve and one curve per categorical attribute value.

    A value's curve is its products' per-step median, shrunk towards the global curve (the
    fewer products, the more); a query's attribute curve is the mean of its known values'
    curves. Fitted state: `global_` (curve_steps,), `table_` (levels + 1, curve_steps) with a
    NaN row last for unknown values, `offsets_` (first row of each attribute), `counts_`
    (products per level, -1 for the NaN row).
    """

    def __init__(self, config: ForecasterConfig) -> None:
        self.config = config

    def fit(self, curves: np.ndarray, codes: np.ndarray, levels: list[int]) -> CurveModel:
        """Learn from these products only.

        Args:
            curves: (n, curve_steps) launch curves, NaN where not reached.
            codes: (n, n_cat) level codes, -1 unknown.
            levels: Number of levels of each categorical attribute.
        """
        statistic = self.config.curve_statistic
        self.global_ = global_curve(curves, statistic)
        tables, counts = [], []
        for j, n_levels in enumerate(levels):
            table = np.full((n_levels, curves.shape[1]), np.nan)
            count = np.bincount(codes[:, j][codes[:, j] >= 0], minlength=n_levels)
            for level in np.flatnonzero(count):
                rows = curves[codes[:, j] == level]
                reached = np.isfinite(rows).any(axis=0)
                curve = np.where(reached, global_curve(rows, statistic), self.global_)
                n = count[level]
                table[level] = (n * curve + ATTRIBUTE_SHRINKAGE * self.global_) / (
                    n + ATTRIBUTE_SHRINKAGE
                )
            tables.append(table)
            counts.append(count)
        self.table_ = np.concatenate([*tables, np.full((1, curves.shape[1]), np.nan)])
        self.counts_ = np.concatenate([*counts, [-1]]).astype(np.int64)
        self.offsets_ = np.cumsum([0, *levels])[:-1].astype(np.int64)
        return self

    def attribute_curve(self, codes: np.ndarray, min_products: int = 1) -> np.ndarray:
        """(m, curve_steps) the mean curve of each query's known values (NaN rows where none
        is known or has `min_products`)."""
        unknown = len(self.table_) - 1
        index = np.where(codes >= 0, codes + self.offsets_[None, :], unknown)
        index = np.where(self.counts_[index] >= min_products, index, unknown)
        gathered = self.table_[index]  # (m, n_cat, steps)
        usable = np.isfinite(gathered).all(axis=2)
        total = np.where(usable[:, :, None], gathered, 0.0).sum(axis=1)
        count = usable.sum(axis=1)[:, None]
        return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)

    def forecasts(
        self,
        codes: np.ndarray,
        observed_total: np.ndarray,
        n_observed: np.ndarray,
        min_products: int = 1,
        attribute: bool = True,
    ) -> dict[str, np.ndarray]:
        """{"global_curve", "attribute_curve"}: (m, launch_steps) each, moved towards the
        observed level when warm; the attribute curve is the global one where no value is
        known. `attribute=False` leaves the attribute curve out (a caller that will not use
        it: a tenth of a 1,000-product batch's predict)."""
        L = self.config.launch_steps
        out: dict[str, np.ndarray] = {}
        base = np.broadcast_to(self.global_[None, :L], (len(codes), L))
        named = [("global_curve", base)]
        if attribute:
            values = self.attribute_curve(codes, min_products)[:, :L]
            named.append(("attribute_curve", np.where(np.isfinite(values), values, base)))
        for name, curve in named:
            out[name] = moved_to_observed(curve, observed_total, n_observed)
        return out

    def save(self, writer: ArtifactWriter, prefix: str = "") -> None:
        writer.array(f"{prefix}global_curve", self.global_)
        writer.array(f"{prefix}attribute_table", self.table_)
        writer.array(f"{prefix}attribute_counts", self.counts_)
        writer.array(f"{prefix}attribute_offsets", self.offsets_)

    @classmethod
    def load(cls, reader: ArtifactReader, config: ForecasterConfig, prefix: str = "") -> CurveModel:
        self = cls(config)
        self.global_ = reader.array(f"{prefix}global_curve")
        self.table_ = reader.array(f"{prefix}attribute_table")
        self.counts_ = reader.array(f"{prefix}attribute_counts")
        self.offsets_ = reader.array(f"{prefix}attribute_offsets")
        return self
