"""An answer of /v1/forecasts written as JSON bytes, fast: a thousand products in one answer."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

from forecasting.types import Neighbour, ProductForecast
from service.forecasts import Answer, quantile_key
from store.settings import Settings


def render(
    answer: Answer, settings: Settings, explain: bool, details: frozenset[str] = frozenset()
) -> bytes:
    """Plain dicts straight to JSON: service/api/forecast_schemas.py documents them, and building
    its models would cost.

    Every number of the answer is rounded and turned into a Python float in one NumPy call: a
    batch of a thousand products has tens of thousands of them.
    """
    isoformat = functools.cache(dt.date.isoformat)  # products of a batch share launch dates
    points = _all_points(answer.forecasts, isoformat)
    totals = _all_totals(answer.forecasts)
    body = {
        "model_version": answer.model_version,
        "frequency": settings.frequency,
        "forecasts": [
            _product(result, fragment, total, explain or bool(details), details)
            for result, fragment, total in zip(answer.forecasts, points, totals, strict=True)
        ],
    }
    # orjson: a thousand products are ~1.5 MB of JSON, ~10x faster than the json module. It
    # would write NaN as null; `sanitise` has made every number finite before this point.
    return orjson.dumps(body)


def _number_texts(results: list[ProductForecast]) -> list[list[str]]:
    """Per product, the JSON text of [forecast, *quantiles] of each point, point after point,
    rounded to four decimals: the whole answer's numbers written by orjson in one call (it
    writes a float as it would inside the document) and split."""
    if not results:
        return []
    blocks = [np.column_stack([r.point, *r.quantiles.values()]) for r in results]
    flat = np.round(np.concatenate([block.ravel() for block in blocks]), 4)
    texts = orjson.dumps(flat, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].decode().split(",")
    bounds = np.cumsum([0] + [block.size for block in blocks]).tolist()
    return [texts[start:stop] for start, stop in itertools.pairwise(bounds)]


def _all_points(
    results: list[ProductForecast], isoformat: Callable[[dt.date], str]
) -> list[orjson.Fragment]:
    """Each product's points as JSON text: for a batch whose products all have the same number
    of steps and the same quantile levels (the usual case), built for the whole answer at once."""
    if not results:
        return []
    levels = list(results[0].quantiles)
    n_steps = len(results[0].steps)
    uniform = n_steps > 0 and all(
        len(r.steps) == n_steps and list(r.quantiles) == levels for r in results
    )
    if not uniform:
        tables = _number_texts(results)
        return [_points(r, t, isoformat) for r, t in zip(results, tables, strict=True)]
    return _uniform_points(results, levels, n_steps, isoformat)


def _uniform_points(
    results: list[ProductForecast],
    levels: list[float],
    n_steps: int,
    isoformat: Callable[[dt.date], str],
) -> list[orjson.Fragment]:
    """The text of `_points` for every product, from one list of the answer's pieces joined
    once: a string formatting per product was most of rendering a batch.

    The pieces of a point: its opening (step and start date), then each number followed by
    the text after it (the next quantile's name, or the point's closing braces).
    """
    columns = [np.array([r.point for r in results])]
    columns += [np.array([r.quantiles[level] for r in results]) for level in levels]
    numbers = np.round(np.stack(columns, axis=-1), 4)  # (products, steps, 1 + levels)
    texts = orjson.dumps(numbers.ravel(), option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].decode()
    width = numbers.shape[2]
    names = [quantile_key(level) for level in levels]
    after = [',"quantiles":{' + f'"{names[0]}":'] if names else []
    after += [f',"{name}":' for name in names[1:]]
    after.append("}}" if names else "}")
    n_points, stride = numbers.shape[0] * n_steps, 1 + 2 * width
    pieces: list[str] = [""] * (n_points * stride)
    pieces[0::stride] = _all_openings(results, isoformat)
    values = texts.split(",")
    for k, text in enumerate(after):  # the k-th number of every point, and what follows it
        pieces[1 + 2 * k :: stride] = values[k::width]
        pieces[2 + 2 * k :: stride] = [text] * n_points
    # Each product's text ends with a NUL, which no piece contains: the whole answer is then
    # one join and one split.
    pieces[stride * n_steps - 1 :: stride * n_steps] = [after[-1] + "]\x00"] * len(results)
    products = "".join(pieces).split("\x00")[:-1]
    return [orjson.Fragment(text) for text in products]


def _all_openings(results: list[ProductForecast], isoformat: Callable[[dt.date], str]) -> list[str]:
    """`_openings` of every product, point after point."""
    openings: dict[tuple[int, bytes], list[str]] = {}
    out: list[str] = []
    for r in results:
        # Products of a batch share their steps and the list of their start dates: every
        # result is alive until the answer is written, so the list's id names it.
        key = (id(r.start_dates), r.steps.tobytes())
        opening = openings.get(key)
        if opening is None:
            opening = openings[key] = _openings(r, isoformat)
        out += opening
    return out


def _openings(result: ProductForecast, isoformat: Callable[[dt.date], str]) -> list[str]:
    """Per point of `result`, the text before its forecast (with the list's "[" or ",")."""
    return [
        ("," if j else "[") + f'{{"step":{int(step)},"start_date":"{isoformat(day)}","forecast":'
        for j, (step, day) in enumerate(zip(result.steps.tolist(), result.start_dates, strict=True))
    ]


def _all_totals(results: list[ProductForecast]) -> list[dict[str, Any]]:
    """Each product's `total`: its points summed (one rounding for the whole answer) and its
    total band. Every number is finite here (`sanitise`); the band's are Python floats."""
    try:  # one array for the answer when every product has as many points (a batch's usual)
        sums = np.round(np.array([r.point for r in results], dtype=float).sum(axis=1), 4)
    except ValueError:
        sums = np.round([r.point.sum() for r in results], 4)
    names: dict[float, str] = {}  # level -> its JSON name, formatted once per answer
    out = []
    for result, total in zip(results, sums.tolist() if len(results) else [], strict=True):
        band = result.total_quantiles
        quantiles = None
        if band is not None:
            quantiles = {
                names.get(level) or names.setdefault(level, quantile_key(level)): round(value, 4)
                for level, value in band.items()
            }
        out.append({"forecast": total, "quantiles": quantiles})
    return out


def _product(
    result: ProductForecast,
    points: orjson.Fragment,
    total: dict[str, Any],
    explain: bool,
    details: frozenset[str],
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "product_id": result.product_id,
        "method": result.method,
        "points": points,
        "total": total,
    }
    if explain:
        out["neighbours"] = [_neighbour(n, "curves" in details) for n in result.neighbours]
    if "drivers" in details and result.drivers is not None:
        out["drivers"] = {
            "baseline": _number(result.drivers.baseline),
            "contributions": {
                name: _number(value) for name, value in result.drivers.contributions.items()
            },
        }
    out["warnings"] = list(result.warnings)
    return out


def _neighbour(neighbour: Neighbour, with_curve: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "product_id": neighbour.product_id,
        "similarity": round(float(neighbour.similarity), 4),
        "weight": round(float(neighbour.weight), 4),
    }
    if with_curve and neighbour.curve is not None:
        out["curve"] = [_number(value) for value in neighbour.curve]
    return out


def _number(value: float) -> float | None:
    """Rounded, or None (JSON null) where not a finite number (a step a product never reached)."""
    value = float(value)
    return round(value, 4) if math.isfinite(value) else None


def _points(
    result: ProductForecast, numbers: list[str], isoformat: Callable[[dt.date], str]
) -> orjson.Fragment:
    """The product's points as JSON text in one string formatting (a dict per point and one
    per point's quantiles were most of the cost of rendering a large batch). Every number is
    finite here (`sanitise`)."""
    names = tuple(quantile_key(level) for level in result.quantiles)
    width = 1 + len(names)
    values: list[object] = []
    for j, (step, start) in enumerate(zip(result.steps.tolist(), result.start_dates, strict=True)):
        values += (step, isoformat(start), *numbers[j * width : (j + 1) * width])
    return orjson.Fragment(_points_template(len(result.steps), names) % tuple(values))


@functools.lru_cache(maxsize=256)
def _points_template(n_points: int, names: tuple[str, ...]) -> str:
    point = '{"step":%d,"start_date":"%s","forecast":%s'
    if names:
        point += ',"quantiles":{' + ",".join(f'"{name}":%s' for name in names) + "}"
    return "[" + ",".join([point + "}"] * n_points) + "]"
