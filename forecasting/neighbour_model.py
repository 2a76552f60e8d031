"""The neighbour model: the known products most like a new one, and the forecast borrowed from them.

It owns the attribute encoder and the search index, and answers per query with the neighbours'
rows and weights: the k most similar products launched before the query (never the product
itself, nor any the planner excluded), or exactly the planner's pinned analogues, with their
relative weights, in the planner's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from forecasting.artifact import ArtifactReader, ArtifactWriter
from forecasting.attribute_index import AttributeIndex
from forecasting.catalogue import LaunchCatalogue
from forecasting.config import ForecasterConfig
from forecasting.features import shrunk_scale
from forecasting.neighbours import AttributeEncoder, neighbour_curves, neighbour_weights


@dataclass
class Borrowed:
    """Per query: the rows borrowed from (-1 padding), their similarity and weight (rows sum
    to 1), and whether they were pinned by the planner."""

    rows: np.ndarray
    similarity: np.ndarray
    weight: np.ndarray
    pinned: np.ndarray


class NeighbourModel:
    """Attribute similarity search over the catalogue, with pins and exclusions per query.

    Fitted state: `encoder_`, `codes_`, `numerics_` (the catalogue's encoded attributes);
    `index_` (exact search over them) is rebuilt from them on load (never saved): seconds at
    1,000,000 products.
    """

    def __init__(self, config: ForecasterConfig) -> None:
        self.config = config

    def fit(self, catalogue: LaunchCatalogue) -> NeighbourModel:
        """Learn the attribute encoding of the catalogue and index its products."""
        self.encoder_ = AttributeEncoder.fit(catalogue.attributes_, self.config.attribute_weights)
        self.codes_ = self.encoder_.codes(catalogue.attributes_)
        self.numerics_ = self.encoder_.numerics(catalogue.attributes_)
        self._build(catalogue)
        return self

    def _build(self, catalogue: LaunchCatalogue) -> None:
        self.catalogue = catalogue
        self.index_ = AttributeIndex(
            self.encoder_, self.codes_, self.numerics_, catalogue.launch_days_
        )

    def search(
        self,
        codes: np.ndarray,
        numerics: np.ndarray,
        k: int | None = None,
        launched_before: np.ndarray | None = None,
        exclude: Sequence[Sequence[int]] | None = None,
        pins: Sequence[Sequence[tuple[int, float]]] | None = None,
    ) -> Borrowed:
        """Whom each query borrows from.

        Args:
            codes: (m, n_cat) categorical codes of the queries.
            numerics: (m, n_num) numeric attributes of the queries.
            k: Neighbours per query (default: the configured `neighbours_k`).
            launched_before: (m,) only products launched strictly before qualify.
            exclude: Per query, rows never to borrow from (its own row, the planner's list).
            pins: Per query, the planner's (row, relative weight) analogues; a query with pins
                borrows from exactly those, in that order.
        """
        k = k or self.config.neighbours_k
        m = len(codes)
        excluded = [list(e) for e in exclude] if exclude is not None else [[] for _ in range(m)]
        extra = max((len(e) for e in excluded), default=0)
        idx, sims = self.index_.query(
            codes, numerics, k + max(extra - 1, 0), _first(excluded), launched_before
        )
        idx, sims = _drop(idx, sims, excluded, k)
        weights = neighbour_weights(sims, idx, self.config.similarity_power)
        pinned = np.zeros(m, dtype=bool)
        if pins is not None and any(pins):
            width = max(k, max(len(p) for p in pins))
            idx, sims, weights = (
                _widen(idx, width),
                _widen(sims, width, 0.0),
                _widen(weights, width, 0.0),
            )
            for i, chosen in enumerate(pins):
                if not chosen:
                    continue
                rows = np.array([r for r, _ in chosen], dtype=np.int64)
                w = np.array([max(float(v), 0.0) for _, v in chosen])
                w = w / w.sum() if w.sum() > 0 else np.full(len(w), 1 / len(w))
                idx[i], sims[i], weights[i] = -1, 0.0, 0.0
                idx[i, : len(rows)] = rows
                similarity = self.index_.similarity(rows, codes[i], numerics[i])
                sims[i, : len(rows)] = np.clip(similarity, 0.0, 1.0)
                weights[i, : len(rows)] = w
                pinned[i] = True
        return Borrowed(idx, sims, weights, pinned)

    def curve(self, borrowed: Borrowed, curves: np.ndarray, global_curve: np.ndarray) -> np.ndarray:
        """(m, steps) the neighbour forecast: the weighted median of the neighbours' curves with
        its level pulled towards the global curve's; pinned analogues give their weighted mean,
        as the planner weighted them, at their own level. The global curve where nothing
        qualifies."""
        steps = curves.shape[1]
        median = neighbour_curves(curves, borrowed.rows, borrowed.weight, "median")
        median = median * self._level_pull(median, global_curve[:steps])[:, None]
        if borrowed.pinned.any():
            mean = neighbour_curves(curves, borrowed.rows, borrowed.weight, "mean")
            median = np.where(borrowed.pinned[:, None], mean, median)
        return np.where(np.isfinite(median), median, global_curve[None, :steps])

    def _level_pull(self, curve: np.ndarray, global_curve: np.ndarray) -> np.ndarray:
        # Attributes say little about a launch's level: keep the neighbours' shape, move their
        # level part of the way to the global curve's.
        nb_total = np.nansum(curve, axis=1)
        gl_total = float(np.sum(global_curve))
        level = np.power((gl_total + 1e-9) / (nb_total + 1e-9), self.config.neighbour_level_shrink)
        return np.clip(level, 0.1, 10.0)

    def forecast(
        self,
        borrowed: Borrowed,
        global_curve: np.ndarray,
        observed_total: np.ndarray,
        n_observed: np.ndarray,
    ) -> np.ndarray:
        """(m, launch_steps) the neighbour forecast, moved towards the observed level when warm
        (the ratio of the observed total to the curve's over the observed steps, shrunk)."""
        L = self.config.launch_steps
        curve = self.curve(borrowed, self.catalogue.curves_[:, :L], global_curve)
        expected = np.where(np.arange(L)[None, :] < n_observed[:, None], curve, 0.0).sum(axis=1)
        level = np.where(n_observed > 0, (observed_total + 1.0) / (expected + 1.0), np.nan)
        return curve * shrunk_scale(level, n_observed)[:, None]

    def save(self, writer: ArtifactWriter) -> None:
        writer.array("codes", self.codes_)
        writer.array("numerics", self.numerics_)
        writer.json("encoder", self.encoder_.to_json())

    @classmethod
    def load(
        cls, reader: ArtifactReader, config: ForecasterConfig, catalogue: LaunchCatalogue
    ) -> NeighbourModel:
        self = cls(config)
        self.encoder_ = AttributeEncoder.from_json(reader.json("encoder"))
        self.codes_ = reader.array("codes")
        self.numerics_ = reader.array("numerics")
        self._build(catalogue)
        return self

    def summary(self) -> list[dict[str, Any]]:
        """Each attribute the model knows: categorical values with product counts, numeric
        min/median/max (GET /v1/attributes)."""
        out: list[dict[str, Any]] = []
        for j, (name, levels) in enumerate(self.encoder_.categorical.items()):
            counts = np.bincount(self.codes_[:, j][self.codes_[:, j] >= 0], minlength=len(levels))
            out.append(
                {
                    "name": name,
                    "kind": "categorical",
                    "values": [
                        {"value": level, "count": int(c)}
                        for level, c in zip(levels, counts, strict=True)
                    ],
                }
            )
        for j, name in enumerate(self.encoder_.numeric):
            column = self.numerics_[:, j]
            column = column[np.isfinite(column)]
            out.append(
                {
                    "name": name,
                    "kind": "numeric",
                    "min": float(column.min()) if len(column) else None,
                    "median": float(np.median(column)) if len(column) else None,
                    "max": float(column.max()) if len(column) else None,
                }
            )
        return out


def _first(excluded: list[list[int]]) -> np.ndarray:
    return np.array([e[0] if e else -1 for e in excluded], dtype=np.int64)


def _drop(
    idx: np.ndarray, sims: np.ndarray, excluded: list[list[int]], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The first k of each row that are not excluded (the index left out the first one)."""
    if max((len(e) for e in excluded), default=0) <= 1:
        return idx[:, :k], sims[:, :k]
    out_idx = np.full((len(idx), k), -1, dtype=np.int64)
    out_sim = np.zeros((len(idx), k), dtype=np.float32)
    for i in range(len(idx)):
        keep = idx[i] >= 0
        if len(excluded[i]) > 1:
            keep &= ~np.isin(idx[i], excluded[i])
        rows = idx[i][keep][:k]
        out_idx[i, : len(rows)] = rows
        out_sim[i, : len(rows)] = sims[i][keep][:k]
    return out_idx, out_sim


def _widen(array: np.ndarray, width: int, fill: float = -1) -> np.ndarray:
    if array.shape[1] >= width:
        return array.copy()
    pad = np.full((len(array), width - array.shape[1]), fill, dtype=array.dtype)
    return np.concatenate([array, pad], axis=1)
