"""Similarity between products over their attributes, and the neighbour forecast.

Attributes become vectors: each categorical attribute is a one-hot block scaled by the square root
of its weight and each numeric attribute a standardised value scaled the same way, so the inner
product of two vectors is the weighted count of shared values (plus numeric agreement). Vectors
are L2-normalised, so the inner product is the cosine similarity. `NeighbourIndex` searches them
exactly with NumPy, or with a faiss IVF index above a size threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forecasting.curves import category_key

FAISS_THRESHOLD = 20_000
# Similarities are rounded to this many decimals so that equal ones tie exactly.
SIMILARITY_DECIMALS = 5
# IVF index: k-means training points per list (faiss's minimum is 39), and lists probed per query
# (at 1M products 16 probes gave recall@20 0.996 in 2.3 ms and 0.995 in a second run, 32 give
# 0.9998 at twice the time: 16 meets recall@20 >= 0.99 at half the cost). Lists of 4-bit PQ
# codes (fast scan, 1/15 of the memory) were tried and rejected: at 1M their candidates missed
# half the true neighbours (recall@20 0.49 with 100 candidates re-ranked exactly), as a
# neighbourhood is ~1,000 products that share 4 of 5 attributes and differ only by price.
IVF_TRAIN_PER_LIST = 64
IVF_MIN_TRAIN_PER_LIST = 39
IVF_PROBES = 16


@dataclass
class AttributeEncoder:
    """Maps attribute dicts to similarity vectors and categorical codes.

    Attributes:
        categorical: {name: sorted levels seen in training}.
        numeric: {name: (mean, std)} of numeric attributes seen in training.
        weights: {name: weight}; a missing name weighs 1.
    """

    categorical: dict[str, list[str]] = field(default_factory=dict)
    numeric: dict[str, tuple[float, float]] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    _layout_cache: tuple[np.ndarray, ...] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @classmethod
    def fit(
        cls, attributes: Sequence[Mapping[str, Any]], weights: Mapping[str, float] | None = None
    ) -> AttributeEncoder:
        """Learn levels and numeric scales from training attributes."""
        values: dict[str, list[Any]] = {}
        for attrs in attributes:
            for name, value in attrs.items():
                if value is not None:
                    values.setdefault(str(name), []).append(value)
        categorical: dict[str, list[str]] = {}
        numeric: dict[str, tuple[float, float]] = {}
        for name in sorted(values):
            column = values[name]
            if all(_is_number(v) for v in column):
                array = np.asarray(column, dtype=float)
                std = float(array.std())
                numeric[name] = (float(array.mean()), std if std > 0 else 1.0)
            else:
                categorical[name] = sorted({category_key(v) for v in column})
        return cls(categorical, numeric, dict(weights or {}))

    @property
    def names(self) -> list[str]:
        """Every attribute name known to the encoder, categorical first."""
        return list(self.categorical) + list(self.numeric)

    @property
    def dimension(self) -> int:
        """Length of a similarity vector."""
        return sum(len(levels) for levels in self.categorical.values()) + len(self.numeric)

    def weight(self, name: str) -> float:
        """The weight of an attribute in the similarity."""
        return float(self.weights.get(name, 1.0))

    def codes(self, attributes: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """(n, n_categorical) level index per categorical attribute, -1 when unknown/missing."""
        out = np.full((len(attributes), len(self.categorical)), -1, dtype=np.int64)
        for j, (name, levels) in enumerate(self.categorical.items()):
            lookup = {level: i for i, level in enumerate(levels)}
            for i, attrs in enumerate(attributes):
                value = attrs.get(name)
                if value is not None:
                    out[i, j] = lookup.get(category_key(value), -1)
        return out

    def numerics(self, attributes: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """(n, n_numeric) raw numeric attributes, NaN when missing or not a number."""
        out = np.full((len(attributes), len(self.numeric)), np.nan)
        for j, name in enumerate(self.numeric):
            for i, attrs in enumerate(attributes):
                value = attrs.get(name)
                if value is not None and _is_number(value):
                    out[i, j] = float(value)
        return out

    def vectors(self, attributes: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """(n, dimension) L2-normalised float32 similarity vectors (all-zero when nothing known)."""
        return self.vectors_from(self.codes(attributes), self.numerics(attributes))

    def vectors_from(self, codes: np.ndarray, numerics: np.ndarray) -> np.ndarray:
        """Similarity vectors from precomputed codes and numerics (a few NumPy calls whatever
        the number of attributes: this runs on every forecast)."""
        offsets, categorical_scale, means, stds, numeric_scale = self._layout()
        n = codes.shape[0]
        out = np.zeros((n, self.dimension), dtype=np.float64)
        rows, attribute = np.nonzero(codes >= 0)
        out[rows, offsets[attribute] + codes[rows, attribute]] = categorical_scale[attribute]
        if len(means):
            z = (numerics - means[None, :]) / stds[None, :]
            z = np.clip(z, -3, 3)
            out[:, self.dimension - len(means) :] = (
                np.where(np.isfinite(z), z, 0.0) * numeric_scale[None, :]
            )
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.where(norms > 0, norms, 1.0)).astype(np.float32)

    def _layout(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per categorical attribute: block offset and sqrt(weight); per numeric one: mean,
        std and sqrt(weight). Cached: the encoder does not change after fitting."""
        cached = self._layout_cache
        if cached is None:
            sizes = [len(levels) for levels in self.categorical.values()]
            cached = (
                np.cumsum([0, *sizes])[:-1].astype(np.int64),
                np.array([math.sqrt(self.weight(name)) for name in self.categorical]),
                np.array([mean for mean, _ in self.numeric.values()], dtype=float),
                np.array([std for _, std in self.numeric.values()], dtype=float),
                np.array([math.sqrt(self.weight(name)) for name in self.numeric]),
            )
            self._layout_cache = cached
        offsets, categorical_scale, means, stds, numeric_scale = cached
        return offsets, categorical_scale, means, stds, numeric_scale

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        return {
            "categorical": self.categorical,
            "numeric": {k: list(v) for k, v in self.numeric.items()},
            "weights": self.weights,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AttributeEncoder:
        """Inverse of `to_json`."""
        return cls(
            categorical={k: list(v) for k, v in data["categorical"].items()},
            numeric={k: (float(v[0]), float(v[1])) for k, v in data["numeric"].items()},
            weights={k: float(v) for k, v in data["weights"].items()},
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


class NeighbourIndex:
    """k-nearest products by cosine similarity, optionally only among earlier launches.

    Exact NumPy search below `faiss_threshold` vectors; above it a faiss IVF index (inner
    product) is searched for extra candidates that are then filtered by the constraints, and rows
    left short fall back to exact search. IVF rather than HNSW: the one-hot vectors have masses of
    exact ties and near-duplicates, which an HNSW graph (M=32, efConstruction=80) navigates badly:
    at 1M products its recall@20 was 0.87 at efSearch 128 and 0.99 only at efSearch 1024, after a
    2.5 to 9 minute build. An inverted list holds any number of duplicates and scans them exactly:
    recall@20 0.9998 at 1M after a 1 minute build (benchmarks/neighbour_search.py).
    """

    def __init__(
        self,
        vectors: np.ndarray,
        launch_days: np.ndarray,
        faiss_threshold: int = FAISS_THRESHOLD,
    ) -> None:
        """Build the index.

        Args:
            vectors: (n, d) L2-normalised vectors of the known products.
            launch_days: (n,) launch dates as int64 days since epoch.
            faiss_threshold: Use faiss above this many products.
        """
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.launch_days = np.asarray(launch_days, dtype=np.int64)
        self.backend = "exact"
        self._faiss_index: Any = None
        if len(self.vectors) > faiss_threshold and self.vectors.shape[1] > 0:
            self._faiss_index = _ivf_index(self.vectors)
            self.backend = "faiss-ivf"

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def parameters(self) -> dict[str, int]:
        """The index's search parameters (IVF lists and lists probed), empty when exact."""
        if self._faiss_index is None:
            return {}
        return {"lists": int(self._faiss_index.nlist), "probes": int(self._faiss_index.nprobe)}

    def query(
        self,
        vectors: np.ndarray,
        k: int,
        exclude: np.ndarray | None = None,
        launched_before: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k most similar known products per query.

        Args:
            vectors: (m, d) query vectors.
            k: Neighbours per query.
            exclude: (m,) row index of a known product to leave out per query (-1 for none).
            launched_before: (m,) int64 days; only products launched strictly before qualify.

        Returns:
            (indices, similarities), each (m, k); index -1 (similarity 0) where fewer qualify.
            Similarities are rounded to 5 decimals and equal ones ordered by index.
        """
        queries = np.ascontiguousarray(vectors, dtype=np.float32)
        m = len(queries)
        k = max(1, min(k, len(self.vectors)))
        if self._faiss_index is not None and m > 0:
            return self._indexed(queries, k, exclude, launched_before)
        return self._exact(queries, k, exclude, launched_before)

    def _indexed(
        self,
        queries: np.ndarray,
        k: int,
        exclude: np.ndarray | None,
        launched_before: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        # The filters drop candidates after the search, so fetch more than k; an IVF scans its
        # probed lists whole anyway, so a longer candidate list costs little.
        extra = k + 32 if launched_before is None else 4 * k + 64
        sims, idx = self._faiss_index.search(queries, min(extra, len(self.vectors)))
        idx, sims = self._filter(idx, sims, exclude, launched_before, k)
        short = (idx < 0).any(axis=1)
        if launched_before is not None:
            # Short rows may simply have few earlier products: only redo those that have more.
            enough = np.searchsorted(np.sort(self.launch_days), launched_before) > k + 1
            short &= enough
        if short.any():
            idx[short], sims[short] = self._exact(
                queries[short],
                k,
                None if exclude is None else exclude[short],
                None if launched_before is None else launched_before[short],
            )
        return idx, sims

    def _exact(
        self,
        queries: np.ndarray,
        k: int,
        exclude: np.ndarray | None,
        launched_before: np.ndarray | None,
        block: int = 2048,
    ) -> tuple[np.ndarray, np.ndarray]:
        out_idx = np.full((len(queries), k), -1, dtype=np.int64)
        out_sim = np.zeros((len(queries), k), dtype=np.float32)
        for start in range(0, len(queries), block):
            stop = min(start + block, len(queries))
            sims = queries[start:stop] @ self.vectors.T
            invalid = np.zeros(sims.shape, dtype=bool)
            if exclude is not None:
                rows = np.flatnonzero(exclude[start:stop] >= 0)
                invalid[rows, exclude[start:stop][rows]] = True
            if launched_before is not None:
                invalid |= self.launch_days[None, :] >= launched_before[start:stop, None]
            # Rounding makes equal similarities tie exactly (float32 sums differ in the last
            # bit), so ties go to the lower index on every platform.
            sims = np.where(invalid, -np.inf, np.round(sims, SIMILARITY_DECIMALS))
            top = (
                np.argpartition(-sims, k - 1, axis=1)[:, :k]
                if k < sims.shape[1]
                else (np.tile(np.arange(sims.shape[1]), (len(sims), 1)))
            )
            top_sims = np.take_along_axis(sims, top, axis=1)
            # Ties broken by index so results do not depend on the partition algorithm.
            order = np.lexsort((top, -top_sims), axis=1)
            top = np.take_along_axis(top, order, axis=1)
            top_sims = np.take_along_axis(top_sims, order, axis=1)
            valid = np.isfinite(top_sims)
            out_idx[start:stop] = np.where(valid, top, -1)
            out_sim[start:stop] = np.where(valid, top_sims, 0.0)
        return out_idx, out_sim

    def _filter(
        self,
        idx: np.ndarray,
        sims: np.ndarray,
        exclude: np.ndarray | None,
        launched_before: np.ndarray | None,
        k: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        valid = idx >= 0
        if exclude is not None:
            valid &= idx != exclude[:, None]
        if launched_before is not None:
            valid &= self.launch_days[np.maximum(idx, 0)] < launched_before[:, None]
        # Rounded as in exact search, then valid candidates first, by similarity, ties to the
        # lower index: faiss orders equal similarities arbitrarily.
        sims = np.where(valid, np.round(sims, SIMILARITY_DECIMALS), -np.inf)
        order = np.lexsort((np.where(valid, idx, len(self.vectors)), -sims), axis=1)[:, :k]
        idx = np.where(np.take_along_axis(valid, order, 1), np.take_along_axis(idx, order, 1), -1)
        sims = np.where(idx >= 0, np.take_along_axis(sims, order, 1), 0.0).astype(np.float32)
        return idx, sims


def _ivf_index(vectors: np.ndarray) -> Any:
    """A trained, filled faiss IndexIVFFlat (inner product) over `vectors`."""
    import faiss

    n, dimension = vectors.shape
    # About sqrt(n) lists keeps both the list scan and the centroid scan of a query near sqrt(n)
    # vectors; faiss wants at least 39 training points per centroid.
    lists = max(1, min(round(math.sqrt(n)), n // IVF_MIN_TRAIN_PER_LIST))
    index = faiss.IndexIVFFlat(
        faiss.IndexFlatIP(dimension), dimension, lists, faiss.METRIC_INNER_PRODUCT
    )
    # k-means on a seeded sample: the build dominates at 1M products, and the centroids only need
    # to spread the lists, not be optimal. The fixed seed keeps the lists (and so the neighbours
    # found) the same from build to build.
    index.cp.max_points_per_centroid = IVF_TRAIN_PER_LIST
    index.cp.seed = 0
    index.train(vectors)
    index.add(vectors)
    index.nprobe = min(IVF_PROBES, lists)
    return index


def neighbour_weights(
    similarities: np.ndarray, indices: np.ndarray, power: float = 2.0
) -> np.ndarray:
    """Weights per neighbour (rows sum to 1 where any neighbour exists): similarity^power."""
    w = np.where(indices >= 0, np.clip(similarities, 0.0, None) ** power, 0.0)
    # Zero similarities (nothing in common) still count a little so rows are never empty.
    w = np.where((indices >= 0) & (w == 0), 1e-6, w)
    total = w.sum(axis=1, keepdims=True)
    return np.divide(w, total, out=np.zeros_like(w), where=total > 0)


def neighbour_curves(
    curves: np.ndarray, indices: np.ndarray, weights: np.ndarray, statistic: str = "median"
) -> np.ndarray:
    """(m, n_steps) similarity-weighted curve of each query's neighbours.

    `statistic="mean"` is the weighted mean; "median" the weighted median per step, which suits
    WAPE (an L1 loss) better. NaN steps of a neighbour (not reached yet) are left out.
    """
    gathered = curves[np.maximum(indices, 0)]  # (m, k, steps)
    w = np.where(indices >= 0, weights, 0.0)[:, :, None] * np.isfinite(gathered)
    values = np.nan_to_num(gathered)
    if statistic == "mean":
        total = w.sum(axis=1)
        return np.divide(
            (w * values).sum(axis=1), total, out=np.full(total.shape, np.nan), where=total > 0
        )
    order = np.argsort(values, axis=1, kind="stable")
    sorted_values = np.take_along_axis(values, order, axis=1)
    sorted_w = np.take_along_axis(w, order, axis=1)
    cum = np.cumsum(sorted_w, axis=1)
    total = cum[:, -1:, :]
    pick = np.argmax(cum >= 0.5 * total, axis=1)  # (m, steps)
    out = np.take_along_axis(sorted_values, pick[:, None, :], axis=1)[:, 0, :]
    return np.where(total[:, 0, :] > 0, out, np.nan)
