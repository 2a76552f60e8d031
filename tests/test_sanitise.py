"""The service's last line of defence: every number it answers is finite, >= 0 and monotone."""

from __future__ import annotations

import datetime as dt

import numpy as np

from forecasting.types import ProductForecast
from service.forecasts import sanitise_all


def result(point: list[float], low: list[float], high: list[float]) -> ProductForecast:
    steps = np.arange(1, len(point) + 1)
    return ProductForecast(
        product_id=None,
        method="blend",
        steps=steps,
        start_dates=[dt.date(2026, 1, 5)] * len(point),
        point=np.array(point),
        quantiles={0.1: np.array(low), 0.9: np.array(high)},
    )


def test_sound_answers_pass_through_unchanged() -> None:
    sound = [result([1.0, 2.0], [0.5, 1.0], [2.0, 3.0]) for _ in range(3)]
    arrays = [r.point for r in sound]
    out = sanitise_all(sound)
    assert all(r.point is a for r, a in zip(out, arrays, strict=True))


def test_non_finite_negative_and_crossed_numbers_are_repaired() -> None:
    good = result([1.0, 2.0], [0.5, 1.0], [2.0, 3.0])
    bad = result([np.nan, -3.0], [np.inf, 4.0], [1.0, 2.0])
    out = sanitise_all([good, bad])
    assert out[0].point.tolist() == [1.0, 2.0]
    assert out[1].point.tolist() == [0.0, 0.0]
    assert out[1].quantiles[0.1].tolist() == [0.0, 2.0]  # inf -> 0, then sorted under 0.9
    assert out[1].quantiles[0.9].tolist() == [1.0, 4.0]
