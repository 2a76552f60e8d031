"""Feature helpers: how an observed level moves a launch curve."""

from __future__ import annotations

import numpy as np

from forecasting.features import LEVEL_PRIOR_STEPS, shrunk_scale


def test_nothing_observed_leaves_the_curve_as_it_is() -> None:
    scale = shrunk_scale(np.array([np.nan, 5.0]), np.array([0, 0]))
    assert scale.tolist() == [1.0, 1.0]


def test_two_observed_steps_move_the_level_half_way_in_log_space() -> None:
    assert LEVEL_PRIOR_STEPS == 2.0
    scale = shrunk_scale(np.array([4.0, 0.25]), np.array([2, 2]))
    np.testing.assert_allclose(scale, [2.0, 0.5])


def test_more_observed_steps_trust_the_observed_level_more() -> None:
    ratio = np.full(6, 3.0)
    scale = shrunk_scale(ratio, np.arange(1, 7))
    assert np.all(np.diff(scale) > 0)
    assert np.all(scale < 3.0)


def test_extreme_ratios_are_clipped() -> None:
    scale = shrunk_scale(np.array([1e6, 1e-6]), np.array([50, 50]))
    assert scale.tolist() == [10.0, 0.1]
