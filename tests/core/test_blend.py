"""Blend weights: rolling-origin folds inside the training data, grid search, blending."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from forecasting.blend import best_weights, blend, blend_cold_warm, fold_cuts, simplex_grid
from forecasting.model import ForecasterConfig, LaunchForecaster
from forecasting.types import ForecastQuery
from tests.core.conftest import small_config


def test_fold_windows_are_consecutive_and_cover_the_most_recent_launches() -> None:
    days = np.arange(1000, dtype=np.int64)
    cuts = fold_cuts(days, n_folds=4, window=0.5)
    assert len(cuts) == 4
    assert cuts[0][0] == 500 and cuts[-1][1] == 1000
    assert all(a[1] == b[0] for a, b in itertools.pairwise(cuts))
    sizes = [int(((days >= a) & (days < b)).sum()) for a, b in cuts]
    assert sizes == [125, 125, 125, 125]


def test_no_folds_when_switched_off_or_nothing_launched() -> None:
    assert fold_cuts(np.arange(10), n_folds=0, window=0.5) == []
    assert fold_cuts(np.zeros(0, dtype=np.int64), n_folds=3, window=0.5) == []


def test_simplex_grid_holds_every_weight_vector_summing_to_one() -> None:
    grid = list(simplex_grid(3, 0.1))
    assert len(grid) == math.comb(10 + 2, 2)
    assert grid[0] == (1.0, 0.0, 0.0)
    assert all(abs(sum(w) - 1) < 1e-12 and min(w) >= 0 for w in grid)


def test_best_weights_recover_a_known_mix() -> None:
    rng = np.random.default_rng(0)
    a, b, c = rng.gamma(2.0, 10.0, size=(3, 500))
    chosen = best_weights(0.3 * a + 0.7 * b, {"a": a, "b": b, "c": c}, step=0.1)
    assert chosen == pytest.approx({"a": 0.3, "b": 0.7})


def test_best_weights_give_everything_to_a_component_the_others_cannot_improve() -> None:
    rng = np.random.default_rng(1)
    a, noise = rng.gamma(2.0, 10.0, size=(2, 500))
    assert best_weights(a, {"a": a, "noise": noise}, step=0.1) == {"a": 1.0}


def test_blend_is_the_weighted_sum_and_needs_a_weight() -> None:
    parts = {"a": np.array([1.0, 2.0]), "b": np.array([3.0, 5.0])}
    assert blend(parts, {"a": 0.25, "b": 0.75}).tolist() == [2.5, 4.25]
    with pytest.raises(ValueError, match="at least one weight"):
        blend(parts, {})


def test_cold_and_warm_rows_get_their_own_weights_for_flat_rows_and_curves() -> None:
    weights = {"cold": {"a": 1.0}, "warm": {"b": 1.0}}
    flat = {"a": np.array([1.0, 2.0]), "b": np.array([10.0, 20.0])}
    assert blend_cold_warm(flat, weights, np.array([False, True])).tolist() == [1.0, 20.0]
    curves = {"a": np.ones((2, 3)), "b": np.full((2, 3), 7.0)}
    mixed = blend_cold_warm(curves, weights, np.array([True, False]))
    assert mixed.tolist() == [[7.0] * 3, [1.0] * 3]


@pytest.mark.parametrize("step", [0.0, -0.1, 0.3, 1.5])
def test_a_blend_step_that_does_not_divide_one_is_refused(step: float) -> None:
    with pytest.raises(ValueError, match="blend_step"):
        ForecasterConfig(blend_step=step)


def test_an_unknown_objective_is_refused_before_any_training() -> None:
    with pytest.raises(ValueError, match="unknown LightGBM objective 'quantile'"):
        ForecasterConfig(extra_objectives=("quantile",))


def test_each_blend_fold_trains_only_on_launches_before_its_window(
    catalogue: tuple[pd.DataFrame, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    products, sales = catalogue
    fits: list[pd.Timestamp] = []
    original = LaunchForecaster.fit

    def recording_fit(
        self: LaunchForecaster, p: pd.DataFrame, *args: Any, **kwargs: Any
    ) -> LaunchForecaster:
        fits.append(pd.to_datetime(p["launch_date"]).max())
        return original(self, p, *args, **kwargs)

    monkeypatch.setattr(LaunchForecaster, "fit", recording_fit)
    model = LaunchForecaster(small_config(blend_folds=3)).fit(products, sales)
    cuts = fold_cuts(model.launch_days_, 3, model.config.blend_window)
    starts = [pd.Timestamp(np.datetime64(start, "D")) for start, _ in cuts]
    assert len(fits) == 1 + len(cuts)  # the model itself, then one fit per fold
    assert all(last < start for last, start in zip(fits[1:], starts, strict=True))
    folds = model.validation_["blend_folds"]
    assert folds["rows"] > 0
    for kind in ("cold", "warm"):
        assert sum(model.blend_weights_[kind].values()) == pytest.approx(1.0)


def test_the_served_blend_is_the_weighted_sum_of_its_components(
    catalogue: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    products, sales = catalogue
    model = LaunchForecaster(small_config(blend_folds=2)).fit(products, sales)
    model.blend_weights_ = {
        "cold": {"gbm": 0.5, "gbm_tweedie": 0.2, "attribute_curve": 0.3},
        "warm": {"neighbours": 1.0},
    }
    query = ForecastQuery(
        launch_date=pd.Timestamp("2026-07-06").date(), attributes=products.iloc[0]["attributes"]
    )
    parts = model.predict_components([query])
    expected = 0.5 * parts["gbm"] + 0.2 * parts["gbm_tweedie"] + 0.3 * parts["attribute_curve"]
    np.testing.assert_allclose(parts["blend"], expected)
    [served] = model.predict([query], model.config.launch_steps)
    np.testing.assert_allclose(served.point, expected[0])


def test_without_folds_the_main_gbm_speaks_alone(
    catalogue: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    products, sales = catalogue
    model = LaunchForecaster(small_config(blend_folds=0)).fit(products, sales)
    assert model.blend_weights_ == {"cold": {"gbm": 1.0}, "warm": {"gbm": 1.0}}
    assert "blend_folds" not in model.validation_
