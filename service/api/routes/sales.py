"""/v1/sales: observed sales (batch upserts) and a product's sales history."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, TypeAdapter

from service.api.batch import BatchRoute, BatchRules, batch_rules
from service.api.deps import SessionDep, SettingsDep
from service.api.routes.products import (
    NOT_FOUND,
    WRITE_CONFLICT,
    ProductIdPath,
    UpsertResponse,
    check_batch_size,
    product_links,
    raise_if_invalid,
    write_retrying,
)
from service.api.schemas import AUTH_ERRORS, VALIDATION_ERROR
from service.auth import ReadAccess, WriteAccess
from service.errors import NotFound
from store.fields import Date
from store.ingest import SaleIn, api_locator, check_sales, sale_rows
from store.repositories import catalogue

router = APIRouter(prefix="/v1", tags=["sales"], route_class=BatchRoute)


class SalesRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"observations": [{"product_id": "SKU-1001", "date": "2024-03-04", "quantity": 17}]}
            ]
        }
    )
    observations: list[SaleIn]


class SalesHistory(BaseModel):
    # SKU-1001's first three weeks (?end=2024-03-18).
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "product_id": "SKU-1001",
                    "observations": [
                        {"product_id": "SKU-1001", "date": "2024-03-04", "quantity": 17.0},
                        {"product_id": "SKU-1001", "date": "2024-03-11", "quantity": 23.0},
                        {"product_id": "SKU-1001", "date": "2024-03-18", "quantity": 19.0},
                    ],
                }
            ]
        }
    )
    product_id: str
    observations: list[SaleIn]


@router.post(
    "/sales",
    summary="Upsert a batch of sales observations",
    response_model=UpsertResponse,
    dependencies=[WriteAccess],
    responses={
        200: {"links": product_links("$request.body#/observations/0/product_id")},
        **AUTH_ERRORS,
        **VALIDATION_ERROR,
        **WRITE_CONFLICT,
    },
)
@batch_rules(BatchRules("observations", TypeAdapter(SaleIn), check_sales))
def upsert_sales(body: SalesRequest, session: SessionDep, settings: SettingsDep) -> UpsertResponse:
    """Insert or update observations keyed by (product_id, date), atomically.

    Unknown products, dates before the product's launch, non-finite quantities and duplicate
    keys within the batch are refused with 422 naming each item; nothing is written.
    Negative quantities (net returns) are stored as sent.
    """
    check_batch_size(settings, len(body.observations), "observations")

    def write() -> catalogue.UpsertCount:
        # The check and the write share one transaction: the check locks the products it
        # found (catalogue.launch_dates), so a retry checks again.
        raise_if_invalid(check_sales(session, body.observations, api_locator("observations")))
        count = catalogue.upsert_sales(session, sale_rows(body.observations))
        session.commit()
        return count

    count = write_retrying(session, write)
    return UpsertResponse(inserted=count.inserted, updated=count.updated)


@router.get(
    "/products/{product_id}/sales",
    summary="A product's sales",
    response_model=SalesHistory,
    dependencies=[ReadAccess],
    responses={**AUTH_ERRORS, **NOT_FOUND, **VALIDATION_ERROR},
)
def product_sales(
    product_id: ProductIdPath,
    session: SessionDep,
    start: Date | None = Query(None, description="First date included."),
    end: Date | None = Query(None, description="Last date included."),
) -> SalesHistory:
    """Observations of one product in date order, optionally between `start` and `end`."""
    if catalogue.get_product(session, product_id) is None:
        raise NotFound(f"no product '{product_id}'")
    rows = catalogue.list_sales(session, product_id, start, end)
    return SalesHistory(
        product_id=product_id,
        observations=[
            SaleIn(product_id=r.product_id, date=r.date, quantity=r.quantity) for r in rows
        ],
    )
