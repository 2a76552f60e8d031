"""Drivers: a forecast's total over the horizon as a baseline plus what moved it.

The launch model's part is LightGBM's own TreeSHAP (`pred_contrib`) per row, in units sold
(attributes by name, the launch calendar, the observed history; the step and the global curve
are the baseline). A curve or neighbour answer is the global curve plus what the attribute
curves, the neighbours or the observed level moved it by. Steps past launch_steps carry their
last step's contributions scaled like the forecast; the floor at zero is counted in the
baseline, so the parts always sum to the total.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecasting.curve_model import CurveModel
from forecasting.features import CALENDAR_NAMES, HISTORY_NAMES
from forecasting.gbm import LaunchGBM
from forecasting.types import Drivers


@dataclass
class Horizon:
    """Where each forecast step reads the launch curve, and its tail factor past it."""

    inside: np.ndarray  # (m, h) 0-based launch step read
    tail: np.ndarray  # (m, h) 1 inside the launch steps, the global shape beyond

    def total(self, curve: np.ndarray) -> np.ndarray:
        """(m,) each launch curve's total over the horizon."""
        return (np.take_along_axis(curve, self.inside, axis=1) * self.tail).sum(axis=1)


@dataclass
class Parts:
    """Per query: a baseline, contributions by column (attributes, then calendar, analogues,
    history) and the total of the model's own answer."""

    baseline: np.ndarray
    columns: np.ndarray
    model_total: np.ndarray


def from_launch_model(
    gbm: LaunchGBM, X: np.ndarray, names: list[str], horizon: Horizon, n_observed: np.ndarray
) -> Parts:
    """TreeSHAP contributions of the launch model's rows (one row per query and launch step)."""
    m, L = horizon.inside.shape[0], X.shape[0] // max(horizon.inside.shape[0], 1)
    contrib = gbm.contributions(X).reshape(m, L, -1)
    picked = np.take_along_axis(contrib, horizon.inside[:, :, None], axis=1)
    total = (picked * horizon.tail[:, :, None]).sum(axis=1)  # (m, features + 1)
    columns = np.zeros((m, len(names) + 3))
    baseline = total[:, -1].copy()
    for column, group in enumerate(_groups(gbm.feature_names_, names)):
        if group is None:
            baseline += total[:, column]
        else:
            columns[:, group] += total[:, column]
    # Nothing observed: what the history features say of a cold start is its baseline.
    history = len(names) + 2
    cold = n_observed == 0
    baseline += np.where(cold, columns[:, history], 0.0)
    columns[cold, history] = 0.0
    return Parts(baseline, columns, total.sum(axis=1))


def from_curves(
    curves: CurveModel,
    codes: np.ndarray,
    warm: np.ndarray,
    names: list[str],
    horizon: Horizon,
) -> Parts:
    """The attribute curve as the global curve plus an equal share per known value (it is their
    mean), and the observed level's move as the history. `warm` is the (m, L) answer."""
    m = len(codes)
    cold = curves.forecasts(codes, np.zeros(m), np.zeros(m, dtype=np.int64))
    base = horizon.total(cold["global_curve"])
    attribute = horizon.total(cold["attribute_curve"])
    known = (codes >= 0).sum(axis=1)
    columns = np.zeros((m, len(names) + 3))
    for j in range(codes.shape[1]):
        share = np.where(codes[:, j] >= 0, 1.0 / np.maximum(known, 1), 0.0)
        columns[:, j] = share * (attribute - base)
    model_total = horizon.total(warm)
    columns[:, len(names) + 2] = model_total - np.where(known > 0, attribute, base)
    return Parts(base, columns, model_total)


def assemble(
    parts: Parts, served_total: np.ndarray, methods: list[str], names: list[str]
) -> list[Drivers]:
    """Drivers per query: what borrowing from neighbours added goes to "analogues", the floor at
    zero to the baseline; a global-curve answer is all baseline."""
    baseline, columns = parts.baseline.copy(), parts.columns.copy()
    analogues = len(names) + 1
    for j, method in enumerate(methods):
        moved = served_total[j] - parts.model_total[j]
        if method == "global_curve":
            baseline[j], columns[j] = served_total[j], 0.0
        elif method == "neighbours":
            columns[j, analogues] += moved
        else:
            baseline[j] += moved
    return [
        Drivers(
            baseline=float(baseline[j]),
            contributions={
                **{name: float(columns[j, c]) for c, name in enumerate(names)},
                "launch_calendar": float(columns[j, len(names)]),
                "analogues": float(columns[j, analogues]),
                "history": float(columns[j, len(names) + 2]),
            },
        )
        for j in range(len(methods))
    ]


def _groups(features: list[str], attributes: list[str]) -> list[int | None]:
    """Per feature: the column it adds to (None: the baseline)."""
    groups: list[int | None] = []
    for name in features:
        if name.startswith(("cat:", "num:")):
            groups.append(attributes.index(name[4:]))
        elif name in CALENDAR_NAMES:
            groups.append(len(attributes))
        elif name in HISTORY_NAMES:
            groups.append(len(attributes) + 2)
        else:
            groups.append(None)
    return groups
