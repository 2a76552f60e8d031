"""Catalogue ingestion: one validation path for the API and the importer, then set-based writes.

Item-level rules live in the pydantic models (types, lengths, finite numbers); batch-level rules
(duplicates, unknown products, sales before launch) in `check_*`. Every error names its item;
a batch with any error writes nothing unless the caller chooses to skip invalid items.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import ErrorDetails
from sqlalchemy.orm import Session

from store.fields import (
    Attributes,
    Date,
    ProductId,
    Quantity,
    is_union_branch,
    message,
    without_union_misses,
)
from store.repositories import catalogue
from store.repositories.catalogue import OnChunk, UpsertCount


class ProductIn(BaseModel):
    """A product to upsert."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "product_id": "SKU-1001",
                    "launch_date": "2024-03-04",
                    "attributes": {"category": "dresses", "color": "red", "price": 29.9},
                }
            ]
        },
    )

    product_id: ProductId
    launch_date: Date | None = Field(
        None, description="When absent, the first sale's date is used."
    )
    attributes: Attributes = Field(
        default_factory=dict, description="Flat map; a missing attribute is simply unknown."
    )


class SaleIn(BaseModel):
    """One observation: units sold by a product on a date (negative: net returns)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"product_id": "SKU-1001", "date": "2024-03-04", "quantity": 17}]
        },
    )

    product_id: ProductId
    date: Date
    quantity: Quantity


# Locates item `index`'s `field` for messages: "products[3].launch_date" or "row 5: launch_date".
Locator = Callable[[int, str], str]


def api_locator(collection: str) -> Locator:
    return lambda index, name: f"{collection}[{index}].{name}" if name else f"{collection}[{index}]"


@dataclass
class ItemError:
    index: int
    field: str
    message: str


def check_products(products: Sequence[ProductIn], locate: Locator) -> list[ItemError]:
    """Duplicate ids in one batch are refused: which of the two should win is ambiguous."""
    return _duplicates([p.product_id for p in products], locate, "product_id")


def check_sales(
    session: Session,
    sales: Sequence[SaleIn],
    locate: Locator,
    batch_launches: dict[str, dt.date | None] | None = None,
) -> list[ItemError]:
    """Refuse duplicate keys, unknown products and sales dated before their product's launch.

    `batch_launches` holds products written in the same import, which count as known.
    """
    errors = _duplicates([(s.product_id, s.date) for s in sales], locate, "date")
    launches = catalogue.launch_dates(session, {s.product_id for s in sales})
    launches.update(batch_launches or {})
    for index, sale in enumerate(sales):
        if sale.product_id not in launches:
            errors.append(
                ItemError(
                    index, locate(index, "product_id"), f"unknown product '{sale.product_id}'"
                )
            )
            continue
        launch = launches[sale.product_id]
        if launch is not None and sale.date < launch:
            errors.append(
                ItemError(
                    index,
                    locate(index, "date"),
                    f"{sale.date} is before the launch of '{sale.product_id}' on {launch}",
                )
            )
    return errors


def _duplicates(keys: Sequence[Any], locate: Locator, name: str) -> list[ItemError]:
    first_seen: dict[Any, int] = {}
    errors = []
    for index, key in enumerate(keys):
        if key in first_seen:
            errors.append(
                ItemError(
                    index,
                    locate(index, name),
                    # Named by `locate`, not by position: the checked items may be the valid
                    # ones of a batch, whose positions are not the batch's.
                    f"duplicate of {locate(first_seen[key], name)} in the same batch; "
                    "send each key once",
                )
            )
        else:
            first_seen[key] = index
    return errors


def product_rows(products: Sequence[ProductIn]) -> list[dict[str, Any]]:
    return [
        {"product_id": p.product_id, "launch_date": p.launch_date, "attributes": p.attributes}
        for p in products
    ]


def sale_rows(sales: Sequence[SaleIn]) -> list[dict[str, Any]]:
    return [{"product_id": s.product_id, "date": s.date, "quantity": s.quantity} for s in sales]


# --- Records from files or frames -------------------------------------------------------------

_PRODUCTS = TypeAdapter(ProductIn)
_SALES = TypeAdapter(SaleIn)


T = TypeVar("T")


@dataclass
class ParsedItems(Generic[T]):
    valid: list[T] = field(default_factory=list)
    valid_rows: list[int] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)


def parse_records(
    records: Sequence[dict[str, Any]],
    adapter: TypeAdapter[T],
    locate: Locator,
    on_chunk: OnChunk | None = None,
) -> ParsedItems[T]:
    """Validate each record; collect every error instead of stopping at the first.

    `on_chunk` hears the number of records validated every `catalogue.CHUNK_ROWS` records.
    """
    parsed: ParsedItems[T] = ParsedItems()
    for index, record in enumerate(records):
        if on_chunk is not None and index and index % catalogue.CHUNK_ROWS == 0:
            on_chunk(catalogue.CHUNK_ROWS)
        try:
            parsed.valid.append(adapter.validate_python(record))
            parsed.valid_rows.append(index)
        except ValidationError as exc:
            for name, text in field_messages(exc.errors()):
                parsed.errors.append(ItemError(index, locate(index, name), text))
    if on_chunk is not None and records:
        on_chunk(len(records) - (len(records) - 1) // catalogue.CHUNK_ROWS * catalogue.CHUNK_ROWS)
    return parsed


def field_messages(errors: Sequence[ErrorDetails]) -> list[tuple[str, str]]:
    """(dotted field, message) per invalid field, as the API's problem documents name them: a
    field's several messages (a union's members') merge into one."""
    merged: dict[str, list[str]] = {}
    for err in without_union_misses(errors):
        name = ".".join(str(part) for part in err["loc"] if not is_union_branch(part))
        merged.setdefault(name, []).append(message(err))
    return [(name, " or ".join(dict.fromkeys(texts))) for name, texts in merged.items()]


# A batch-level check: the errors of `items`, each named by `locate(index in items, field)`.
BatchCheck = Callable[[Sequence[T], Locator], list[ItemError]]


def check_valid_items(
    parsed: ParsedItems[T], check: BatchCheck[T], locate: Locator
) -> list[ItemError]:
    """Run a batch-level check on the items that passed field validation, so both kinds of error
    are reported together; its errors carry the items' original indexes and paths."""
    errors = check(parsed.valid, lambda index, name: locate(parsed.valid_rows[index], name))
    return [ItemError(parsed.valid_rows[e.index], e.field, e.message) for e in errors]


def product_records(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flat file rows -> product records: every column but the id and launch date is an attribute.

    Empty cells (None / NaN) are unknown and left out.
    """
    records = []
    for row in rows:
        attributes = {
            name: _plain(value)
            for name, value in row.items()
            if name not in ("product_id", "launch_date") and not _is_empty(value)
        }
        launch = row.get("launch_date")
        records.append(
            {
                "product_id": _id(row.get("product_id")),
                "launch_date": None if _is_empty(launch) else _date(launch),
                "attributes": attributes,
            }
        )
    return records


def sale_records(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "product_id": _id(row.get("product_id")),
            "date": None if _is_empty(row.get("date")) else _date(row.get("date")),
            "quantity": row.get("quantity"),
        }
        for row in rows
    ]


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def _id(value: Any) -> Any:
    return "" if _is_empty(value) else str(value)


def _date(value: Any) -> Any:
    if hasattr(value, "date") and callable(value.date):
        return value.date()  # pandas/NumPy timestamps
    return value


def _plain(value: Any) -> Any:
    # NumPy scalars -> Python values; integral floats stay floats (numbers stay numbers).
    return value.item() if hasattr(value, "item") else value


@dataclass
class ImportSummary:
    products: UpsertCount = field(default_factory=UpsertCount)
    sales: UpsertCount = field(default_factory=UpsertCount)
    rejected: list[ItemError] = field(default_factory=list)
    rejected_sales: list[ItemError] = field(default_factory=list)

    @property
    def n_rejected(self) -> int:
        return len({e.index for e in self.rejected}) + len({e.index for e in self.rejected_sales})


def import_records(
    session: Session,
    product_rows_in: Sequence[dict[str, Any]],
    sale_rows_in: Sequence[dict[str, Any]],
    *,
    skip_invalid: bool = False,
    product_locator: Locator = lambda i, f: f"products row {i + 1}: {f}",
    sale_locator: Locator = lambda i, f: f"sales row {i + 1}: {f}",
    on_chunk: OnChunk | None = None,
) -> ImportSummary:
    """Validate everything, then write products and sales in the caller's transaction.

    Without `skip_invalid`, any error writes nothing: the summary lists the errors and the caller
    must not commit. With it, the valid rows are written and the rest reported. `on_chunk` hears
    the number of rows after each chunk validated and each chunk written (progress reporting).
    """
    summary = ImportSummary()
    product_rows_in, column_errors = numeric_attribute_columns(product_rows_in, product_locator)
    sale_rows_in = numbers_in_column(sale_rows_in, "quantity")
    products = parse_records(product_records(product_rows_in), _PRODUCTS, product_locator, on_chunk)
    product_errors = (
        products.errors
        + column_errors
        + check_valid_items(products, check_products, product_locator)
    )
    summary.rejected = product_errors
    bad_products = {e.index for e in product_errors}
    good_products = [
        p
        for p, row in zip(products.valid, products.valid_rows, strict=True)
        if row not in bad_products
    ]
    sales = parse_records(sale_records(sale_rows_in), _SALES, sale_locator, on_chunk)
    batch_launches = {p.product_id: p.launch_date for p in good_products}
    sale_errors = sales.errors + check_valid_items(
        sales,
        lambda valid, locate: check_sales(session, valid, locate, batch_launches),
        sale_locator,
    )
    summary.rejected_sales = sale_errors
    if (product_errors or sale_errors) and not skip_invalid:
        return summary
    bad_sales = {e.index for e in sale_errors}
    good_sales = [
        s for s, row in zip(sales.valid, sales.valid_rows, strict=True) if row not in bad_sales
    ]
    summary.products = catalogue.upsert_products(session, product_rows(good_products), on_chunk)
    summary.sales = catalogue.upsert_sales(session, sale_rows(good_sales), on_chunk)
    return summary


# A text column is numeric when all of its cells but this share (and at least one) read as numbers.
STRAY_TEXT_SHARE = 0.01


def numeric_attribute_columns(
    rows: Sequence[dict[str, Any]], locate: Locator
) -> tuple[list[dict[str, Any]], list[ItemError]]:
    """Read numbers written as text in numeric attribute columns; name the cells that are not.

    A CSV column with one bad cell ("25", "n/a", "30") reaches us as text throughout; storing it
    as such would silently turn every price into a category. A column whose text cells are all
    numbers but one (or but 1%) is read as numbers, and each stray cell is an invalid row.
    """
    columns = {name for row in rows for name in row} - {"product_id", "launch_date"}
    errors: list[ItemError] = []
    out = [dict(row) for row in rows]
    for column in sorted(columns):
        cells = [(i, row.get(column)) for i, row in enumerate(rows)]
        texts = [(i, v) for i, v in cells if isinstance(v, str) and v != ""]
        if not texts:
            continue
        numbers = sum(1 for _, v in cells if _as_number(v) is not None)
        stray = [(i, v) for i, v in texts if _as_number(v) is None]
        # No stray text: the reader typed the column as it should. Much stray text: a text column.
        allowed = max(1, STRAY_TEXT_SHARE * (numbers + len(stray)))
        if not stray or numbers < 2 or len(stray) > allowed:
            continue
        for i, v in texts:
            out[i][column] = _as_number(v) if _as_number(v) is not None else v
        errors.extend(
            ItemError(
                i, locate(i, column), f"{v!r} is not a number, as the rest of column {column!r} is"
            )
            for i, v in stray
        )
    return out, errors


def numbers_in_column(rows: Sequence[dict[str, Any]], column: str) -> list[dict[str, Any]]:
    """Numbers written as text become numbers; other text stays, for validation to name."""
    out = []
    for row in rows:
        value = row.get(column)
        number = _as_number(value) if isinstance(value, str) else None
        out.append({**row, column: number} if number is not None else row)
    return out


def _as_number(value: Any) -> int | float | None:
    """`value` as a finite number (text read too), or None; booleans are not numbers."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return value if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def import_frames(
    session: Session, products: pd.DataFrame, sales: pd.DataFrame, *, skip_invalid: bool = False
) -> ImportSummary:
    """Import the forecasting core's frames (forecasting/types.py) through the same checks."""
    product_rows_in = [
        {"product_id": pid, "launch_date": _date(launch) if pd.notna(launch) else None, **attrs}
        for pid, launch, attrs in zip(
            products["product_id"], products["launch_date"], products["attributes"], strict=True
        )
    ]
    sale_rows_in = [
        {"product_id": pid, "date": _date(day), "quantity": float(qty)}
        for pid, day, qty in zip(sales["product_id"], sales["date"], sales["quantity"], strict=True)
    ]
    return import_records(session, product_rows_in, sale_rows_in, skip_invalid=skip_invalid)
