"""/v1/products: the catalogue (batch upserts, reads, deletion)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from sqlalchemy.orm import Session

from service.api.batch import BatchRoute, BatchRules, batch_rules
from service.api.deps import SessionDep, SettingsDep
from service.api.schemas import AUTH_ERRORS, VALIDATION_ERROR, problem
from service.auth import ReadAccess, WriteAccess
from service.errors import Conflict, InvalidItems, NotFound
from store.fields import AttributeValue, ProductId, no_control_characters
from store.ingest import (
    ItemError,
    ProductIn,
    api_locator,
    check_products,
    product_rows,
)
from store.repositories import catalogue
from store.settings import Settings

router = APIRouter(prefix="/v1", tags=["products"], route_class=BatchRoute)
T = TypeVar("T")

# A path id is checked like a stored one: a NUL must be a 422, not a database error.
ProductIdPath = Annotated[ProductId, Path(description="The product's id.")]

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: problem("Not found", 404, "no product 'SKU-1001'")
}
# A write that kept deadlocking with concurrent writes (after retries): nothing written.
WRITE_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: problem(
        "Conflict",
        409,
        "the write conflicted with concurrent ones 3 times (DeadlockDetected); nothing was "
        "written; send the batch again",
    )
}


PRODUCT_IN_EXAMPLE: dict[str, Any] = {
    "product_id": "SKU-1001",
    "launch_date": "2024-03-04",
    "attributes": {"category": "dresses", "color": "red", "fabric": "cotton", "price": 29.9},
}
# SKU-1001 as stored, once its twelve weekly sales (see /v1/sales) are in.
PRODUCT_OUT_EXAMPLE: dict[str, Any] = {
    **PRODUCT_IN_EXAMPLE,
    "n_observations": 12,
    "first_sale_date": "2024-03-04",
    "last_sale_date": "2024-05-20",
}


class ProductsRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"products": [PRODUCT_IN_EXAMPLE]}]})
    products: list[ProductIn]


class UpsertResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"inserted": 1, "updated": 0}]})
    inserted: int = Field(examples=[1])
    updated: int = Field(examples=[0])


class ProductOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [PRODUCT_OUT_EXAMPLE]})
    product_id: str = Field(examples=["SKU-1001"])
    launch_date: dt.date | None = Field(
        description="The launch date given, or where none was, the first sale's date (the "
        "contract: periods then count from it); null while neither is known.",
        examples=["2024-03-04"],
    )
    attributes: dict[str, AttributeValue] = Field(examples=[{"category": "dresses"}])
    n_observations: int = Field(examples=[12])
    first_sale_date: dt.date | None = Field(examples=["2024-03-04"])
    last_sale_date: dt.date | None = Field(examples=["2024-05-20"])


class ProductPage(BaseModel):
    # The first page of ?limit=1: the next one starts after SKU-1001.
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"products": [PRODUCT_OUT_EXAMPLE], "next_cursor": "U0tVLTEwMDE"}]
        }
    )
    products: list[ProductOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page.",
        examples=["U0tVLTEwMDE"],
    )


def product_links(id_expression: str) -> dict[str, Any]:
    """OpenAPI links from an answer to the operations on the product it names (clients and
    schemathesis' stateful phase follow them)."""
    targets = {
        "get_product": "Read it",
        "product_sales": "Its sales",
        "product_forecast": "Its forecast",
        "delete_product": "Delete it",
    }
    return {
        operation: {
            "operationId": operation,
            "parameters": {"product_id": id_expression},
            "description": description,
        }
        for operation, description in targets.items()
    }


def raise_if_invalid(errors: list[ItemError]) -> None:
    if errors:
        fields = ", ".join(e.field for e in errors[:20])
        more = f" and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise InvalidItems(
            f"nothing was written; invalid items: {fields}{more}",
            [{"field": e.field, "message": e.message} for e in errors],
        )


# Beyond each product's fields, a batch holds each id once (a check that reads nothing).
PRODUCT_BATCH = BatchRules(
    "products",
    TypeAdapter(ProductIn),
    lambda _session, products, locate: check_products(products, locate),
)


def check_batch_size(settings: Settings, n_items: int, collection: str) -> None:
    if n_items > settings.max_batch_items:
        raise InvalidItems(
            f"{n_items} {collection} in one batch; the limit is {settings.max_batch_items}",
            [{"field": collection, "message": f"at most {settings.max_batch_items} items"}],
        )


@router.post(
    "/products",
    summary="Upsert a batch of products",
    response_model=UpsertResponse,
    dependencies=[WriteAccess],
    responses={
        200: {"links": product_links("$request.body#/products/0/product_id")},
        **AUTH_ERRORS,
        **VALIDATION_ERROR,
        **WRITE_CONFLICT,
        413: problem("Too large", 413, "body too large"),
    },
)
@batch_rules(PRODUCT_BATCH)
def upsert_products(
    body: ProductsRequest, session: SessionDep, settings: SettingsDep
) -> UpsertResponse:
    """Insert or update products atomically; one invalid item writes nothing.

    Duplicate `product_id`s within one batch are refused (422), since which one should win is
    ambiguous. Sending the same batch twice leaves the same state.
    """
    check_batch_size(settings, len(body.products), "products")
    raise_if_invalid(check_products(body.products, api_locator("products")))
    rows = product_rows(body.products)

    def write() -> catalogue.UpsertCount:
        count = catalogue.upsert_products(session, rows)
        session.commit()
        return count

    count = write_retrying(session, write)
    return UpsertResponse(inserted=count.inserted, updated=count.updated)


def write_retrying(session: Session, work: Callable[[], T]) -> T:
    """Run a write transaction, again after a deadlock or serialization failure; one that keeps
    losing to concurrent writes is a 409 (nothing written), not a 503 saying the database is
    down."""
    try:
        return catalogue.retrying(session, work)
    except catalogue.WriteConflict as exc:
        raise Conflict(f"{exc}; send the batch again") from exc


def _product_out(summary: catalogue.ProductSummary) -> ProductOut:
    p = summary.product
    return ProductOut(
        product_id=p.product_id,
        launch_date=p.launch_date or summary.first_sale_date,
        attributes=p.attributes,
        n_observations=summary.n_observations,
        first_sale_date=summary.first_sale_date,
        last_sale_date=summary.last_sale_date,
    )


@router.get(
    "/products/{product_id}",
    summary="Get one product",
    response_model=ProductOut,
    dependencies=[ReadAccess],
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
def get_product(product_id: ProductIdPath, session: SessionDep) -> ProductOut:
    """The product with its observation count and first and last sale dates."""
    summary = catalogue.get_product(session, product_id)
    if summary is None:
        raise NotFound(f"no product '{product_id}'")
    return _product_out(summary)


@router.get(
    "/products",
    summary="List products",
    response_model=ProductPage,
    dependencies=[ReadAccess],
    responses={
        200: {"links": product_links("$response.body#/products/0/product_id")},
        **AUTH_ERRORS,
        **VALIDATION_ERROR,
    },
)
def list_products(
    session: SessionDep,
    limit: int = Query(100, ge=1, le=1000, description="Page size."),
    cursor: str | None = Query(None, description="`next_cursor` of the previous page."),
) -> ProductPage:
    """Products in id order, a page at a time."""
    after = _decode_cursor(cursor) if cursor else None
    page = catalogue.list_products(session, limit, after)
    next_cursor = _encode_cursor(page[-1].product.product_id) if len(page) == limit else None
    return ProductPage(products=[_product_out(s) for s in page], next_cursor=next_cursor)


def _encode_cursor(product_id: str) -> str:
    return base64.urlsafe_b64encode(product_id.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return no_control_characters(
            base64.b64decode(padded, altchars=b"-_", validate=True).decode()
        )
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidItems(
            "invalid cursor", [{"field": "cursor", "message": "not a cursor from a previous page"}]
        ) from None


@router.delete(
    "/products/{product_id}",
    summary="Delete a product and its sales",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    dependencies=[WriteAccess],
    responses={**AUTH_ERRORS, **NOT_FOUND, **WRITE_CONFLICT},
)
def delete_product(product_id: ProductIdPath, session: SessionDep) -> Response:
    """Remove the product and all its sales observations (204; 404 when unknown)."""

    def delete() -> bool:
        deleted = catalogue.delete_product(session, product_id)
        session.commit()
        return deleted

    if not write_retrying(session, delete):
        raise NotFound(f"no product '{product_id}'")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
