"""Periods since launch: the calendar every launch curve is aligned on.

Step 1 is the period that starts on the launch date; step k starts at launch + (k-1) periods.
`D` is a day, `W` seven days, `M` a calendar month (a launch on the 31st steps to month ends).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import numpy as np
import pandas as pd

Frequency = Literal["D", "W", "M"]
FREQUENCIES: tuple[Frequency, ...] = ("D", "W", "M")


def step_start(launch: dt.date, step: int, freq: Frequency) -> dt.date:
    """The first day of `step` (1-based) for a product launched on `launch`."""
    if step < 1:
        raise ValueError("steps start at 1")
    if freq == "D":
        return launch + dt.timedelta(days=step - 1)
    if freq == "W":
        return launch + dt.timedelta(days=7 * (step - 1))
    return (pd.Timestamp(launch) + pd.DateOffset(months=step - 1)).date()


def step_starts(launch: dt.date, steps: np.ndarray, freq: Frequency) -> list[dt.date]:
    """`step_start` of several steps of one launch (one NumPy call for D and W)."""
    steps = np.asarray(steps, dtype=np.int64)
    if (steps < 1).any():
        raise ValueError("steps start at 1")
    if freq == "M":
        return [step_start(launch, int(step), freq) for step in steps]
    days = (steps - 1) * (7 if freq == "W" else 1)
    starts: list[dt.date] = (np.datetime64(launch, "D") + days).tolist()
    return starts


def step_of(launch: dt.date, day: dt.date, freq: Frequency) -> int:
    """The step that `day` falls in (1-based; days before launch give values below 1)."""
    if freq == "D":
        return (day - launch).days + 1
    if freq == "W":
        return (day - launch).days // 7 + 1
    months = (day.year - launch.year) * 12 + day.month - launch.month
    if step_start(launch, months + 1, freq) > day:
        months -= 1
    return months + 1


def steps_of(launch: pd.Series, day: pd.Series, freq: Frequency) -> np.ndarray:
    """Vectorised `step_of` over aligned Series of launch dates and observation dates."""
    launch_ts = pd.to_datetime(launch)
    day_ts = pd.to_datetime(day)
    if freq in ("D", "W"):
        days = (day_ts - launch_ts).dt.days.to_numpy()
        return days + 1 if freq == "D" else days // 7 + 1
    months = (
        (day_ts.dt.year - launch_ts.dt.year) * 12 + (day_ts.dt.month - launch_ts.dt.month)
    ).to_numpy()
    # A month step starts on the launch's day of month (clipped to the month's end).
    starts = [
        (ts + pd.DateOffset(months=int(m))).date() for ts, m in zip(launch_ts, months, strict=True)
    ]
    before = np.array([s > d.date() for s, d in zip(starts, day_ts, strict=True)], dtype=bool)
    return np.asarray(months - before.astype(int) + 1)
