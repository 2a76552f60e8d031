"""The compiled tree walk gives LightGBM's own numbers, bit for bit, however rows are grouped."""

from __future__ import annotations

import datetime as dt

import lightgbm as lgb
import numpy as np
import pytest

from forecasting.gbm import STEP_FEATURES
from forecasting.model import LaunchForecaster
from forecasting.trees import CompiledTrees, probe_rows
from forecasting.types import ForecastQuery


def _booster(seed: int = 0) -> lgb.Booster:
    """A small model with categorical, numeric and NaN-aware splits."""
    rng = np.random.default_rng(seed)
    n = 3000
    X = np.column_stack(
        [
            rng.integers(0, 40, n).astype(float),  # categorical, > 32 levels: two bitset words
            rng.normal(size=n),
            np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
            np.where(rng.random(n) < 0.3, 0.0, rng.normal(size=n)),
        ]
    )
    y = np.where(X[:, 0] % 3 == 0, 2.0, 0.0) + X[:, 1] + np.nan_to_num(X[:, 2]) + rng.normal(size=n)
    data = lgb.Dataset(X, y, categorical_feature=[0])
    return lgb.train(
        {
            "objective": "l1",
            "num_leaves": 15,
            "verbosity": -1,
            "seed": seed,
            "zero_as_missing": False,
        },
        data,
        num_boost_round=60,
    )


def test_compiled_trees_give_lightgbms_numbers_exactly_on_probe_rows() -> None:
    booster = _booster()
    trees = CompiledTrees.from_booster(booster)
    X = probe_rows(trees, 3000, seed=1)
    assert np.isnan(X).any() and (X == 0).any()
    assert np.array_equal(trees.predict(X), booster.predict(X, num_threads=1))


def test_rows_walked_together_give_the_numbers_they_give_alone() -> None:
    booster = _booster(seed=2)
    trees = CompiledTrees.from_booster(booster)
    rng = np.random.default_rng(3)
    base = probe_rows(trees, 50, seed=4)
    X = np.repeat(base, 12, axis=0)
    X[:, 1] = rng.normal(size=len(X))  # only column 1 differs inside each group of 12
    varying = np.array([False, True, False, False])
    expected = booster.predict(X, num_threads=1)
    assert np.array_equal(trees.predict(X, 12, varying), expected)
    # A grouping the rows do not honour is noticed: they are walked one by one.
    assert np.array_equal(trees.predict(X, 12, ~varying), expected)


def test_groups_longer_than_one_walk_are_split_and_stay_exact() -> None:
    booster = _booster(seed=5)
    trees = CompiledTrees.from_booster(booster)
    X = np.repeat(probe_rows(trees, 3, seed=6), 100, axis=0)
    X[:, 2] = np.linspace(-2, 2, len(X))
    varying = np.array([False, False, True, False])
    assert np.array_equal(trees.predict(X, 100, varying), booster.predict(X, num_threads=1))


def test_the_served_launch_model_predicts_with_compiled_trees_and_lightgbms_numbers(
    fitted: LaunchForecaster,
) -> None:
    gbm = fitted.gbm_
    if gbm is None:
        pytest.skip("the launch model is not served on this catalogue")
    assert gbm.trees_ is not None
    queries = [
        ForecastQuery(launch_date=dt.date(2026, 7, 6) + dt.timedelta(days=i), attributes=a)
        for i, a in enumerate(fitted.catalogue_.attributes_[:30])
    ]
    parsed = fitted._parse(queries)
    L = fitted.config.launch_steps
    X = fitted._rows_X(parsed, np.arange(len(queries)))
    assert set(STEP_FEATURES) <= set(gbm.feature_names_)
    compiled = gbm.predict(X, group=L)
    gbm_lightgbm = gbm.trees_
    try:
        gbm.trees_ = None
        assert np.array_equal(compiled, gbm.predict(X))
    finally:
        gbm.trees_ = gbm_lightgbm
