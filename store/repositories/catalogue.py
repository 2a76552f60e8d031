"""Products and sales: set-based upserts (INSERT ... ON CONFLICT) and the reads the API needs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    delete,
    func,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.models import Product, SalesObservation

# Dates the service accepts (API.md); rows outside it, written before that rule or straight
# into the database, are left out of the catalogue the core reads.
EARLIEST_DATE, LATEST_DATE = dt.date(1900, 1, 1), dt.date(2199, 12, 31)

# Rows per statement: stays under SQLite's and PostgreSQL's bound-parameter limits.
CHUNK_ROWS = 4000
# SQLite batches above this size count inserts by table row counts (see _upsert).
SQLITE_KEY_COUNT_ROWS = 20_000


@dataclass
class UpsertCount:
    inserted: int = 0
    updated: int = 0

    def __iadd__(self, other: UpsertCount) -> UpsertCount:
        self.inserted += other.inserted
        self.updated += other.updated
        return self


def dialect_insert(session: Session, model: type[Any]) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"upserts are implemented for SQLite and PostgreSQL, not {dialect}")


# Told the number of rows after each chunk is written (e.g. to advance a progress bar).
OnChunk = Callable[[int], None]


def chunks(
    rows: Sequence[dict[str, Any]], size: int = CHUNK_ROWS, on_chunk: OnChunk | None = None
) -> Iterable[Sequence[dict[str, Any]]]:
    """Slices of `rows`; `on_chunk` hears of each once the caller's loop body has run for it."""
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        yield chunk
        if on_chunk is not None:
            on_chunk(len(chunk))


def upsert_products(
    session: Session, rows: Sequence[dict[str, Any]], on_chunk: OnChunk | None = None
) -> UpsertCount:
    """Insert or update products keyed by product_id (attributes and launch date replaced)."""
    stmt = dialect_insert(session, Product)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Product.product_id],
        set_={
            "launch_date": stmt.excluded.launch_date,
            "attributes": stmt.excluded.attributes,
            "updated_at": func.now(),
        },
    )
    return _upsert(session, stmt, rows, Product.product_id.in_, lambda r: r["product_id"], on_chunk)


def upsert_sales(
    session: Session, rows: Sequence[dict[str, Any]], on_chunk: OnChunk | None = None
) -> UpsertCount:
    """Insert or update observations keyed by (product_id, date)."""
    stmt = dialect_insert(session, SalesObservation)
    stmt = stmt.on_conflict_do_update(
        index_elements=[SalesObservation.product_id, SalesObservation.date],
        set_={"quantity": stmt.excluded.quantity},
    )
    key = tuple_(SalesObservation.product_id, SalesObservation.date)
    return _upsert(session, stmt, rows, key.in_, lambda r: (r["product_id"], r["date"]), on_chunk)


def _upsert(
    session: Session,
    stmt: Any,
    rows: Sequence[dict[str, Any]],
    key_in: Callable[[list[Any]], Any],
    key_of: Callable[[dict[str, Any]], Any],
    on_chunk: OnChunk | None = None,
) -> UpsertCount:
    """Run an ON CONFLICT statement in chunks, counting inserted vs updated rows.

    PostgreSQL tells which rows were inserted (xmax = 0 on a fresh row version). SQLite cannot:
    there, small batches count the keys already present before each chunk, and large ones compare
    the table's row count before and after (cheaper than a 4,000-key IN per chunk). Both happen
    in the caller's transaction: SQLite lets no other writer in between (a stale snapshot fails
    the write instead), and upserts never delete, so the difference is exactly the inserted rows.
    Statements run on the session's connection as Core executemany: the ORM's bulk bookkeeping
    per row would cost as much as the database work.
    """
    connection = session.connection()
    table = stmt.table
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.returning(literal_column("(xmax = 0)"))
        fresh = sum(
            bool(flag)
            for chunk in chunks(rows, on_chunk=on_chunk)
            for flag in connection.execute(stmt, list(chunk)).scalars()
        )
        return UpsertCount(fresh, len(rows) - fresh)
    if len(rows) > SQLITE_KEY_COUNT_ROWS:
        table_rows = select(func.count()).select_from(table)
        before = connection.execute(table_rows).scalar_one()
        for chunk in chunks(rows, on_chunk=on_chunk):
            connection.execute(stmt, list(chunk))
        fresh = connection.execute(table_rows).scalar_one() - before
        return UpsertCount(fresh, len(rows) - fresh)
    count = UpsertCount()
    for chunk in chunks(rows, on_chunk=on_chunk):
        keys = [key_of(row) for row in chunk]
        existing = connection.execute(
            select(func.count()).select_from(table).where(key_in(keys))
        ).scalar_one()
        connection.execute(stmt, list(chunk))
        count += UpsertCount(len(chunk) - existing, existing)
    return count


def launch_dates(session: Session, product_ids: Iterable[str]) -> dict[str, dt.date | None]:
    """Stored launch dates of those of `product_ids` that exist (None: no launch date given)."""
    ids = sorted(set(product_ids))
    found: dict[str, dt.date | None] = {}
    for start in range(0, len(ids), CHUNK_ROWS):
        chunk = ids[start : start + CHUNK_ROWS]
        rows = session.execute(
            select(Product.product_id, Product.launch_date).where(Product.product_id.in_(chunk))
        )
        found.update({pid: launch for pid, launch in rows})
    return found


@dataclass
class ProductSummary:
    product: Product
    n_observations: int
    first_sale_date: dt.date | None
    last_sale_date: dt.date | None


def _summary_query() -> Select[Any]:
    stats = (
        select(
            SalesObservation.product_id,
            func.count().label("n"),
            func.min(SalesObservation.date).label("first"),
            func.max(SalesObservation.date).label("last"),
        )
        .group_by(SalesObservation.product_id)
        .subquery()
    )
    return select(Product, stats.c.n, stats.c.first, stats.c.last).outerjoin(
        stats, stats.c.product_id == Product.product_id
    )


def get_product(session: Session, product_id: str) -> ProductSummary | None:
    row = session.execute(_summary_query().where(Product.product_id == product_id)).first()
    if row is None:
        return None
    return ProductSummary(row[0], row[1] or 0, row[2], row[3])


def list_products(session: Session, limit: int, after: str | None) -> list[ProductSummary]:
    """Products in id order, starting after `after` (keyset pagination)."""
    query = _summary_query().order_by(Product.product_id).limit(limit)
    if after is not None:
        query = query.where(Product.product_id > after)
    return [ProductSummary(r[0], r[1] or 0, r[2], r[3]) for r in session.execute(query)]


def delete_product(session: Session, product_id: str) -> bool:
    """Remove a product and (by cascade) its sales; False when it did not exist."""
    session.execute(delete(SalesObservation).where(SalesObservation.product_id == product_id))
    result = session.execute(delete(Product).where(Product.product_id == product_id))
    return bool(getattr(result, "rowcount", 0))


def list_sales(
    session: Session, product_id: str, start: dt.date | None, end: dt.date | None
) -> list[SalesObservation]:
    query = select(SalesObservation).where(SalesObservation.product_id == product_id)
    if start is not None:
        query = query.where(SalesObservation.date >= start)
    if end is not None:
        query = query.where(SalesObservation.date <= end)
    return list(session.scalars(query.order_by(SalesObservation.date)))


def valid_date(column: Any) -> ColumnElement[bool]:
    """A date in EARLIEST_DATE..LATEST_DATE. On SQLite dates are text: BETWEEN compares it as
    text, and `date(x) = x` refuses what is no real day ('2019-02-30', 'soon'); on PostgreSQL
    that test always holds and BETWEEN also refuses 'infinity'. Never NULL for a non-NULL date.
    """
    return func.coalesce(
        and_(column.between(EARLIEST_DATE, LATEST_DATE), func.date(column) == column), False
    )


def read_catalogue(session: Session) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All products and sales as the forecasting core's frames (see forecasting/types.py).

    Products whose launch date, and observations whose date, is outside the accepted range or
    no date at all are left out (pandas cannot even hold some of them); so are the observations
    of products left out. `catalogue_counts` tells how many rows there are in all.
    """
    kept_product = or_(Product.launch_date.is_(None), valid_date(Product.launch_date))
    product_rows = session.execute(
        select(Product.product_id, Product.launch_date, Product.attributes).where(kept_product)
    ).all()
    products = pd.DataFrame(product_rows, columns=["product_id", "launch_date", "attributes"])
    products["launch_date"] = pd.to_datetime(products["launch_date"])
    sales_rows = session.execute(
        select(SalesObservation.product_id, SalesObservation.date, SalesObservation.quantity)
        .join(Product, Product.product_id == SalesObservation.product_id)
        .where(kept_product, valid_date(SalesObservation.date))
    ).all()
    sales = pd.DataFrame(sales_rows, columns=["product_id", "date", "quantity"])
    sales["date"] = pd.to_datetime(sales["date"])
    sales["quantity"] = sales["quantity"].astype(float)
    return products, sales


def catalogue_counts(session: Session) -> tuple[int, int]:
    """Products and sales observations stored, valid or not."""
    n_products = session.scalar(select(func.count()).select_from(Product)) or 0
    n_sales = session.scalar(select(func.count()).select_from(SalesObservation)) or 0
    return n_products, n_sales
