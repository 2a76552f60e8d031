"""The request and answer of /v1/forecasts, as the OpenAPI document describes them."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    field_validator,
    model_validator,
)

from store.fields import Attributes, Date, FiniteFloat, ProductId, Quantity

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
# Named request examples for /docs' "Try it out": the contract's own (its attributes are not the
# demo's, so its answer carries warnings), then requests that the demo catalogue of `make demo`
# (generate_catalogue(2000, seed=7)) answers cleanly. tests/test_openapi_docs.py sends each one.
NEW_DEMO_PRODUCT: dict[str, Any] = {
    "launch_date": "2026-07-06",
    "attributes": {
        "category": "dresses",
        "subcategory": "maxi",
        "color": "red",
        "material": "linen",
        "channel": "store",
        "price": 39.9,
        "is_basic": False,
    },
}
REQUEST_EXAMPLES: dict[str, dict[str, Any]] = {
    "contract": {
        "summary": "API.md's example: a product one week after its launch",
        "value": EXAMPLE_REQUEST,
    },
    "new_product": {
        "summary": "A new product of the demo catalogue, with curves and drivers",
        "value": {
            "horizon": 12,
            "quantiles": [0.1, 0.5, 0.9],
            "details": ["curves", "drivers"],
            "products": [NEW_DEMO_PRODUCT],
        },
    },
    "first_weeks": {
        "summary": "The same product after two weeks on sale (the warm-up model)",
        "value": {
            "horizon": 10,
            "products": [
                {
                    **NEW_DEMO_PRODUCT,
                    "history": [
                        {"date": "2026-07-06", "quantity": 35},
                        {"date": "2026-07-13", "quantity": 52},
                    ],
                }
            ],
        },
    },
    "chosen_analogues": {
        "summary": "Borrow only from like items the planner chose (method: neighbours)",
        "value": {
            "horizon": 12,
            "products": [
                {
                    **NEW_DEMO_PRODUCT,
                    "analogues": [
                        {"product_id": "P00207", "weight": 2},
                        {"product_id": "P00444", "weight": 1},
                    ],
                    "exclude_analogues": ["P00009"],
                }
            ],
        },
    },
    "catalogue_product": {
        "summary": "A catalogue product by id: its stored attributes, launch date and sales",
        "value": {"horizon": 12, "quantiles": [0.1, 0.9], "products": [{"product_id": "P00031"}]},
    },
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
    quantity: Quantity


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
    # Strict, like quantities: `true` or "12" is a mistake to name, not a number to guess.
    horizon: StrictInt = Field(
        ge=1,
        description="1 to the configured maximum (default 104). Steps past the launch steps "
        "(12 by default) continue the launch curve's tail, with the last launch step's spread.",
    )
    quantiles: list[StrictFloat] = Field(
        default_factory=list,
        description="Levels strictly between 0 and 1, each once.",
        json_schema_extra=QUANTILE_LEVELS_SCHEMA,
    )
    explain: StrictBool = Field(False, description="Include the neighbours borrowed from.")
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
