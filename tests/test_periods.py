"""Periods since launch follow the contract's definition for D, W and M."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from forecasting.periods import Frequency, step_of, step_start, step_starts, steps_of

LAUNCH = dt.date(2024, 1, 31)


@pytest.mark.parametrize(
    ("freq", "day", "step"),
    [
        ("D", dt.date(2024, 1, 31), 1),
        ("D", dt.date(2024, 2, 1), 2),
        ("W", dt.date(2024, 2, 6), 1),
        ("W", dt.date(2024, 2, 7), 2),
        ("M", dt.date(2024, 2, 28), 1),
        ("M", dt.date(2024, 2, 29), 2),
        ("M", dt.date(2024, 3, 30), 2),
        ("M", dt.date(2024, 3, 31), 3),
        ("W", dt.date(2024, 1, 30), 0),
    ],
)
def test_an_observation_counts_toward_the_step_it_falls_in(
    freq: Frequency, day: dt.date, step: int
) -> None:
    assert step_of(LAUNCH, day, freq) == step
    vectorised = steps_of(pd.Series([LAUNCH]), pd.Series([day]), freq)
    assert int(vectorised[0]) == step


@pytest.mark.parametrize("freq", ["D", "W", "M"])
def test_each_step_starts_inside_itself(freq: Frequency) -> None:
    for step in range(1, 30):
        assert step_of(LAUNCH, step_start(LAUNCH, step, freq), freq) == step


@pytest.mark.parametrize("freq", ["D", "W", "M"])
def test_step_starts_of_many_steps_equal_step_start_of_each(freq: Frequency) -> None:
    steps = np.arange(1, 40)
    assert step_starts(LAUNCH, steps, freq) == [step_start(LAUNCH, int(s), freq) for s in steps]
    assert all(type(day) is dt.date for day in step_starts(LAUNCH, steps, freq))
