"""Similarity between products over their attributes, and the neighbour forecast.

Attributes become vectors: each categorical attribute is a one-hot block scaled by the square root
of its weight and each numeric attribute a standardised value scaled the same way, so the inner
product of two vectors is the weighted count of shared values (plus numeric agreement). Vectors
are L2-normalised, so the inner product is the cosine similarity. `AttributeIndex`
(forecasting/attribute_index.py) searches the encoded attributes for the most similar products.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forecasting.curves import category_key

# Similarities are rounded to this many decimals so that equal ones tie exactly.
SIMILARITY_DECIMALS = 5


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
    _lookup_cache: list[dict[str, int]] | None = field(
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
        for j, (name, lookup) in enumerate(zip(self.categorical, self._lookups(), strict=True)):
            # A str is its own category key: no call per value for what JSON gives.
            values = [attrs.get(name) for attrs in attributes]
            column = [
                lookup.get(value, -1)
                if type(value) is str
                else (-1 if value is None else lookup.get(category_key(value), -1))
                for value in values
            ]
            out[:, j] = column
        return out

    def _lookups(self) -> list[dict[str, int]]:
        """Per categorical attribute, level -> index (cached like `_layout`)."""
        if self._lookup_cache is None:
            self._lookup_cache = [
                {level: i for i, level in enumerate(levels)} for levels in self.categorical.values()
            ]
        return self._lookup_cache

    def numerics(self, attributes: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """(n, n_numeric) raw numeric attributes, NaN when missing or not a number."""
        out = np.full((len(attributes), len(self.numeric)), np.nan)
        for j, name in enumerate(self.numeric):
            for i, attrs in enumerate(attributes):
                value = attrs.get(name)
                if value is not None and (type(value) is float or _is_number(value)):
                    out[i, j] = float(value)
        return out

    def vectors(self, attributes: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """(n, dimension) L2-normalised float32 similarity vectors (all-zero when nothing known)."""
        return self.vectors_from(self.codes(attributes), self.numerics(attributes))

    def vectors_from(
        self, codes: np.ndarray, numerics: np.ndarray, dtype: type = np.float32
    ) -> np.ndarray:
        """Similarity vectors from precomputed codes and numerics (float64 for an exact
        reference: AttributeIndex computes similarities in float64)."""
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
        return (out / np.where(norms > 0, norms, 1.0)).astype(dtype)

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
