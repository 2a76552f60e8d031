"""Neighbour search: exact top k among earlier launches, and no leakage in training features."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting import attribute_index
from forecasting.attribute_index import AttributeIndex
from forecasting.model import LaunchForecaster
from forecasting.neighbours import SIMILARITY_DECIMALS, AttributeEncoder, neighbour_curves


def test_fold_neighbours_are_never_the_product_itself_nor_launched_after_the_fold(
    fitted: LaunchForecaster,
) -> None:
    nb, days = fitted.neighbours_, fitted.catalogue_.launch_days_
    start = int(np.quantile(days, 0.7))
    rows = np.flatnonzero(days >= start)
    borrowed = nb.search(
        nb.codes_[rows],
        nb.numerics_[rows],
        launched_before=np.full(len(rows), start),
        exclude=[[int(r)] for r in rows],
    )
    valid = borrowed.rows >= 0
    assert valid.any()
    assert not (valid & (borrowed.rows == rows[:, None])).any()
    assert (days[np.where(valid, borrowed.rows, 0)] < start)[valid].all()


def test_the_first_launches_have_no_earlier_neighbour(fitted: LaunchForecaster) -> None:
    nb, days = fitted.neighbours_, fitted.catalogue_.launch_days_
    first = np.flatnonzero(days == days.min())
    borrowed = nb.search(nb.codes_[first], nb.numerics_[first], launched_before=days[first])
    assert (borrowed.rows == -1).all()


def test_encoder_gives_cosine_similarity_of_weighted_shared_values() -> None:
    encoder = AttributeEncoder.fit(
        [{"color": "red", "fabric": "silk"}, {"color": "blue", "fabric": "wool"}],
        weights={"color": 3.0},
    )
    vectors = encoder.vectors(
        [{"color": "red", "fabric": "silk"}, {"color": "red", "fabric": "wool"}, {}]
    )
    # Sharing color (weight 3) of total weight 4 gives cosine 3/4.
    assert np.isclose(vectors[0] @ vectors[1], 0.75)
    assert not vectors[2].any()


def _catalogue(n: int, seed: int, missing: float = 0.1) -> list[dict[str, object]]:
    """Few levels and a price on a coarse grid: masses of exact duplicates and tied
    similarities; a share of the attributes missing."""
    rng = np.random.default_rng(seed)
    levels = {"category": 3, "color": 4, "material": 3, "channel": 2}
    out: list[dict[str, object]] = []
    for _ in range(n):
        attrs: dict[str, object] = {
            name: f"{name}{rng.integers(count)}"
            for name, count in levels.items()
            if rng.random() >= missing
        }
        if rng.random() >= missing:
            attrs["price"] = float(rng.choice([9.99, 19.99, 29.99, 49.99, 99.0]))
        out.append(attrs)
    return out


def _brute_force(
    encoder: AttributeEncoder,
    known: list[dict[str, object]],
    days: np.ndarray,
    queries: list[dict[str, object]],
    k: int,
    exclude: np.ndarray,
    before: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Dense float64 cosine over every product, rounded alike, ties to the lower row."""
    vectors = encoder.vectors_from(encoder.codes(known), encoder.numerics(known), np.float64)
    q = encoder.vectors_from(encoder.codes(queries), encoder.numerics(queries), np.float64)
    sims = np.round(q @ vectors.T, SIMILARITY_DECIMALS)
    invalid = days[None, :] >= before[:, None]
    has = np.flatnonzero(exclude >= 0)
    invalid[has, exclude[has]] = True
    sims[invalid] = -np.inf
    idx = np.full((len(q), k), -1)
    out = np.zeros((len(q), k))
    for i, row in enumerate(sims):
        order = np.lexsort((np.arange(len(row)), -row))[:k]
        order = order[np.isfinite(row[order])]
        idx[i, : len(order)], out[i, : len(order)] = order, row[order]
    return idx, out


@pytest.mark.parametrize(("depth", "missing"), [(3, 0.1), (3, 0.0), (1, 0.1), (0, 0.1)])
def test_index_returns_the_brute_force_top_k_among_ties_missing_values_and_filters(
    depth: int, missing: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # depth 0 leaves only the full mask's table, so most searches fall back to the scan; with
    # nothing missing every product holds every weight, which tightens the stopping bound.
    monkeypatch.setattr(attribute_index, "TABLE_DEPTH", depth)
    known = _catalogue(3000, seed=0, missing=missing)
    encoder = AttributeEncoder.fit(known, weights={"color": 2.0, "material": 0.5})
    days = np.random.default_rng(2).integers(0, 100, size=len(known))
    index = AttributeIndex(encoder, encoder.codes(known), encoder.numerics(known), days)
    # Known products searched among earlier launches without themselves, new ones among all,
    # and one product with no attribute at all.
    queries = known[:200] + _catalogue(100, seed=1) + [{}]
    exclude = np.r_[np.arange(200), np.full(101, -1)]
    before = np.r_[days[:200], np.full(101, 1000)]
    codes, numerics = encoder.codes(queries), encoder.numerics(queries)
    idx, sims = index.query(codes, numerics, 20, exclude=exclude, launched_before=before)
    e_idx, e_sims = _brute_force(encoder, known, days, queries, 20, exclude, before)
    np.testing.assert_array_equal(idx, e_idx)
    np.testing.assert_allclose(sims, e_sims, atol=1e-6)
    # One query at a time (as a request searches) walks the masks on its own, just as exactly.
    for i in range(0, len(queries), 15):
        one, _ = index.query(
            codes[i : i + 1], numerics[i : i + 1], 20, exclude[i : i + 1], before[i : i + 1]
        )
        np.testing.assert_array_equal(one[0], e_idx[i])
    assert (idx[:200][days[:200] == 0] == -1).all()  # the first launches have nothing earlier


def test_similarity_of_chosen_rows_is_the_vectors_cosine() -> None:
    known = _catalogue(50, seed=0)
    encoder = AttributeEncoder.fit(known, weights={"color": 2.0})
    codes, numerics = encoder.codes(known), encoder.numerics(known)
    index = AttributeIndex(encoder, codes, numerics, np.zeros(len(known), dtype=np.int64))
    vectors = encoder.vectors_from(codes, numerics, np.float64)
    rows = np.array([3, 0, 17])
    np.testing.assert_allclose(
        index.similarity(rows, codes[5], numerics[5]), vectors[rows] @ vectors[5], atol=1e-12
    )


def test_weighted_median_of_neighbour_curves_skips_unreached_steps() -> None:
    curves = np.array([[1.0, 10.0], [3.0, np.nan], [100.0, 20.0]])
    idx = np.array([[0, 1, 2]])
    weights = np.array([[0.4, 0.4, 0.2]])
    out = neighbour_curves(curves, idx, weights, "median")
    assert out[0, 0] == 3.0
    assert out[0, 1] == 10.0  # 10 has 0.4 of the 0.6 weight that reached step 2
    mean = neighbour_curves(curves, idx, weights, "mean")
    assert np.isclose(mean[0, 1], (0.4 * 10 + 0.2 * 20) / 0.6)
