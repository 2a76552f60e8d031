"""The forecast role's cross-fitted curves: a known product's description is answered by curves
fitted on the half of the catalogue it is not in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.baseline import CurveBaseline
from forecasting.curve_model import CurveModel
from forecasting.model import LaunchForecaster
from forecasting.private import CrossFittedCurves, level_hashes, value_hash
from forecasting.synthetic import generate_catalogue
from forecasting.types import ForecastQuery
from tests.core.conftest import small_config

CATEGORICAL = {"colour": ["blue", "green", "red"], "fabric": ["cotton", "linen", "silk", "wool"]}


def _curves_and_codes(n: int = 600, seed: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    curves = rng.gamma(4.0, 10.0, size=(n, 10))
    codes = np.stack([rng.integers(-1, 3, n), rng.integers(-1, 4, n)], axis=1)
    return curves, codes


def _fitted_halves(curves: np.ndarray, codes: np.ndarray) -> CrossFittedCurves:
    return CrossFittedCurves(small_config(curve_steps=10, launch_steps=8)).fit(
        curves, codes, CATEGORICAL
    )


def _extremes(curves: np.ndarray, row: int) -> tuple[np.ndarray, np.ndarray]:
    """The catalogue with product `row` selling nothing, and selling a million a step: it
    moves from the bottom to the top of every curve it is in."""
    low, high = curves.copy(), curves.copy()
    low[row], high[row] = 0.0, 1e6
    return low, high


def test_a_known_products_description_is_answered_by_curves_that_never_saw_it() -> None:
    curves, codes = _curves_and_codes()
    assert (_fitted_halves(curves, codes).sizes_ > 100).all()  # both halves hold products
    for row in range(40):
        low, high = (
            _fitted_halves(c, codes).curve(codes[row : row + 1], min_products=20)[0]
            for c in _extremes(curves, row)
        )
        np.testing.assert_array_equal(low, high)
    # The same values' curves over the whole catalogue do move: the check above can fail.
    whole = [
        CurveModel(small_config(curve_steps=10)).fit(c, codes, [3, 4]).attribute_curve(codes[:1])
        for c in _extremes(curves, 0)
    ]
    assert not np.array_equal(*whole)


def test_a_half_smaller_than_the_floor_is_not_answered_from() -> None:
    """119 products share one colour and one has another, which hashes to the other half: that
    half's curves would be the one product's sales, so nothing is split and every answer is
    drawn from the whole catalogue."""
    curves, _ = _curves_and_codes(n=120)
    codes = np.where(np.arange(120) == 5, 3, 0)[:, None]  # c3 hashes to half 0, c0 to half 1
    config = small_config(curve_steps=10, launch_steps=8, private_min_products=10)
    model = CrossFittedCurves(config).fit(curves, codes, {"colour": ["c0", "c1", "c2", "c3"]})
    assert model.sizes_.tolist() == [1, 119]
    answer, attribute, _ = model.curve(np.array([[0], [3]]), config.private_group)
    whole = CurveModel(config).fit(curves, codes, [4])
    np.testing.assert_array_equal(answer[0], whole.attribute_curve(np.array([[0]]), 10)[0])
    np.testing.assert_array_equal(answer[1], whole.global_)  # c3: one product, below the floor
    assert attribute.tolist() == [True, False]
    assert not np.any(np.all(answer == curves[5], axis=1))


def test_each_half_answers_the_descriptions_that_hash_to_the_other() -> None:
    curves, codes = _curves_and_codes()
    model = _fitted_halves(curves, codes)
    half = model.half(codes)
    assert set(half.tolist()) == {0, 1}
    for h in (0, 1):
        rows = np.flatnonzero(half == h)[:5]
        answer, attribute, answering = model.curve(codes[rows], min_products=20)
        assert (answering == 1 - h).all()
        other = model.halves_[1 - h]
        expected = np.where(
            attribute[:, None], other.attribute_curve(codes[rows], 20), other.global_[None, :]
        )
        np.testing.assert_array_equal(answer, expected)


def test_a_product_keeps_its_half_when_the_catalogue_changes() -> None:
    """The half is a hash of names and values, not of the encoder's codes, so a product's
    description is answered from the other half by every model version."""
    grown = {"colour": ["amber", *CATEGORICAL["colour"]], "fabric": CATEGORICAL["fabric"]}
    model = _fitted_halves(*_curves_and_codes())
    hashes, offsets = level_hashes(grown)
    relabelled = CrossFittedCurves(model.config)
    relabelled.hashes_, relabelled.offsets_ = hashes, offsets
    codes = np.array([[0, 0], [1, 2], [2, -1], [-1, 3]])
    shifted = np.where(np.arange(2)[None, :] == 0, np.where(codes >= 0, codes + 1, -1), codes)
    np.testing.assert_array_equal(relabelled.half(shifted), model.half(codes))
    # Pinned: a changed hash would move every product to a new half between versions.
    assert value_hash("colour", "red") == 0xE6836D12D362CA34
    assert model.half(codes).tolist() == [0, 1, 1, 0]


@pytest.fixture(scope="module")
def private_model() -> tuple[LaunchForecaster, pd.DataFrame]:
    products, sales = generate_catalogue(n_products=240, seed=3)
    config = small_config(private_min_products=10)
    return LaunchForecaster(config).fit(products, sales), products


def _description(products: pd.DataFrame, row: int, **changes: object) -> ForecastQuery:
    product = products.iloc[row]
    values = {"launch_date": product["launch_date"].date(), "attributes": product["attributes"]}
    return ForecastQuery(**{**values, **changes})  # type: ignore[arg-type]


def test_the_forecast_role_answers_one_description_alike_at_any_launch_date_and_price(
    private_model: tuple[LaunchForecaster, pd.DataFrame],
) -> None:
    """The attack asks about a product at its own launch date and price, a week either side and
    1% either side: every one of these is answered by the same curves, from the other half."""
    model, products = private_model
    exact = _description(products, 7)
    moved = _description(products, 7, launch_date=exact.launch_date + pd.Timedelta(days=7))
    priced = _description(
        products, 7, attributes={**exact.attributes, "price": exact.attributes["price"] * 1.01}
    )
    answers = [f.point for f in model.predict([exact, moved, priced], 20, private=True)]
    for answer in answers[1:]:
        np.testing.assert_array_equal(answer, answers[0])
    row = model.neighbours_.encoder_.codes([exact.attributes])
    expected, _, _ = model.private_.curve(row, model.config.private_group)
    np.testing.assert_allclose(answers[0][:8], expected[0, :8])


def test_a_private_answer_survives_saving(
    private_model: tuple[LaunchForecaster, pd.DataFrame], tmp_path: Path
) -> None:
    model, products = private_model
    loaded = LaunchForecaster.load(tmp_path, expected_checksum=model.save(tmp_path))
    queries = [_description(products, row) for row in range(10)]
    for a, b in zip(
        loaded.predict(queries, 16, private=True),
        model.predict(queries, 16, private=True),
        strict=True,
    ):
        np.testing.assert_array_equal(a.point, b.point)
        assert a.method == b.method


def test_the_degraded_path_answers_a_description_without_its_product_too() -> None:
    products, sales = generate_catalogue(n_products=240, seed=3)
    config = small_config(private_min_products=10)
    target = sales["product_id"] == products.iloc[11]["product_id"]
    low, high = (
        CurveBaseline(config).fit(
            products, sales.assign(quantity=sales["quantity"].mask(target, q))
        )
        for q in (0.0, 1e6)
    )
    query = [_description(products, 11)]
    np.testing.assert_array_equal(
        low.predict(query, 12, private=True)[0].point,
        high.predict(query, 12, private=True)[0].point,
    )
    # A read key's answer is drawn from every product with those values: it moves.
    assert not np.array_equal(low.predict(query, 12)[0].point, high.predict(query, 12)[0].point)
