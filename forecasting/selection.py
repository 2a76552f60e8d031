"""Forecast value added: every method against the one it falls back to, and the served choice.

Methods from the simplest to the most complex; each falls back to the one before it. A method is
served only if it beats the method served so far on every cross-validation fold (each fold is a
later period of launches) by more than `selection_margin` WAPE points (about the seed noise), so
a method that wins on one period and loses on the next is not served, and simple wins ties.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from forecasting.metrics import bias as bias_of
from forecasting.metrics import wape

ORDER = ("global_curve", "attribute_curve", "neighbours", "gbm")
FALLBACK = {"attribute_curve": "global_curve", "neighbours": "attribute_curve", "gbm": "neighbours"}


@dataclass
class FoldForecasts:
    """One fold's out-of-sample forecasts of its launches.

    Attributes:
        window: (first, last) launch day of the fold's window, ISO dates.
        actual: (q, L) actual step totals (NaN where not reached).
        forecasts: {method: (q, L)}.
        n_observed: (q,) observed steps given to each query (0 = cold start).
        selection: (q,) the queries the choice of method scores (None: all); the others
            only calibrate the intervals.
    """

    window: tuple[str, str]
    actual: np.ndarray
    forecasts: dict[str, np.ndarray]
    n_observed: np.ndarray
    selection: np.ndarray | None = None

    def for_selection(self) -> FoldForecasts:
        """This fold with only the queries the choice of method scores."""
        if self.selection is None:
            return self
        rows = self.selection
        return FoldForecasts(
            self.window,
            self.actual[rows],
            {m: f[rows] for m, f in self.forecasts.items()},
            self.n_observed[rows],
        )

    def scored(self) -> np.ndarray:
        """(q, L) the steps after the observed ones that were reached."""
        steps = np.arange(1, self.actual.shape[1] + 1)
        return (steps[None, :] > self.n_observed[:, None]) & np.isfinite(self.actual)

    def naive(self) -> np.ndarray:
        """Warm queries: the last observed step repeated; cold ones: the global curve."""
        last = self.actual[np.arange(len(self.actual)), np.maximum(self.n_observed - 1, 0)]
        return np.where(
            (self.n_observed > 0)[:, None], last[:, None], self.forecasts["global_curve"]
        )


def fva_table(folds: list[FoldForecasts]) -> dict[str, Any]:
    """Per method: WAPE and bias overall, per fold, cold and warm, per step, and the WAPE
    points it gains over its fallback, the global curve and naive (positive: better)."""
    methods = [m for m in ORDER if all(m in f.forecasts for f in folds)]
    table: dict[str, Any] = {}
    for method in [*methods, "naive"]:
        table[method] = _scores(folds, method)
    for method in methods:
        row = table[method]
        for name, reference in (
            ("vs_fallback", FALLBACK.get(method)),
            ("vs_global_curve", "global_curve"),
            ("vs_naive", "naive"),
        ):
            if reference is not None and reference in table:
                row[name] = _gain(table[reference]["wape"], row["wape"])
    return table


def _scores(folds: list[FoldForecasts], method: str) -> dict[str, Any]:
    def pick(f: FoldForecasts) -> np.ndarray:
        return f.naive() if method == "naive" else f.forecasts[method]

    actual = np.concatenate([f.actual[f.scored()] for f in folds]) if folds else np.zeros(0)
    point = np.concatenate([pick(f)[f.scored()] for f in folds]) if folds else np.zeros(0)
    warm = (
        np.concatenate(
            [
                np.broadcast_to((f.n_observed > 0)[:, None], f.actual.shape)[f.scored()]
                for f in folds
            ]
        )
        if folds
        else np.zeros(0, dtype=bool)
    )
    L = folds[0].actual.shape[1] if folds else 0
    per_step = []
    for s in range(1, L + 1):
        a = np.concatenate([f.actual[:, s - 1][f.scored()[:, s - 1]] for f in folds])
        p = np.concatenate([pick(f)[:, s - 1][f.scored()[:, s - 1]] for f in folds])
        per_step.append(_finite(wape(a, p)))
    return {
        "wape": _finite(wape(actual, point)),
        "bias": _finite(bias_of(actual, point)),
        "cold_wape": _finite(wape(actual[~warm], point[~warm])),
        "warm_wape": _finite(wape(actual[warm], point[warm])),
        "per_fold": [_finite(wape(f.actual[f.scored()], pick(f)[f.scored()])) for f in folds],
        "per_step": per_step,
    }


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _gain(reference: float | None, value: float | None) -> float | None:
    if reference is None or value is None:
        return None
    return reference - value


class MethodSelector:
    """Chooses the served method from the folds (see the module docstring).

    Fitted state: `served_`, `table_` (the FVA table), `decisions_` (one sentence per method).
    """

    def __init__(self, margin: float) -> None:
        self.margin = margin

    def fit(self, folds: list[FoldForecasts], fallback: str = "neighbours") -> MethodSelector:
        """Choose on these folds; with no fold, serve `fallback`."""
        self.table_ = fva_table(folds) if folds else {}
        self.decisions_: list[str] = []
        if not folds:
            self.served_ = fallback
            self.decisions_.append(f"no cross-validation fold: {fallback} is served unchecked")
            return self
        served = ORDER[0]
        for method in ORDER[1:]:
            if method not in self.table_:
                continue
            mine = self.table_[method]["per_fold"]
            theirs = self.table_[served]["per_fold"]
            gains = [
                (t - m) if (t is not None and m is not None) else None
                for m, t in zip(mine, theirs, strict=True)
            ]
            wins = all(g is not None and g > self.margin for g in gains)
            shown = ", ".join("n/a" if g is None else f"{g:+.1f}" for g in gains)
            self.decisions_.append(
                f"{method} vs {served}: WAPE gain per fold {shown} "
                f"(needs > {self.margin:g} on every fold): {'served' if wins else 'not served'}"
            )
            if wins:
                served = method
        self.served_ = served
        return self

    def to_json(self) -> dict[str, Any]:
        return {"served": self.served_, "table": self.table_, "decisions": self.decisions_}

    @classmethod
    def from_json(cls, data: dict[str, Any], margin: float) -> MethodSelector:
        self = cls(margin)
        self.served_ = str(data["served"])
        self.table_ = dict(data["table"])
        self.decisions_ = list(data["decisions"])
        return self
