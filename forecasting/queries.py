"""Forecast requests in the core's terms: attributes encoded, history as step totals, pins.

Parsing raises domain errors whose `errors` name a field relative to the query with the query's
position as "index"; the service turns them into API paths (the core knows none).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecasting.catalogue import LaunchCatalogue
from forecasting.curves import category_key
from forecasting.errors import InvalidAnalogue, InvalidHistory
from forecasting.neighbours import AttributeEncoder
from forecasting.periods import Frequency, steps_of
from forecasting.suggest import did_you_mean
from forecasting.types import MAX_PERIOD_QUANTITY, ForecastQuery

_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


@dataclass
class ParsedQueries:
    """Queries as arrays, plus what each one asked of the neighbour model.

    Attributes:
        launch_days: (m,) days since 1970-01-01.
        codes: (m, n_cat) categorical codes, -1 unknown.
        numerics: (m, n_num) numeric attributes, NaN unknown.
        observed: (m, width) observed step totals, NaN beyond `n_observed`.
        n_observed: (m,) observed steps.
        known: (m,) any attribute usable.
        own_rows: (m,) the catalogue row of the product itself, -1 for a new one.
        exclude: Per query, catalogue rows never to borrow from (its own row first).
        pins: Per query, the planner's (row, weight) analogues (empty: none pinned).
        warnings: Per query, what the answer should say about its input.
    """

    launch_days: np.ndarray
    codes: np.ndarray
    numerics: np.ndarray
    observed: np.ndarray
    n_observed: np.ndarray
    known: np.ndarray
    own_rows: np.ndarray
    exclude: list[list[int]]
    pins: list[list[tuple[int, float]]]
    warnings: list[list[str]]

    @property
    def observed_total(self) -> np.ndarray:
        """(m,) sum of the observed steps."""
        width = self.observed.shape[1]
        mask = np.arange(width)[None, :] < self.n_observed[:, None]
        return np.where(mask & np.isfinite(self.observed), self.observed, 0.0).sum(axis=1)


def parse_queries(
    queries: Sequence[ForecastQuery],
    encoder: AttributeEncoder,
    catalogue: LaunchCatalogue,
    freq: Frequency,
    min_width: int,
) -> ParsedQueries:
    """Encode queries for the components.

    Raises:
        InvalidHistory: history dated before the launch or not finite.
        InvalidAnalogue: a pinned or excluded analogue that is unknown, or a pinned one
            launched after the product.
    """
    m = len(queries)
    launch_days = np.array([day_number(q.launch_date) for q in queries], dtype=np.int64)
    attributes = [dict(q.attributes or {}) for q in queries]
    codes = encoder.codes(attributes)
    numerics = encoder.numerics(attributes)
    # New products have no history, pins or exclusions: no call per query for those.
    histories = [
        history_steps(q, i, freq) if q.history else _NO_HISTORY for i, q in enumerate(queries)
    ]
    n_observed = np.array([len(h) for h in histories], dtype=np.int64)
    observed = np.full((m, max([min_width, *n_observed.tolist()])), np.nan)
    for i, h in enumerate(histories):
        if len(h):
            observed[i, : len(h)] = h
    own = np.array([catalogue.row(q.product_id) for q in queries], dtype=np.int64)
    pins = [
        _pins(q, i, catalogue, launch_days[i]) if q.analogues else [] for i, q in enumerate(queries)
    ]
    own_rows = own.tolist()
    exclude = [
        (
            _rows(q.exclude_analogues, i, "exclude_analogues", catalogue)
            if q.exclude_analogues
            else []
        )
        for i, q in enumerate(queries)
    ]
    exclude = [[own_rows[i], *rows] if own_rows[i] >= 0 else rows for i, rows in enumerate(exclude)]
    known = (codes >= 0).any(axis=1) | np.isfinite(numerics).any(axis=1)
    warnings = _all_attribute_warnings(attributes, codes, numerics, encoder)
    return ParsedQueries(
        launch_days, codes, numerics, observed, n_observed, known, own, exclude, pins, warnings
    )


_NO_HISTORY = np.zeros(0)
_NO_HISTORY.flags.writeable = False  # shared by every query without history


def day_number(value: Any) -> int:
    """Days since 1970-01-01 of a date (or anything pandas reads as one)."""
    day = value if type(value) is dt.date else pd.Timestamp(value).date()
    return day.toordinal() - _EPOCH_ORDINAL


def history_steps(query: ForecastQuery, index: int, freq: Frequency) -> np.ndarray:
    """Observed step totals 1..s (s = step of the last observation; gaps are zeros)."""
    if not query.history:
        return np.zeros(0)
    quantity = np.array([float(v) for _, v in query.history])
    if not np.isfinite(quantity).all():
        raise InvalidHistory(
            "history quantities must be finite",
            [{"index": str(index), "field": "history", "message": "not a finite number"}],
        )
    launch = query.launch_date
    steps = steps_of(
        pd.Series(np.full(len(quantity), pd.Timestamp(launch))),
        pd.Series(pd.to_datetime([d for d, _ in query.history])),
        freq,
    )
    if (steps < 1).any():
        raise InvalidHistory(
            "history dated before the launch date",
            [{"index": str(index), "field": "history", "message": "dated before launch_date"}],
        )
    totals = np.zeros(int(steps.max()))
    np.add.at(totals, steps - 1, quantity)
    if (np.abs(totals) > MAX_PERIOD_QUANTITY).any():
        raise InvalidHistory(
            "history quantities too large",
            [
                {
                    "index": str(index),
                    "field": "history",
                    "message": f"a period's total is above {MAX_PERIOD_QUANTITY:.0e}",
                }
            ],
        )
    return np.maximum(totals, 0.0)


def unknown_ids(
    ids: Sequence[str], index: int, field: str, catalogue: LaunchCatalogue, suffix: str = ""
) -> list[dict[str, str]]:
    """One error per id the catalogue does not hold, named `{field}[j]{suffix}` of item `index`
    (the service names every product's unknown analogues with it before asking the model)."""
    return [
        {
            "index": str(index),
            "field": f"{field}[{j}]{suffix}",
            "message": f"unknown product '{pid}' (not in the model's catalogue)",
        }
        for j, pid in enumerate(ids)
        if catalogue.row(pid) < 0
    ]


def _rows(
    ids: Sequence[str], index: int, field: str, catalogue: LaunchCatalogue, suffix: str = ""
) -> list[int]:
    errors = unknown_ids(ids, index, field, catalogue, suffix)
    if errors:
        raise InvalidAnalogue("unknown analogue", errors)
    return [catalogue.row(pid) for pid in ids]


def _pins(
    query: ForecastQuery, index: int, catalogue: LaunchCatalogue, launch_day: int
) -> list[tuple[int, float]]:
    if not query.analogues:
        return []
    ids = [a.product_id for a in query.analogues]
    rows = _rows(ids, index, "analogues", catalogue, ".product_id")
    errors = []
    for j, (row, analogue) in enumerate(zip(rows, query.analogues, strict=True)):
        field = f"analogues[{j}]"
        if catalogue.launch_days_[row] > launch_day:
            errors.append(
                {
                    "index": str(index),
                    "field": f"{field}.product_id",
                    "message": f"'{analogue.product_id}' was launched after this product",
                }
            )
        if not (math.isfinite(analogue.weight) and analogue.weight > 0):
            errors.append(
                {"index": str(index), "field": f"{field}.weight", "message": "must be > 0"}
            )
    if errors:
        raise InvalidAnalogue("analogue cannot be borrowed from", errors)
    return [(row, float(a.weight)) for row, a in zip(rows, query.analogues, strict=True)]


def _all_attribute_warnings(
    attributes: Sequence[Mapping[str, Any]],
    codes: np.ndarray,
    numerics: np.ndarray,
    encoder: AttributeEncoder,
) -> list[list[str]]:
    """`attribute_warnings` of every query; a query whose attributes are all known, every
    categorical one a trained level and every numeric one a finite int or float, has none,
    which the codes and numerics already tell for the whole batch at once."""
    known = set(encoder.categorical) | set(encoder.numeric)
    clean = ((codes >= 0).all(axis=1) & np.isfinite(numerics).all(axis=1)).tolist()
    return [
        []
        if clean[i] and attrs.keys() <= known and _plain_numbers(attrs, encoder.numeric)
        else attribute_warnings(attrs, codes[i], encoder)
        for i, attrs in enumerate(attributes)
    ]


def _plain_numbers(attributes: Mapping[str, Any], names: Iterable[str]) -> bool:
    """Whether every numeric attribute is an int or float (NumPy integers also encode as
    numbers, yet `attribute_warnings` warns about them)."""
    return all(isinstance(attributes[name], int | float) for name in names)


def attribute_warnings(
    attributes: Mapping[str, Any], codes: np.ndarray, encoder: AttributeEncoder
) -> list[str]:
    """What the answer says about attributes the model cannot use."""
    out: list[str] = []
    for j, name in enumerate(encoder.categorical):
        value = attributes.get(name)
        if value is None:
            out.append(f"attribute {name} is missing; treated as unknown")
        elif codes[j] < 0:
            key = category_key(value)
            out.append(
                f"attribute {name}={key} was never seen in training; treated as unknown"
                + did_you_mean(key, encoder.categorical[name])
            )
    for name in encoder.numeric:
        value = attributes.get(name)
        if value is None:
            out.append(f"attribute {name} is missing; treated as unknown")
        elif not _is_finite_number(value):
            out.append(f"attribute {name}={value} is not a number; treated as unknown")
    for name in attributes:
        if name not in encoder.categorical and name not in encoder.numeric:
            unused = [known for known in encoder.names if known not in attributes]
            out.append(
                f"attribute {name} is unknown to the model; ignored" + did_you_mean(name, unused)
            )
    return out


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
