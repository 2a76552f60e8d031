"""/v1/forecasts: forecasts for new, warming-up and established products."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.api.deps import SessionDep, SettingsDep
from service.api.routes.products import check_batch_size
from service.api.schemas import AUTH_ERRORS, VALIDATION_ERROR, problem
from service.auth import ReadAccess
from service.db.models import Product
from service.errors import InvalidItems, NotFound
from service.forecasts import Answer, RequestedProduct, forecast, resolve_queries
from service.ingest import AttributeValue, FiniteFloat, ProductId
from service.model_store import ModelStore
from service.settings import Settings

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
            "method": "blend",
            "points": [
                {
                    "step": 2,
                    "start_date": "2025-02-10",
                    "forecast": 37.2,
                    "quantiles": {"0.1": 15.0, "0.5": 33.8, "0.9": 64.1},
                }
            ],
            "neighbours": [{"product_id": "SKU-0931", "similarity": 0.91, "weight": 0.14}],
            "warnings": ["attribute color=teal was never seen in training; treated as unknown"],
        }
    ],
}


class HistoryPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: dt.date
    quantity: FiniteFloat


class ProductToForecast(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: ProductId | None = Field(
        None, description="Optional: a hypothetical product needs none."
    )
    launch_date: dt.date | None = None
    attributes: dict[str, AttributeValue] | None = None
    history: list[HistoryPoint] | None = Field(
        None, description="Early sales of this product (warm-up): the forecast continues after."
    )


class ForecastRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_REQUEST]})
    horizon: int = Field(ge=1, description="1 to the configured maximum (default 104).")
    quantiles: list[float] = Field(
        default_factory=list, description="Levels strictly between 0 and 1, each once."
    )
    explain: bool = Field(False, description="Include the neighbours borrowed from.")
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
    step: int
    start_date: dt.date
    forecast: float
    quantiles: dict[str, float] | None = None


class NeighbourOut(BaseModel):
    product_id: str
    similarity: float
    weight: float


class ProductForecastOut(BaseModel):
    product_id: str | None
    method: str = Field(
        description="blend, gbm, neighbours, attribute_curve, global_curve or statistical:<model>"
    )
    points: list[PointOut]
    neighbours: list[NeighbourOut] | None = None
    warnings: list[str]


class ForecastResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_RESPONSE]})
    model_version: str | None = Field(
        description="The model that answered; null when answered from launch curves (no model)."
    )
    frequency: str
    forecasts: list[ProductForecastOut]


def get_store(request: Request) -> ModelStore:
    store: ModelStore = request.app.state.model_store
    return store


def check_horizon(settings: Settings, horizon: int) -> None:
    if horizon > settings.max_horizon:
        raise InvalidItems(
            f"horizon {horizon} is above the maximum of {settings.max_horizon}",
            [{"field": "horizon", "message": f"at most {settings.max_horizon}"}],
        )


def render(answer: Answer, settings: Settings, explain: bool) -> Response:
    """Plain dicts straight to JSON: the schema above documents them, building models would cost."""
    body = {
        "model_version": answer.model_version,
        "frequency": settings.frequency,
        "forecasts": [
            {
                "product_id": result.product_id,
                "method": result.method,
                "points": [
                    {
                        "step": int(step),
                        "start_date": start.isoformat(),
                        "forecast": round(float(result.point[i]), 4),
                        **(
                            {
                                "quantiles": {
                                    f"{level:g}": round(float(values[i]), 4)
                                    for level, values in result.quantiles.items()
                                }
                            }
                            if result.quantiles
                            else {}
                        ),
                    }
                    for i, (step, start) in enumerate(
                        zip(result.steps, result.start_dates, strict=True)
                    )
                ],
                **(
                    {
                        "neighbours": [
                            {
                                "product_id": n.product_id,
                                "similarity": round(float(n.similarity), 4),
                                "weight": round(float(n.weight), 4),
                            }
                            for n in result.neighbours
                        ]
                    }
                    if explain
                    else {}
                ),
                "warnings": list(result.warnings),
            }
            for result in answer.forecasts
        ],
    }
    return Response(json.dumps(body, allow_nan=False), media_type="application/json")


RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {"example": EXAMPLE_RESPONSE}}},
    **AUTH_ERRORS,
    **VALIDATION_ERROR,
    413: problem("Request body too large", 413, "the request body exceeds the limit"),
}


StoreDep = Annotated[ModelStore, Depends(get_store)]


@router.post(
    "/forecasts",
    summary="Forecast a batch of products (new, warming up or established)",
    response_model=ForecastResponse,
    dependencies=[ReadAccess],
    responses=RESPONSES,
)
def create_forecasts(
    body: ForecastRequest, session: SessionDep, settings: SettingsDep, store: StoreDep
) -> Response:
    """Forecasts with quantiles, the neighbours borrowed from and the method that spoke.

    With no history a product is forecast for steps 1..horizon; with history up to step s, for
    steps s+1..s+horizon using the observed sales. A `product_id` from the catalogue given
    without attributes and launch date uses the stored ones and the stored sales.
    """
    check_horizon(settings, body.horizon)
    check_batch_size(settings, len(body.products), "products")
    requested = [
        RequestedProduct(
            product_id=p.product_id,
            launch_date=p.launch_date,
            attributes=p.attributes,
            history=[(h.date, h.quantity) for h in p.history] if p.history is not None else None,
        )
        for p in body.products
    ]
    queries = resolve_queries(session, requested)
    session.close()  # release the connection before the CPU-bound part
    answer = forecast(store, queries, body.horizon, body.quantiles, body.explain)
    return render(answer, settings, body.explain)


@router.get(
    "/products/{product_id}/forecast",
    summary="Forecast one catalogue product",
    response_model=ForecastResponse,
    dependencies=[ReadAccess],
    responses={**RESPONSES, 404: problem("Not found", 404, "no product 'SKU-1001'")},
)
def product_forecast(
    product_id: str,
    session: SessionDep,
    settings: SettingsDep,
    store: StoreDep,
    horizon: int = Query(12, ge=1, description="Steps to forecast."),
    quantiles: list[float] = Query(
        [], description="Quantile levels, e.g. ?quantiles=0.1&quantiles=0.9"
    ),
    explain: bool = Query(False, description="Include the neighbours borrowed from."),
) -> Response:
    """The forecast of a catalogue product from its stored attributes, launch date and sales."""
    check_horizon(settings, horizon)
    try:
        check_quantiles(quantiles)
    except ValueError as exc:
        raise InvalidItems(str(exc), [{"field": "quantiles", "message": str(exc)}]) from None
    if session.get(Product, product_id) is None:
        raise NotFound(f"no product '{product_id}'")
    queries = resolve_queries(session, [RequestedProduct(product_id, None, None, None)])
    session.close()
    answer = forecast(store, queries, horizon, quantiles, explain)
    return render(answer, settings, explain)
