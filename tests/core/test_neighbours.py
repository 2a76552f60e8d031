"""Neighbour search: exact vs faiss, and no leakage in training features."""

from __future__ import annotations

import numpy as np

from forecasting.model import LaunchForecaster
from forecasting.neighbours import AttributeEncoder, NeighbourIndex, neighbour_curves


def test_training_neighbours_are_never_the_product_itself_nor_launched_later(
    fitted: LaunchForecaster,
) -> None:
    idx = fitted.training_neighbours_
    days = fitted.launch_days_
    rows = np.arange(len(idx))[:, None]
    valid = idx >= 0
    assert valid.any()
    assert not (valid & (idx == rows)).any()
    assert (days[np.where(valid, idx, 0)] < days[:, None])[valid].all()


def test_first_launches_get_no_neighbours_in_training(fitted: LaunchForecaster) -> None:
    first = np.flatnonzero(fitted.launch_days_ == fitted.launch_days_.min())
    assert (fitted.training_neighbours_[first] == -1).all()


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
    assert approx.backend == "faiss-hnsw" and exact.backend == "exact"
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


def test_weighted_median_of_neighbour_curves_skips_unreached_steps() -> None:
    curves = np.array([[1.0, 10.0], [3.0, np.nan], [100.0, 20.0]])
    idx = np.array([[0, 1, 2]])
    weights = np.array([[0.4, 0.4, 0.2]])
    out = neighbour_curves(curves, idx, weights, "median")
    assert out[0, 0] == 3.0
    assert out[0, 1] == 10.0  # 10 has 0.4 of the 0.6 weight that reached step 2
    mean = neighbour_curves(curves, idx, weights, "mean")
    assert np.isclose(mean[0, 1], (0.4 * 10 + 0.2 * 20) / 0.6)
