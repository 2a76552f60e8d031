"""/v1/forecasts: forecasts for new, warming-up and established products."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import Headers, State

from forecasting.errors import ForecastingError, InvalidAnalogue, InvalidHistory
from service.api.batch import BatchRoute, BatchRules, batch_rules, in_item_order
from service.api.forecast_schemas import (
    EXAMPLE_RESPONSE,
    QUANTILE_LEVELS_SCHEMA,
    REQUEST_EXAMPLES,
    Detail,
    ForecastRequest,
    ForecastResponse,
    ProductToForecast,
    check_quantiles,
)
from service.api.render import render
from service.api.routes.products import ProductIdPath, check_batch_size
from service.api.schemas import AUTH_ERRORS, VALIDATION_ERROR, problem
from service.auth import CallerRole, presented_key, role_of
from service.batching import ForecastBatcher
from service.errors import InvalidItems, NotFound, api_errors, invalid_fields
from service.forecasts import (
    WITHHELD_SALES,
    RequestedProduct,
    catalogue_ids,
    forecast,
    resolve_queries,
    resolve_with_notes,
    unknown_analogues,
    uses_stored_sales,
)
from service.model_store import ModelStore
from store.ingest import ItemError, Locator, api_locator
from store.session import get_sessionmaker
from store.settings import Role, Settings

if TYPE_CHECKING:
    from fastapi._compat import ModelField  # the type of APIRoute.body_field

router = APIRouter(prefix="/v1", tags=["forecasts"])


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
        queries, notes = resolve_with_notes(
            session,
            requested,
            private,
            sales_until=store.sales_until(),
            freq=settings.frequency,
        )
    answer = forecast(store, queries, horizon, quantiles, explain, details, private)
    for index, note in notes.items():
        answer.forecasts[index].warnings.append(note)
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


def requested_product(p: ProductToForecast) -> RequestedProduct:
    """A request's product as the forecast use case takes it."""
    return RequestedProduct(
        product_id=p.product_id,
        launch_date=p.launch_date,
        attributes=p.attributes,
        history=[(h.date, h.quantity) for h in p.history] if p.history is not None else None,
        # No generator for what new products leave out: a batch builds a thousand of these.
        analogues=tuple([(a.product_id, a.weight) for a in p.analogues]) if p.analogues else (),
        exclude_analogues=tuple(p.exclude_analogues) if p.exclude_analogues else (),
    )


def catalogue_errors(
    session: Session, products: Sequence[ProductToForecast], locate: Locator
) -> list[ItemError]:
    """What resolving the products against the catalogue refuses (an id not in it, no launch
    date, history before the launch), found without the model. Pinned analogues are known to
    the model, not the catalogue: `analogue_errors`."""
    try:
        resolve_queries(session, [requested_product(p) for p in products])
    except InvalidItems as exc:
        return [_item_error(error, locate) for error in exc.errors]
    return []


def _item_error(error: dict[str, str], locate: Locator) -> ItemError:
    """resolve_queries names a product by its place in the list it was given ("products[i]..."),
    which is not the batch's when invalid items were left out: `locate` gives the batch's."""
    match = re.fullmatch(r"products\[(\d+)\]\.?(.*)", error["field"])
    if match is None:  # a field of no one product: named as it is, before the items'
        return ItemError(-1, error["field"], error["message"])
    index = int(match.group(1))
    return ItemError(index, locate(index, match.group(2)), error["message"])


def analogue_errors(
    state: State, products: Sequence[ProductToForecast], locate: Locator
) -> list[ItemError]:
    """The pinned and excluded analogues the model that would answer does not know (it knows
    the products it was trained on, not the catalogue as it is now)."""
    unknown = unknown_analogues(state.model_store, [requested_product(p) for p in products])
    return [_item_error(error, locate) for error in unknown]


async def every_invalid_item(
    store: ModelStore, requested: list[RequestedProduct], refusal: InvalidItems | ForecastingError
) -> Exception:
    """A valid body's refusal of some products (by the catalogue, or by the model, which stops
    at the first product it refuses) with every unknown analogue of the others named beside
    it, in item order; the refusal as it is when it names them all already."""
    if not any(p.analogues or p.exclude_analogues for p in requested):
        return refusal
    named = refusal.errors if isinstance(refusal, InvalidItems) else api_errors(refusal.errors)
    fields = {error["field"] for error in named}
    unknown = await run_in_threadpool(unknown_analogues, store, requested)
    more = [_item_error(e, api_locator("products")) for e in unknown if e["field"] not in fields]
    if not more:
        return refusal
    errors = in_item_order("products", named, more)
    return InvalidItems(invalid_fields(errors), errors)


# Beyond each product's fields: what the catalogue says of the products a batch names, and
# what the model says of the analogues they pin or exclude.
FORECAST_BATCH = BatchRules(
    "products", TypeAdapter(ProductToForecast), catalogue_errors, analogue_errors
)


@batch_rules(FORECAST_BATCH)
async def create_forecasts(
    body: Annotated[ForecastRequest, Body(openapi_examples=REQUEST_EXAMPLES)],
    app: ForecastingDep,
    role: CallerRole,
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
    requested = [requested_product(p) for p in body.products]
    try:
        return await answer_off_loop(
            app,
            requested,
            body.horizon,
            body.quantiles,
            body.explain,
            frozenset(body.details),
            private,
        )
    except (InvalidItems, InvalidHistory, InvalidAnalogue) as refusal:
        raise await every_invalid_item(app.store, requested, refusal) from None


class ForecastRoute(BatchRoute):
    """POST /v1/forecasts, with the common request answered without FastAPI's per-request
    dependency solving and body handling: together a third of the event loop's time per
    single-product request at 64 connections (py-spy), and the loop is what limits the rate.

    Only a request FastAPI's own path would accept as it is goes the short way (a JSON body
    that validates, with the same validator, and a key of the forecast role or none needed);
    anything else, errors included, takes FastAPI's path, so every other answer is unchanged
    (that path is a `BatchRoute`'s: a 422 for the body also names what the catalogue refuses).
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

    def refuse_invalid_body(self, request: Request, failure: RequestValidationError) -> None:
        """A forecast key's body asking what `check_private` refuses is 403 even when the body
        is invalid too: its 422 would otherwise say which pinned or excluded ids the model
        knows (API.md, Privacy). Reached after FastAPI ran the dependencies: the key is valid."""
        role = _caller_role(request.app.state.settings, request.headers)
        if role is Role.forecast:
            check_private(role, _asked_in(failure.body))


def _asked_in(body: Any) -> list[str]:
    """What `create_forecasts` gives `check_private`, read from a body that failed validation."""
    if not isinstance(body, dict):
        return []
    asked = [name for name in ("explain", "details") if _asks(body.get(name))]
    products = body.get("products")
    controls = {
        name
        for p in (products if isinstance(products, list) else [])
        if isinstance(p, dict)
        for name in ("analogues", "exclude_analogues")
        if _asks(p.get(name))
    }
    return asked + sorted(controls)


_BOOL: TypeAdapter[bool] = TypeAdapter(bool)


def _asks(value: Any) -> bool:
    """Whether a raw field value asks for something: a non-empty list, or true as the body's
    validation reads it ("true", 1); a value that is neither is a field error, asking nothing."""
    if isinstance(value, list):
        return bool(value)
    try:
        return _BOOL.validate_python(value)
    except ValidationError:
        return False


async def _plain_request(
    request: Request, body_field: ModelField
) -> tuple[ForecastRequest, Forecasting, Role] | None:
    """The endpoint's arguments, as FastAPI would solve them, or None when FastAPI should."""
    if request.headers.get("content-type") != "application/json":
        return None
    if request.app.dependency_overrides:  # tests replace dependencies: FastAPI applies them
        return None
    app = await get_forecasting(request)
    role = _caller_role(app.settings, request.headers)
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


def _caller_role(settings: Settings, headers: Headers) -> Role | None:
    """The role `require(Role.forecast)` gives, or None where it would refuse."""
    if not settings.api_keys:
        return Role.admin
    try:
        key = presented_key(headers)
    except HTTPException:  # several keys: FastAPI's path refuses them
        return None
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
