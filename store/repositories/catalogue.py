"""Products and sales: set-based upserts (INSERT ... ON CONFLICT) and the reads the API needs."""

from __future__ import annotations

import datetime as dt
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pandas as pd
from psycopg.types.json import Jsonb
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    column,
    delete,
    func,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy import table as sqlalchemy_table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from store.jsonsafe import json_safe
from store.models import JsonDoc, Product, SalesObservation

log = logging.getLogger(__name__)

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


# SQLSTATEs of a transaction PostgreSQL aborted for what concurrent ones did, not for what it
# holds: serialization_failure and deadlock_detected. Running it again is the documented answer.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})
WRITE_ATTEMPTS = 3

T = TypeVar("T")


class WriteConflict(Exception):
    """A write lost to concurrent ones (deadlock or serialization failure) every time it was
    tried; nothing of it was written."""


def is_transient(exc: BaseException) -> bool:
    """A deadlock or serialization failure: the transaction may succeed if run again."""
    return (
        isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in TRANSIENT_SQLSTATES
    )


# SQLite's SQLITE_BUSY; its extended codes (BUSY_SNAPSHOT, BUSY_RECOVERY, BUSY_TIMEOUT) share
# the low byte.
SQLITE_BUSY = 5


def is_sqlite_busy(exc: BaseException) -> bool:
    """SQLite's "database is locked": another connection held the write lock past the busy
    timeout, or a read transaction could not become a write one (SQLite then fails at once,
    without waiting). Another attempt, once that writer is done, usually succeeds."""
    orig = getattr(exc, "orig", None)
    if not isinstance(orig, sqlite3.OperationalError):
        return False
    code = getattr(orig, "sqlite_errorcode", None)
    return code & 0xFF == SQLITE_BUSY if code is not None else "database is locked" in str(orig)


def retrying(session: Session, work: Callable[[], T], attempts: int = WRITE_ATTEMPTS) -> T:
    """Run `work` (a whole transaction on `session`, its commit included) again after a
    deadlock or serialization failure (PostgreSQL) or a locked database (SQLite), up to
    `attempts` times, after a short random pause each time.

    Losing every attempt: a deadlock or serialization failure raises WriteConflict; a SQLite
    database still locked raises its OperationalError (the service's 503 "retry shortly", which
    is what it is: another writer is holding the one write lock SQLite has).

    The rows written here lock in key order, so concurrent batches cannot deadlock each other;
    other writers (and future code) might, and a retry costs less than a refused batch.
    """
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as exc:
            session.rollback()
            busy = is_sqlite_busy(exc)
            if not (busy or is_transient(exc)):
                raise
            if attempt == attempts:
                if busy:
                    raise
                raise WriteConflict(
                    f"the write conflicted with concurrent ones {attempts} times "
                    f"({type(exc.orig).__name__}); nothing was written"
                ) from exc
            log.warning("write attempt %d of %d failed (%s); retrying", attempt, attempts, exc.orig)
            time.sleep(random.uniform(0.01, 0.1) * attempt)  # let the other one finish
    raise AssertionError("unreachable")


def upsert_products(
    session: Session, rows: Sequence[dict[str, Any]], on_chunk: OnChunk | None = None
) -> UpsertCount:
    """Insert or update products keyed by product_id (attributes and launch date replaced).

    Rows are written in key order: two batches sharing products then lock them in the same
    order and one waits for the other instead of deadlocking (PostgreSQL).
    """
    rows = sorted(rows, key=lambda r: r["product_id"])
    stmt = dialect_insert(session, Product)
    conflict = Conflict(
        [Product.product_id],
        {
            "launch_date": stmt.excluded.launch_date,
            "attributes": stmt.excluded.attributes,
            "updated_at": func.now(),
        },
    )
    stmt = stmt.on_conflict_do_update(index_elements=conflict.keys, set_=conflict.set_)
    key_of: Callable[[dict[str, Any]], Any] = lambda r: r["product_id"]  # noqa: E731
    return _upsert(session, stmt, conflict, rows, Product.product_id.in_, key_of, on_chunk)


def upsert_sales(
    session: Session, rows: Sequence[dict[str, Any]], on_chunk: OnChunk | None = None
) -> UpsertCount:
    """Insert or update observations keyed by (product_id, date), in key order (see
    `upsert_products`)."""
    rows = sorted(rows, key=lambda r: (r["product_id"], r["date"]))
    stmt = dialect_insert(session, SalesObservation)
    conflict = Conflict(
        [SalesObservation.product_id, SalesObservation.date],
        {"quantity": stmt.excluded.quantity},
    )
    stmt = stmt.on_conflict_do_update(index_elements=conflict.keys, set_=conflict.set_)
    key = tuple_(SalesObservation.product_id, SalesObservation.date)
    key_of: Callable[[dict[str, Any]], Any] = lambda r: (r["product_id"], r["date"])  # noqa: E731
    return _upsert(session, stmt, conflict, rows, key.in_, key_of, on_chunk)


@dataclass(frozen=True)
class Conflict:
    """An upsert's ON CONFLICT: the key columns, and what an existing row gets."""

    keys: list[Any]
    set_: dict[str, Any]


def _upsert(
    session: Session,
    stmt: Any,
    conflict: Conflict,
    rows: Sequence[dict[str, Any]],
    key_in: Callable[[list[Any]], Any],
    key_of: Callable[[dict[str, Any]], Any],
    on_chunk: OnChunk | None = None,
) -> UpsertCount:
    """Run an ON CONFLICT statement in chunks, counting inserted vs updated rows.

    PostgreSQL: see `_copy_upsert`. SQLite cannot tell which rows were inserted:
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
        return _copy_upsert(session, table, conflict, rows, on_chunk)
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


def _copy_upsert(
    session: Session,
    table: Any,
    conflict: Conflict,
    rows: Sequence[dict[str, Any]],
    on_chunk: OnChunk | None,
) -> UpsertCount:
    """PostgreSQL: COPY the rows into a temporary table, then one INSERT ... SELECT ... ORDER BY
    key ON CONFLICT (`conflict`) writes them all, in key order.

    executemany of a multi-row VALUES statement spent most of its time in the driver building
    and parsing SQL text (600,000 sales: 60 s of an 87 s import); COPY streams the values. The
    INSERT tells which rows it inserted (xmax = 0 on a fresh row version). All of it happens in
    the caller's transaction; the temporary table goes with it (ON COMMIT DROP, or rollback).
    """
    if not rows:
        return UpsertCount()
    names = list(rows[0])
    stage = f"launchcast_stage_{table.name}"
    connection = session.connection()
    quoted = ", ".join(f'"{name}"' for name in names)
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS pg_temp.{stage}")
    connection.exec_driver_sql(
        f'CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS SELECT {quoted} FROM "{table.name}" '
        "WITH NO DATA"
    )
    as_json = [isinstance(table.c[name].type, JsonDoc) for name in names]
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(f"COPY {stage} ({quoted}) FROM STDIN") as copy:
        for chunk in chunks(rows, on_chunk=on_chunk):
            for row in chunk:
                copy.write_row(
                    [
                        Jsonb(json_safe(row[name])) if json else row[name]
                        for name, json in zip(names, as_json, strict=True)
                    ]
                )
    staged = sqlalchemy_table(stage, *(column(name) for name in names))
    written = (
        postgresql.insert(table)
        .from_select(names, select(*staged.c).order_by(*(staged.c[k.name] for k in conflict.keys)))
        .on_conflict_do_update(index_elements=conflict.keys, set_=conflict.set_)
        .returning(literal_column("(xmax = 0)").label("fresh"))
        .cte("written")
    )
    fresh = connection.execute(
        select(func.count()).select_from(written).where(written.c.fresh)
    ).scalar_one()
    connection.exec_driver_sql(f"DROP TABLE pg_temp.{stage}")
    return UpsertCount(fresh, len(rows) - fresh)


def launch_dates(session: Session, product_ids: Iterable[str]) -> dict[str, dt.date | None]:
    """Stored launch dates of those of `product_ids` that exist (None: no launch date given).

    On PostgreSQL the products found stay key-share locked until the transaction ends: a sales
    batch checked against them cannot then lose them to a concurrent DELETE before it writes
    (the insert failed on the foreign key: a 500). Updates of the products are not blocked.
    """
    ids = sorted(set(product_ids))
    found: dict[str, dt.date | None] = {}
    for start in range(0, len(ids), CHUNK_ROWS):
        chunk = ids[start : start + CHUNK_ROWS]
        rows = session.execute(
            select(Product.product_id, Product.launch_date)
            .where(Product.product_id.in_(chunk))
            .order_by(Product.product_id)
            .with_for_update(read=True, key_share=True)
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
    """Remove a product and (by cascade) its sales; False when it did not exist.

    The product row is locked first: a sales batch holding it (see `launch_dates`) finishes
    before its sales are deleted, and the two cannot deadlock over the sales rows.
    """
    locked = session.execute(
        select(Product.product_id).where(Product.product_id == product_id).with_for_update()
    ).first()
    if locked is None:
        return False
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
