"""/v1/forecasts: forecasts for new, warming-up and established products."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from forecasting.types import Neighbour, ProductForecast
from service.api.routes.products import ProductIdPath, check_batch_size
from service.api.schemas import AUTH_ERRORS, VALIDATION_ERROR, problem
from service.auth import CallerRole, role_of
from service.batching import ForecastBatcher
from service.errors import InvalidItems, NotFound
from service.forecasts import (
    WITHHELD_SALES,
    Answer,
    RequestedProduct,
    catalogue_ids,
    forecast,
    resolve_queries,
    uses_stored_sales,
)
from service.model_store import ModelStore
from store.fields import Attributes, Date, FiniteFloat, ProductId
from store.session import get_sessionmaker
from store.settings import Role, Settings

if TYPE_CHECKING:
    from fastapi._compat import ModelField  # the type of APIRoute.body_field

router = APIRouter(prefix="/v1", tags=["forecasts"])

EXAMPLE_REQUEST: dict[str, Any] = {
    "horizon": 12,
    "quantiles": [0.1, 0.5, 0.9],
    "explain": True,
    "products": [
        {
            "product_id": "NEW-7",
            "launch_date": "2025-02-03",
            "attributes": {"category": "dresses", "color": "teal", "fabric": "linen"},
            "history": [{"date": "2025-02-03", "quantity": 41}],
        }
    ],
}
EXAMPLE_RESPONSE: dict[str, Any] = {
    "model_version": "20250201T030000Z-3f9a1c",
    "frequency": "W",
    "forecasts": [
        {
            "product_id": "NEW-7",
            "method": "gbm",
            "points": [
                {
                    "step": 2,
                    "start_date": "2025-02-10",
                    "forecast": 37.2,
                    "quantiles": {"0.1": 15.0, "0.5": 33.8, "0.9": 64.1},
                }
            ],
            "total": {
                "forecast": 37.2,
                "quantiles": {"0.1": 16.1, "0.5": 35.0, "0.9": 61.3},
            },
            "neighbours": [{"product_id": "SKU-0931", "similarity": 0.91, "weight": 0.14}],
            "warnings": ["attribute color=teal was never seen in training; treated as unknown"],
        }
    ],
}


class HistoryPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: Date
    quantity: FiniteFloat


Detail = Literal["curves", "drivers"]
MAX_ANALOGUES = 100  # pinned like items per product: a planner pins a handful
MAX_EXCLUDED = 1000


class AnalogueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: ProductId = Field(examples=["SKU-0931"])
    weight: FiniteFloat = Field(
        1.0, gt=0, description="Relative weight among the pinned analogues (default 1)."
    )


class ProductToForecast(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: ProductId | None = Field(
        None, description="Optional: a hypothetical product needs none."
    )
    launch_date: Date | None = None
    attributes: Attributes | None = None
    history: list[HistoryPoint] | None = Field(
        None, description="Early sales of this product (warm-up): the forecast continues after."
    )
    analogues: list[AnalogueIn] | None = Field(
        None,
        max_length=MAX_ANALOGUES,
        description="The planner's like items: the forecast borrows from exactly these catalogue "
        "products, with these relative weights; the answer's neighbours are these, in order.",
    )
    exclude_analogues: list[ProductId] | None = Field(
        None, max_length=MAX_EXCLUDED, description="Catalogue products never to borrow from."
    )

    @model_validator(mode="after")
    def _each_analogue_once(self) -> ProductToForecast:
        seen: set[str] = set()
        for analogue in self.analogues or []:
            if analogue.product_id in seen:
                raise ValueError(f"analogue '{analogue.product_id}' is pinned twice")
            seen.add(analogue.product_id)
        return self

    def borrowing_controls(self) -> list[str]:
        """The fields given that steer what the forecast borrows from."""
        given = [("analogues", self.analogues), ("exclude_analogues", self.exclude_analogues)]
        return [name for name, value in given if value]


# What `check_quantiles` refuses, said in the OpenAPI document too, so a client generated from
# it (or a schema-driven test) knows the bounds; the check itself stays `check_quantiles`.
QUANTILE_LEVELS_SCHEMA: dict[str, Any] = {
    "items": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    "uniqueItems": True,
}


class ForecastRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_REQUEST]})
    horizon: int = Field(
        ge=1,
        description="1 to the configured maximum (default 104). Steps past the launch steps "
        "(12 by default) continue the launch curve's tail, with the last launch step's spread.",
    )
    quantiles: list[float] = Field(
        default_factory=list,
        description="Levels strictly between 0 and 1, each once.",
        json_schema_extra=QUANTILE_LEVELS_SCHEMA,
    )
    explain: bool = Field(False, description="Include the neighbours borrowed from.")
    details: list[Detail] = Field(
        default_factory=list,
        description="'curves': each neighbour's own launch curve; 'drivers': the forecast's "
        "total split into a baseline and contributions. Implies explain.",
    )
    products: list[ProductToForecast] = Field(min_length=1)

    @field_validator("quantiles")
    @classmethod
    def _quantiles_are_levels(cls, levels: list[float]) -> list[float]:
        return check_quantiles(levels)


def check_quantiles(levels: list[float]) -> list[float]:
    for level in levels:
        if not (math.isfinite(level) and 0 < level < 1):
            raise ValueError(f"quantile {level} is not strictly between 0 and 1")
    if len(set(levels)) != len(levels):
        raise ValueError("each quantile level may appear only once")
    return levels


class PointOut(BaseModel):
    step: int = Field(description="Periods since launch (1: the launch period).")
    start_date: dt.date = Field(description="The first day of the period.")
    forecast: float = Field(
        description="The point forecast: the median of the forecast distribution, the value "
        "that minimises absolute error (WAPE). A new product's sales are skewed, so summed over "
        "a collection the points fall short of its total (VISUELLE 2018: by 35-41%); read the "
        "upper quantiles to order to a service level."
    )
    quantiles: dict[str, float] | None = Field(
        None, description="The quantile levels asked for: monotone in the level, never negative."
    )


class NeighbourOut(BaseModel):
    product_id: str
    similarity: float
    weight: float
    curve: list[float | None] | None = Field(
        None,
        description="With details=curves: its launch curve, steps 1..horizon aligned on its "
        "launch (null where it never reached the step).",
    )


class DriversOut(BaseModel):
    baseline: float
    contributions: dict[str, float] = Field(
        description="Each attribute, launch_calendar, analogues and history: added to the "
        "baseline they give the forecast's total over the horizon."
    )


class TotalOut(BaseModel):
    forecast: float = Field(description="The points summed over the horizon.")
    quantiles: dict[str, float] | None = Field(
        None,
        description="The total's quantiles at the levels asked for, calibrated on the totals "
        "of the backtest folds' launches (the steps' quantiles summed misstate the total's "
        "spread: a week's error is partly its own). To order for the total at a service level "
        "(say 90%), ask for that level and order its quantile. A total reaching past the "
        "launch steps (12 by default) reads the spread learnt on totals of that many steps: "
        "the folds hold no longer ones. Null where no such calibration exists (established "
        "products, models trained before it).",
    )


class ProductForecastOut(BaseModel):
    product_id: str | None
    method: str = Field(
        description="gbm, neighbours, attribute_curve, global_curve or statistical:<model> "
        "(blend: models trained before artifact format 4)"
    )
    points: list[PointOut]
    total: TotalOut = Field(description="The forecast's total over the horizon.")
    neighbours: list[NeighbourOut] | None = None
    drivers: DriversOut | None = Field(None, description="With details=drivers.")
    warnings: list[str]


class ForecastResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_RESPONSE]})
    model_version: str | None = Field(
        description="The model that answered; null when answered from launch curves (no model)."
    )
    frequency: str
    forecasts: list[ProductForecastOut]


@dataclass(frozen=True)
class Forecasting:
    """What a forecast route needs from the app, as one dependency (each costs per request)."""

    settings: Settings
    store: ModelStore
    batcher: ForecastBatcher


async def get_forecasting(request: Request) -> Forecasting:
    state = request.app.state
    return Forecasting(state.settings, state.model_store, state.forecast_batcher)


def check_horizon(settings: Settings, horizon: int) -> None:
    if horizon > settings.max_horizon:
        raise InvalidItems(
            f"horizon {horizon} is above the maximum of {settings.max_horizon}",
            [{"field": "horizon", "message": f"at most {settings.max_horizon}"}],
        )


def render(
    answer: Answer, settings: Settings, explain: bool, details: frozenset[str] = frozenset()
) -> bytes:
    """Plain dicts straight to JSON: the schema above documents them, building models would cost.

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
    names = [f"{level:g}" for level in levels]
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
                names.get(level) or names.setdefault(level, f"{level:g}"): round(value, 4)
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
    names = tuple(f"{level:g}" for level in result.quantiles)
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


def answer_request(
    settings: Settings,
    store: ModelStore,
    requested: list[RequestedProduct],
    horizon: int,
    quantiles: list[float],
    explain: bool,
    details: frozenset[str] = frozenset(),
    private: bool = False,
) -> bytes:
    """Resolve, predict and render in one worker-thread call (the blocking, CPU-bound part).

    The session only connects when a product must be read from the catalogue, and is closed
    before predicting so no connection is held during the CPU-bound part.
    """
    with get_sessionmaker(settings.database_url)() as session:
        queries = resolve_queries(session, requested, private)
    answer = forecast(store, queries, horizon, quantiles, explain, details, private)
    if private:
        for product, result in zip(requested, answer.forecasts, strict=True):
            if uses_stored_sales(product):
                result.warnings.append(WITHHELD_SALES)
    return render(answer, settings, explain, details)


async def answer_off_loop(
    app: Forecasting,
    requested: list[RequestedProduct],
    horizon: int,
    quantiles: list[float],
    explain: bool,
    details: frozenset[str] = frozenset(),
    private: bool = False,
) -> Response:
    """Answer with everything blocking off the event loop, in one thread-pool hop.

    The routes are async so that their cheap dependencies and validation run on the loop.
    Small requests that need nothing from the database share predict calls with the requests
    arriving at the same time (see service.batching); the others run alone.
    """
    settings = app.settings
    if private:  # whatever was asked, a private answer names no other product
        explain, details = False, frozenset()
    if app.batcher.accepts(len(requested)) and not catalogue_ids(requested):
        queries = resolve_queries(None, requested)  # complete products: no I/O, microseconds
        body = await app.batcher.submit(
            queries,
            horizon,
            quantiles,
            explain,
            lambda answer: render(answer, settings, explain, details),
            details,
            private,
        )
    else:
        body = await run_in_threadpool(
            answer_request,
            settings,
            app.store,
            requested,
            horizon,
            quantiles,
            explain,
            details,
            private,
        )
    return Response(body, media_type="application/json")


RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {"example": EXAMPLE_RESPONSE}}},
    **AUTH_ERRORS,
    **VALIDATION_ERROR,
    413: problem("Request body too large", 413, "the request body exceeds the limit"),
}


ForecastingDep = Annotated[Forecasting, Depends(get_forecasting)]


def check_private(role: Role, asked: list[str]) -> bool:
    """Whether the answer is private (a forecast key); 403 when such a key asks for what would
    identify other products (API.md, Privacy)."""
    if role is not Role.forecast:
        return False
    if asked:
        raise HTTPException(
            403,
            f"a 'forecast' key may not use {', '.join(asked)}: they show or steer which known "
            "products a forecast borrows from; the 'read' role is needed",
        )
    return True


async def create_forecasts(
    body: ForecastRequest, app: ForecastingDep, role: CallerRole
) -> Response:
    """Forecasts with quantiles, the neighbours borrowed from and the method that spoke.

    With no history a product is forecast for steps 1..horizon; with history up to step s, for
    steps s+1..s+horizon using the observed sales. A `product_id` from the catalogue given
    without attributes and launch date uses the stored ones and the stored sales.
    """
    asked = [name for name in ("explain", "details") if getattr(body, name)]
    asked += sorted({name for p in body.products for name in p.borrowing_controls()})
    private = check_private(role, asked)
    check_horizon(app.settings, body.horizon)
    check_batch_size(app.settings, len(body.products), "products")
    requested = [
        RequestedProduct(
            product_id=p.product_id,
            launch_date=p.launch_date,
            attributes=p.attributes,
            history=[(h.date, h.quantity) for h in p.history] if p.history is not None else None,
            # No generator for what new products leave out: a batch builds a thousand of these.
            analogues=tuple([(a.product_id, a.weight) for a in p.analogues]) if p.analogues else (),
            exclude_analogues=tuple(p.exclude_analogues) if p.exclude_analogues else (),
        )
        for p in body.products
    ]
    return await answer_off_loop(
        app,
        requested,
        body.horizon,
        body.quantiles,
        body.explain,
        frozenset(body.details),
        private,
    )


class ForecastRoute(APIRoute):
    """POST /v1/forecasts, with the common request answered without FastAPI's per-request
    dependency solving and body handling: together a third of the event loop's time per
    single-product request at 64 connections (py-spy), and the loop is what limits the rate.

    Only a request FastAPI's own path would accept as it is goes the short way (a JSON body
    that validates, with the same validator, and a key of the forecast role or none needed);
    anything else, errors included, takes FastAPI's path, so every other answer is unchanged.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        general = super().get_route_handler()
        body_field = self.body_field
        if body_field is None:  # cannot happen (the endpoint has a body); keep FastAPI's path
            return general

        async def handler(request: Request) -> Response:
            arguments = await _plain_request(request, body_field)
            if arguments is None:
                return await general(request)
            return await create_forecasts(*arguments)

        return handler


async def _plain_request(
    request: Request, body_field: ModelField
) -> tuple[ForecastRequest, Forecasting, Role] | None:
    """The endpoint's arguments, as FastAPI would solve them, or None when FastAPI should."""
    if request.headers.get("content-type") != "application/json":
        return None
    if request.app.dependency_overrides:  # tests replace dependencies: FastAPI applies them
        return None
    app = await get_forecasting(request)
    role = _caller_role(app.settings, request.headers.get("x-api-key"))
    if role is None:
        return None
    try:
        body = await request.body()
    except HTTPException:  # too large: FastAPI's path raises it as well
        raise
    except Exception:  # FastAPI's path reads again and answers 400
        return None
    try:
        data = orjson.loads(body)  # rejects what json.loads alone accepts (NaN): FastAPI's path
    except orjson.JSONDecodeError:
        return None
    value, errors = body_field.validate(data, {}, loc=("body",))
    if errors:
        return None
    return value, app, role


def _caller_role(settings: Settings, key: str | None) -> Role | None:
    """The role `require(Role.forecast)` gives, or None where it would refuse."""
    if not settings.api_keys:
        return Role.admin
    granted = role_of(key, settings.api_keys) if key else None
    if granted is None or granted.rank < Role.forecast.rank:
        return None
    return granted


router.add_api_route(
    "/forecasts",
    create_forecasts,
    methods=["POST"],
    summary="Forecast a batch of products (new, warming up or established)",
    response_model=ForecastResponse,
    responses=RESPONSES,
    route_class_override=ForecastRoute,
)


@router.get(
    "/products/{product_id}/forecast",
    summary="Forecast one catalogue product",
    response_model=ForecastResponse,
    responses={**RESPONSES, 404: problem("Not found", 404, "no product 'SKU-1001'")},
)
async def product_forecast(
    product_id: ProductIdPath,
    app: ForecastingDep,
    role: CallerRole,
    horizon: int = Query(12, ge=1, description="Steps to forecast."),
    quantiles: list[float] = Query(
        [],
        description="Quantile levels strictly between 0 and 1, each once, e.g. "
        "?quantiles=0.1&quantiles=0.9",
        json_schema_extra=QUANTILE_LEVELS_SCHEMA,
    ),
    explain: bool = Query(False, description="Include the neighbours borrowed from."),
    details: list[Detail] = Query(
        [], description="curves and/or drivers (see POST /v1/forecasts); implies explain."
    ),
) -> Response:
    """The forecast of a catalogue product from its stored attributes, launch date and sales."""
    asked = [name for name, value in (("explain", explain), ("details", details)) if value]
    private = check_private(role, asked)
    check_horizon(app.settings, horizon)
    try:
        check_quantiles(quantiles)
    except ValueError as exc:
        raise InvalidItems(str(exc), [{"field": "quantiles", "message": str(exc)}]) from None
    requested = [RequestedProduct(product_id, None, None, None)]
    try:
        return await answer_off_loop(
            app, requested, horizon, quantiles, explain, frozenset(details), private
        )
    except InvalidItems as exc:
        if [e["field"] for e in exc.errors] == ["products[0].product_id"]:
            raise NotFound(f"no product '{product_id}'") from None
        raise
