"""LightGBM's trees evaluated by compiled code that shares work between a product's steps.

Serving evaluates the launch model on `launch_steps` rows per product that differ only in the
step columns (the step and the global curve at it). LightGBM walks every tree once per row;
here a product's rows walk each tree together and part only where a node splits on a column
that differs between them (about 7% of the nodes of a trained model), so a product costs about
one walk per tree instead of twelve. Per row and tree it is LightGBM's own decision (numerical
with missing-value handling, categorical bitsets) and the leaf values are added in tree order,
as LightGBM adds them, so the numbers are LightGBM's to the last bit: `CompiledTrees.check`
compares them on probe rows when the trees are built, and the caller keeps LightGBM otherwise.

The trees come from the booster's own JSON dump (the text model in the artifact stays the one
source; nothing compiled is saved). numba compiles the walk once per process, without the GIL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
from numba import njit

# LightGBM's kZeroThreshold (a float constant): inputs this close to zero are read as zero.
ZERO = float(np.float32(1e-35))
MAX_GROUP = 64  # rows walking a tree together (one bit each in a 64-bit mask)


@dataclass(frozen=True)
class CompiledTrees:
    """Every tree of a booster as flat arrays; children >= 0 are nodes, < 0 are ~leaf."""

    roots: np.ndarray  # (trees,) int64: root node, or ~leaf for a one-leaf tree
    feature: np.ndarray  # (nodes,) int64
    threshold: np.ndarray  # (nodes,) float64
    categorical: np.ndarray  # (nodes,) bool
    nan_left: np.ndarray  # (nodes,) bool: where a missing value (NaN) goes
    zero_left: np.ndarray  # (nodes,) bool: where zero goes
    left: np.ndarray  # (nodes,) int64
    right: np.ndarray  # (nodes,) int64
    cat_start: np.ndarray  # (nodes,) int64: first word of the node's category bitset
    cat_words: np.ndarray  # (nodes,) int64: words of it
    bits: np.ndarray  # (words,) uint32: categories going left
    leaf: np.ndarray  # (leaves,) float64
    stack: int  # most leaves of a tree: bounds the walk's stack
    n_features: int

    @classmethod
    def from_booster(cls, booster: lgb.Booster) -> CompiledTrees:
        """The booster's trees, read from its text model (the numbers LightGBM itself loads)."""
        text = booster.model_to_string()
        header = _fields(text.split("Tree=", 1)[0])
        if int(header.get("num_tree_per_iteration", "1")) != 1:
            raise ValueError("only single-output boosters can be compiled")
        parts = _Parts()
        for block in text.split("\nTree=")[1:]:
            parts.add(_fields(block.split("\n\n", 1)[0]))
        return parts.finish(int(header["max_feature_idx"]) + 1)

    def predict(
        self, X: np.ndarray, group: int = 1, varying: np.ndarray | None = None
    ) -> np.ndarray:
        """Raw scores of the rows of X (LightGBM's `predict`, all trees).

        Args:
            X: (n, features) rows.
            group: Consecutive rows in groups of this size share every column not in
                `varying` (checked: otherwise they are walked one by one).
            varying: (features,) bool, the columns that may differ inside a group.
        """
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected rows of {self.n_features} features, got {X.shape}")
        if varying is None or group <= 1 or not _shared(X, group, varying):
            group, varying = 1, np.ones(self.n_features, dtype=np.bool_)
        return _walk(
            X,
            group,
            np.asarray(varying, dtype=np.bool_),
            self.roots,
            self.feature,
            self.threshold,
            self.categorical,
            self.nan_left,
            self.zero_left,
            self.left,
            self.right,
            self.cat_start,
            self.cat_words,
            self.bits,
            self.leaf,
            self.stack + 1,
        )

    def check(self, booster: lgb.Booster, X: np.ndarray) -> bool:
        """Whether these trees give LightGBM's numbers on X, bit for bit."""
        expected = booster.predict(X, raw_score=True, num_threads=1)
        return bool(np.array_equal(self.predict(X), expected))


def probe_rows(trees: CompiledTrees, n: int, seed: int = 0) -> np.ndarray:
    """Rows that visit both sides of many splits: values at, just off and around the
    thresholds, every category of the bitsets and beyond, zeros and NaNs (for `check`)."""
    rng = np.random.default_rng(seed)
    X = np.full((n, trees.n_features), np.nan)
    for f in range(trees.n_features):
        at = trees.feature == f
        numeric = trees.threshold[at & ~trees.categorical]
        words = int(trees.cat_words[at].max()) if at.any() else 0
        choices: list[float] = [np.nan, 0.0, -1.0]
        if len(numeric):
            choices += [*numeric, *np.nextafter(numeric, np.inf), *(numeric * 1.5 + 0.5)]
        choices += [float(c) for c in range(32 * words + 2)]
        X[:, f] = rng.choice(np.array(choices, dtype=np.float64), size=n)
    return X


def _fields(block: str) -> dict[str, str]:
    out = {}
    for line in block.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


class _Parts:
    """Appends each tree's arrays, renumbered into one node and one leaf space."""

    def __init__(self) -> None:
        self.roots: list[int] = []
        self.nodes: list[dict[str, np.ndarray]] = []
        self.leaves: list[np.ndarray] = []
        self.bits: list[np.ndarray] = []
        self.n_nodes = self.n_leaves = self.n_words = 0
        self.stack = 0  # the walk's stack never holds more entries than a tree has leaves

    def add(self, tree: dict[str, str]) -> None:
        leaf = np.array(tree["leaf_value"].split(), dtype=np.float64)
        if int(tree["num_leaves"]) == 1:
            self.roots.append(~self.n_leaves)
            self.leaves.append(leaf[:1])
            self.n_leaves += 1
            return

        def ints(key: str) -> np.ndarray:
            return np.array(tree[key].split(), dtype=np.int64)

        decision = ints("decision_type")
        threshold = np.array(tree["threshold"].split(), dtype=np.float64)
        categorical = (decision & 1) == 1
        default_left = (decision & 2) == 2
        kind = (decision >> 2) & 3  # missing type: 0 none, 1 zero, 2 NaN
        zero_goes_left = threshold >= 0.0
        cat_start = np.zeros(len(decision), dtype=np.int64)
        cat_words = np.zeros(len(decision), dtype=np.int64)
        zero_in_set = np.zeros(len(decision), dtype=np.bool_)
        if categorical.any():
            bounds = ints("cat_boundaries")
            words = np.array(tree["cat_threshold"].split(), dtype=np.uint32)
            index = threshold[categorical].astype(np.int64)
            cat_start[categorical] = self.n_words + bounds[index]
            cat_words[categorical] = bounds[index + 1] - bounds[index]
            zero_in_set[categorical] = (words[bounds[index]] & 1) == 1
            self.bits.append(words)
            self.n_words += len(words)
        left, right = ints("left_child"), ints("right_child")
        self.nodes.append(
            {
                "feature": ints("split_feature"),
                "threshold": threshold,
                "categorical": categorical,
                # NaN: right at a categorical node; else zero unless the node knows NaN
                # (missing type NaN) or treats zero as missing (missing type zero).
                "nan_left": ~categorical & np.where(kind > 0, default_left, zero_goes_left),
                "zero_left": np.where(
                    categorical, zero_in_set, np.where(kind == 1, default_left, zero_goes_left)
                ),
                "left": np.where(left >= 0, left + self.n_nodes, left - self.n_leaves),
                "right": np.where(right >= 0, right + self.n_nodes, right - self.n_leaves),
                "cat_start": cat_start,
                "cat_words": cat_words,
            }
        )
        self.stack = max(self.stack, len(leaf))
        self.roots.append(self.n_nodes)
        self.leaves.append(leaf)
        self.n_nodes += len(decision)
        self.n_leaves += len(leaf)

    def finish(self, n_features: int) -> CompiledTrees:
        def joined(key: str, dtype: Any) -> np.ndarray:
            return np.concatenate([n[key] for n in self.nodes] or [np.zeros(0)]).astype(dtype)

        return CompiledTrees(
            roots=np.array(self.roots, dtype=np.int64),
            feature=joined("feature", np.int64),
            threshold=joined("threshold", np.float64),
            categorical=joined("categorical", np.bool_),
            nan_left=joined("nan_left", np.bool_),
            zero_left=joined("zero_left", np.bool_),
            left=joined("left", np.int64),
            right=joined("right", np.int64),
            cat_start=joined("cat_start", np.int64),
            cat_words=joined("cat_words", np.int64),
            bits=np.concatenate(self.bits or [np.zeros(0)]).astype(np.uint32),
            leaf=np.concatenate(self.leaves or [np.zeros(0)]).astype(np.float64),
            stack=self.stack,
            n_features=n_features,
        )


def _shared(X: np.ndarray, group: int, varying: np.ndarray) -> bool:
    """Whether each group of rows agrees on every column outside `varying` (NaN agrees)."""
    n = len(X)
    if n % group:
        return False
    fixed = X[:, ~varying].reshape(n // group, group, -1)
    first = fixed[:, :1, :]
    return bool(((fixed == first) | (np.isnan(fixed) & np.isnan(first))).all())


@njit(cache=False, nogil=True)
def _walk(
    X: np.ndarray,
    group: int,
    varying: np.ndarray,
    roots: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
    categorical: np.ndarray,
    nan_left: np.ndarray,
    zero_left: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    cat_start: np.ndarray,
    cat_words: np.ndarray,
    bits: np.ndarray,
    leaf: np.ndarray,
    stack_size: int,
) -> np.ndarray:
    n = X.shape[0]
    out = np.zeros(n)
    nodes = np.empty(stack_size, dtype=np.int64)
    masks = np.empty(stack_size, dtype=np.uint64)
    one = np.uint64(1)
    for start in range(0, n, group):
        stop = min(start + group, n)
        for chunk in range(start, stop, MAX_GROUP):
            size = min(MAX_GROUP, stop - chunk)
            full = np.uint64(0xFFFFFFFFFFFFFFFF) if size == 64 else (one << np.uint64(size)) - one
            for t in range(len(roots)):  # trees in order: each row adds its leaves as LightGBM
                node = roots[t]
                mask = full
                first = 0  # the rows of `mask` agree outside the varying columns: ask one
                top = 0
                while True:
                    if node < 0:
                        value = leaf[~node]
                        for i in range(size):
                            if (mask >> np.uint64(i)) & one:
                                out[chunk + i] += value
                        if top == 0:
                            break
                        top -= 1
                        node = nodes[top]
                        mask = masks[top]
                        first = 0
                        while not (mask >> np.uint64(first)) & one:
                            first += 1
                        continue
                    f = feature[node]
                    each = varying[f]
                    goes = np.uint64(0)
                    for i in range(0 if each else first, size if each else first + 1):
                        if not (mask >> np.uint64(i)) & one:
                            continue
                        # LightGBM's Tree::NumericalDecision / CategoricalDecision, with NaN and
                        # zero (|x| <= kZeroThreshold) resolved per node in advance.
                        x = X[chunk + i, f]
                        if x != x:
                            go = nan_left[node]
                        elif -ZERO <= x <= ZERO:
                            go = zero_left[node]
                        elif categorical[node]:
                            c = np.int64(x)
                            if c < 0 or (c >> 5) >= cat_words[node]:
                                go = False
                            else:
                                word = bits[cat_start[node] + (c >> 5)]
                                go = ((word >> np.uint32(c & 31)) & np.uint32(1)) != 0
                        else:
                            go = x <= threshold[node]
                        if go:
                            goes |= one << np.uint64(i)
                    if not each and goes:
                        goes = mask
                    rest = mask & ~goes
                    if goes and rest:
                        nodes[top] = right[node]
                        masks[top] = rest
                        top += 1
                        node = left[node]
                        mask = goes
                        first = 0
                        while not (mask >> np.uint64(first)) & one:
                            first += 1
                    elif goes:
                        node = left[node]
                    else:
                        node = right[node]
    return out
