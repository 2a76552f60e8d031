"""Neighbour search: exact vs faiss, and no leakage in training features."""

from __future__ import annotations

import numpy as np

from forecasting.model import LaunchForecaster
from forecasting.neighbours import AttributeEncoder, NeighbourIndex, neighbour_curves


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


def test_faiss_backend_agrees_with_exact_search() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(600, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    days = rng.integers(0, 1000, size=600)
    exact = NeighbourIndex(vectors, days, faiss_threshold=10_000)
    approx = NeighbourIndex(vectors, days, faiss_threshold=100)
    assert approx.backend == "faiss-ivf" and exact.backend == "exact"
    queries, before = vectors[:50], days[:50]
    e_idx, _ = exact.query(queries, 5, exclude=np.arange(50), launched_before=before)
    a_idx, _ = approx.query(queries, 5, exclude=np.arange(50), launched_before=before)
    recall = np.mean(
        [
            len(set(a) & set(e) - {-1}) / max(1, len(set(e) - {-1}))
            for a, e in zip(a_idx, e_idx, strict=True)
        ]
    )
    assert recall > 0.9
    valid = a_idx >= 0
    assert (days[np.where(valid, a_idx, 0)] < before[:, None])[valid].all()
    assert not (a_idx == np.arange(50)[:, None]).any()


def _tied_catalogue(n: int, seed: int) -> np.ndarray:
    """One-hot vectors with few levels: masses of exact duplicates and tied similarities."""
    rng = np.random.default_rng(seed)
    levels = {"category": 3, "color": 4, "material": 3, "channel": 2}
    attributes = [
        {name: f"{name}{rng.integers(count)}" for name, count in levels.items()} for _ in range(n)
    ]
    return AttributeEncoder.fit(attributes).vectors(attributes)


def test_index_finds_the_exact_top_k_similarities_among_many_ties() -> None:
    vectors = _tied_catalogue(3000, seed=0)
    queries = _tied_catalogue(100, seed=1)
    days = np.zeros(len(vectors), dtype=np.int64)
    exact = NeighbourIndex(vectors, days, faiss_threshold=10_000)
    approx = NeighbourIndex(vectors, days, faiss_threshold=100)
    assert approx.backend == "faiss-ivf"
    _, e_sims = exact.query(queries, 20)
    a_idx, a_sims = approx.query(queries, 20)
    # Tied neighbours are interchangeable, so the similarities (rounded alike) must match.
    np.testing.assert_array_equal(a_sims, e_sims)
    assert (a_idx >= 0).all()
    assert all(len(set(row)) == len(row) for row in a_idx)
    # Equal similarities come in index order, as in exact search.
    tied = a_sims[:, 1:] == a_sims[:, :-1]
    assert (a_idx[:, 1:] > a_idx[:, :-1])[tied].all()


def test_index_is_rebuilt_identically() -> None:
    vectors = _tied_catalogue(3000, seed=0)
    days = np.arange(len(vectors)) // 10
    queries, before = vectors[:200], days[:200] + 50
    first = NeighbourIndex(vectors, days, faiss_threshold=100)
    second = NeighbourIndex(vectors, days, faiss_threshold=100)
    for a, b in zip(
        first.query(queries, 10, exclude=np.arange(200), launched_before=before),
        second.query(queries, 10, exclude=np.arange(200), launched_before=before),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_weighted_median_of_neighbour_curves_skips_unreached_steps() -> None:
    curves = np.array([[1.0, 10.0], [3.0, np.nan], [100.0, 20.0]])
    idx = np.array([[0, 1, 2]])
    weights = np.array([[0.4, 0.4, 0.2]])
    out = neighbour_curves(curves, idx, weights, "median")
    assert out[0, 0] == 3.0
    assert out[0, 1] == 10.0  # 10 has 0.4 of the 0.6 weight that reached step 2
    mean = neighbour_curves(curves, idx, weights, "mean")
    assert np.isclose(mean[0, 1], (0.4 * 10 + 0.2 * 20) / 0.6)
