"""/v1/attributes: what the active model knows of each attribute (for validation and choices)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from service.api.schemas import AUTH_ERRORS
from service.auth import ForecastAccess
from service.model_store import ModelStore

router = APIRouter(prefix="/v1", tags=["forecasts"])


EXAMPLE: dict[str, Any] = {
    "model_version": "20250201T030000Z-3f9a1c",
    "attributes": [
        {
            "name": "category",
            "kind": "categorical",
            "values": [{"value": "dresses", "count": 412}, {"value": "tops", "count": 388}],
        },
        {"name": "price", "kind": "numeric", "min": 9.9, "median": 39.5, "max": 249.0},
    ],
}


class ValueCount(BaseModel):
    value: str = Field(examples=["dresses"])
    count: int = Field(description="Training products carrying this value.", examples=[412])


class CategoricalAttribute(BaseModel):
    name: str = Field(examples=["category"])
    kind: Literal["categorical"]
    values: list[ValueCount]


class NumericAttribute(BaseModel):
    name: str = Field(examples=["price"])
    kind: Literal["numeric"]
    min: float | None = Field(description="Over the training products that carry a value.")
    median: float | None
    max: float | None


class AttributesResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE]})
    model_version: str | None = Field(
        description="The active model; null (and no attributes) while none is loaded.",
        examples=["20250201T030000Z-3f9a1c"],
    )
    attributes: list[
        Annotated[CategoricalAttribute | NumericAttribute, Field(discriminator="kind")]
    ]


@router.get(
    "/attributes",
    summary="Attributes the active model knows, with their values",
    response_model=AttributesResponse,
    dependencies=[ForecastAccess],
    responses={200: {"content": {"application/json": {"example": EXAMPLE}}}, **AUTH_ERRORS},
)
async def list_attributes(request: Request) -> dict[str, Any]:
    """Each attribute's kind; categorical values with how many training products carry each,
    numeric min, median and max."""
    store: ModelStore = request.app.state.model_store
    served = store.model
    if served is None:
        return {"model_version": None, "attributes": []}
    # Off the loop: a large catalogue's counts take a few milliseconds of NumPy.
    attributes = await run_in_threadpool(served.forecaster.attribute_summary)
    return {"model_version": served.version, "attributes": attributes}
