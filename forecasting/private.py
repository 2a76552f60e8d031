"""The forecast role's curves: fitted twice, each on one half of the catalogue.

A `forecast` key may see forecasts but must not reconstruct any known product's sales (the
contract's *Privacy* section). Any answer learnt from a product leans towards it: over attribute
curves of 100 or more products the lean is small but an attacker asking about every product can
measure it (benchmarks/privacy_attack.py). So the forecast role is answered by cross-fitting:
every known product falls in one of two halves by a hash of its categorical attribute values,
each half has its own global and attribute curves, and a query is answered by the curves of the
half its own values do not hash to. A query that describes a known product (its attributes, at
any launch date and price: the curves read only categorical values) is therefore answered by
curves that never saw that product, or any product with the same values. A catalogue with a
half smaller than the forecast role's floor (`private_group` products) is not split: every
answer is still drawn from at least that many products, but it may have seen the product.

The hash reads attribute names and values, not the encoder's level codes, so a product keeps its
half when the catalogue changes: every model version answers its description from the other half.
"""

from __future__ import annotations

import hashlib

import numpy as np

from forecasting.artifact import ArtifactReader, ArtifactWriter
from forecasting.config import ForecasterConfig
from forecasting.curve_model import CurveModel

HALVES = 2
_UNKNOWN = "\x00unknown"  # the hash input of a value not known (never a real value: NUL)


def value_hash(name: str, value: str) -> int:
    """A stable 64-bit hash of one attribute value (the same in every process and version)."""
    digest = hashlib.blake2b(f"{name}\x00{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def level_hashes(categorical: dict[str, list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, offsets): per attribute, the hash of each level then of an unknown value,
    concatenated; `offsets[j]` is attribute j's first entry."""
    hashes: list[int] = []
    offsets: list[int] = []
    for name, levels in categorical.items():
        offsets.append(len(hashes))
        hashes.extend(value_hash(name, str(level)) for level in levels)
        hashes.append(value_hash(name, _UNKNOWN))
    return np.array(hashes, dtype=np.uint64), np.array(offsets, dtype=np.int64)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every output bit depends on every input bit."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


class CrossFittedCurves:
    """Global and attribute curves per half of the catalogue (see the module docstring).

    Fitted state: `halves_` (one CurveModel per half), `hashes_` and `offsets_` (see
    `level_hashes`), `sizes_` (products per half; when either holds fewer than the
    forecast role's floor, `private_group`, both halves were fitted on every product).
    """

    def __init__(self, config: ForecasterConfig) -> None:
        self.config = config

    def fit(
        self, curves: np.ndarray, codes: np.ndarray, categorical: dict[str, list[str]]
    ) -> CrossFittedCurves:
        """Learn each half's curves from its products only.

        Args:
            curves: (n, curve_steps) launch curves, NaN where not reached.
            codes: (n, n_cat) level codes of `categorical`'s levels, -1 unknown.
            categorical: {attribute: its levels, in code order}.
        """
        self.hashes_, self.offsets_ = level_hashes(categorical)
        levels = [len(v) for v in categorical.values()]
        half = self.half(codes)
        self.sizes_ = np.bincount(half, minlength=HALVES).astype(np.int64)
        # Every answer is drawn from at least `private_group` products: a half smaller than
        # that (a small catalogue, a handful of distinct descriptions, no categorical attribute
        # at all) would answer with a few products' sales, one product's if it held only one.
        # Then both halves hold every product, and nothing is cross-fitted.
        split = bool((self.sizes_ >= self.config.private_group).all())
        members = [half == h if split else np.ones(len(half), bool) for h in range(HALVES)]
        self.halves_ = [CurveModel(self.config).fit(curves[m], codes[m], levels) for m in members]
        return self

    def half(self, codes: np.ndarray) -> np.ndarray:
        """(m,) the half each row of categorical codes hashes to."""
        codes = np.asarray(codes, dtype=np.int64).reshape(len(codes), -1)
        unknown = np.diff(np.append(self.offsets_, len(self.hashes_))) - 1
        index = np.where(codes >= 0, codes, unknown[None, :]) + self.offsets_[None, :]
        with np.errstate(over="ignore"):
            total = self.hashes_[index].sum(axis=1, dtype=np.uint64)
        return (_mix(total) >> np.uint64(63)).astype(np.int64)

    def curve(
        self, codes: np.ndarray, min_products: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each query's curve from the half it does not hash to: its attribute curve over
        values known to at least `min_products` of that half's products, else that half's
        global curve.

        Returns:
            (curves (m, curve_steps), attribute (m,) True where the attribute curve answers,
            answering (m,) the half that answered each).
        """
        other = (HALVES - 1) - self.half(codes)
        steps = len(self.halves_[0].global_)
        out = np.empty((len(codes), steps))
        attribute = np.zeros(len(codes), dtype=bool)
        for h, model in enumerate(self.halves_):
            rows = other == h
            if not rows.any():
                continue
            values = model.attribute_curve(codes[rows], min_products)
            usable = np.isfinite(values).all(axis=1)
            out[rows] = np.where(usable[:, None], values, model.global_[None, :])
            attribute[rows] = usable
        return out, attribute, other

    def save(self, writer: ArtifactWriter) -> None:
        for h, model in enumerate(self.halves_):
            model.save(writer, prefix=f"private{h}_")
        writer.array("private_hashes", self.hashes_)
        writer.array("private_offsets", self.offsets_)
        writer.array("private_sizes", self.sizes_)

    @classmethod
    def load(cls, reader: ArtifactReader, config: ForecasterConfig) -> CrossFittedCurves:
        self = cls(config)
        self.halves_ = [
            CurveModel.load(reader, config, prefix=f"private{h}_") for h in range(HALVES)
        ]
        self.hashes_ = reader.array("private_hashes").astype(np.uint64)
        self.offsets_ = reader.array("private_offsets").astype(np.int64)
        self.sizes_ = reader.array("private_sizes").astype(np.int64)
        return self
