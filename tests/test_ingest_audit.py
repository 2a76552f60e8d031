"""Writing the catalogue at volume and concurrently: batches that overlap, deletions racing
sales batches, deadlocks retried (PostgreSQL row locks) and large batches' costs."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from cli.main import app
from store.ingest import SaleIn, api_locator, check_sales
from store.models import Product, SalesObservation
from store.repositories import catalogue
from store.session import get_sessionmaker


def postgres_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks and deadlocks: PostgreSQL")


def product(pid: str, tag: str = "x") -> dict[str, Any]:
    return {"product_id": pid, "launch_date": dt.date(2024, 1, 1), "attributes": {"tag": tag}}


def counts(database_url: str) -> tuple[int, int]:
    with get_sessionmaker(database_url)() as session:
        return catalogue.catalogue_counts(session)


def deadlock() -> OperationalError:
    """What SQLAlchemy raises when PostgreSQL picks this transaction as a deadlock's victim."""
    return OperationalError("INSERT ...", {}, psycopg.errors.DeadlockDetected())


def test_overlapping_product_batches_in_opposite_orders_do_not_deadlock(
    database_url: str,
) -> None:
    postgres_only(database_url)
    sessions = get_sessionmaker(database_url)
    outcome: dict[str, object] = {}
    with sessions() as first:
        catalogue.upsert_products(first, [product("P1", "a")])  # holds P1

        def second_batch() -> None:
            with sessions() as second:
                try:
                    # Sent in the opposite order: written as sent, it held P3 and waited for P1.
                    catalogue.upsert_products(second, [product("P3", "b"), product("P1", "b")])
                    second.commit()
                    outcome["second"] = "ok"
                except Exception as exc:  # recorded: the assertion shows which failed
                    outcome["second"] = type(exc).__name__

        thread = threading.Thread(target=second_batch)
        thread.start()
        thread.join(0.5)
        try:
            catalogue.upsert_products(first, [product("P3", "a")])
            first.commit()
            outcome["first"] = "ok"
        except Exception as exc:
            outcome["first"] = type(exc).__name__
            first.rollback()
        thread.join(30)
    assert outcome == {"first": "ok", "second": "ok"}


def test_a_product_deleted_while_a_sales_batch_is_written_is_not_a_foreign_key_error(
    database_url: str,
) -> None:
    """The sales batch checked the product, then a DELETE removed it before the insert: the
    insert failed on the foreign key (IntegrityError, answered 500). Now the delete waits."""
    postgres_only(database_url)
    sessions = get_sessionmaker(database_url)
    with sessions() as session:
        catalogue.upsert_products(session, [product("D1")])
        session.commit()
    deleted: dict[str, bool] = {}
    with sessions() as writer:
        sale = SaleIn(product_id="D1", date=dt.date(2024, 1, 8), quantity=3.0)
        assert check_sales(writer, [sale], api_locator("observations")) == []

        def delete() -> None:
            with sessions() as other:
                deleted["D1"] = catalogue.delete_product(other, "D1")
                other.commit()

        thread = threading.Thread(target=delete)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), "the delete did not wait for the sales batch it races"
        catalogue.upsert_sales(writer, [{"product_id": "D1", "date": sale.date, "quantity": 3.0}])
        writer.commit()
        thread.join(30)
    assert deleted == {"D1": True}
    assert counts(database_url) == (0, 0)


def test_concurrent_overlapping_api_batches_all_succeed(client: TestClient) -> None:
    """Three clients upsert the same 1,500 products in different orders at once: no 500, no 503,
    and every product ends as one of the batches wrote it."""
    ids = [f"C{i:05d}" for i in range(1500)]
    orders = {"a": ids, "b": ids[::-1], "c": ids[750:] + ids[:750]}
    statuses: dict[str, int] = {}

    def send(tag: str) -> None:
        body = {
            "products": [{"product_id": pid, "attributes": {"tag": tag}} for pid in orders[tag]]
        }
        statuses[tag] = client.post("/v1/products", json=body).status_code

    threads = [threading.Thread(target=send, args=(tag,)) for tag in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert statuses == {"a": 200, "b": 200, "c": 200}
    page = client.get("/v1/products", params={"limit": 1000}).json()["products"]
    assert {p["attributes"]["tag"] for p in page} <= set(orders)


def deadlocking_once(
    real: Callable[..., catalogue.UpsertCount], calls: list[int]
) -> Callable[..., catalogue.UpsertCount]:
    """`real`, but its first call raises a deadlock; each call is counted in `calls`."""

    def write(*args: Any, **kwargs: Any) -> catalogue.UpsertCount:
        calls.append(1)
        if len(calls) == 1:
            raise deadlock()
        return real(*args, **kwargs)

    return write


def test_a_deadlocked_batch_is_retried_and_written(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(
        catalogue, "upsert_products", deadlocking_once(catalogue.upsert_products, calls)
    )
    answer = client.post("/v1/products", json={"products": [{"product_id": "R1"}]})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"inserted": 1, "updated": 0}
    assert len(calls) == 2


def test_a_batch_that_keeps_deadlocking_is_a_409_and_writes_nothing(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    """Not the 503 'the database is unavailable' every deadlock was answered with."""
    client.post("/v1/products", json={"products": [{"product_id": "K1"}]})
    real = catalogue.upsert_sales

    def writes_then_deadlocks(session: Any, rows: Any, *args: Any) -> catalogue.UpsertCount:
        real(session, rows, *args)  # half-written, then the deadlock
        raise deadlock()

    monkeypatch.setattr(catalogue, "upsert_sales", writes_then_deadlocks)
    body = {"observations": [{"product_id": "K1", "date": "2024-01-01", "quantity": 2}]}
    answer = client.post("/v1/sales", json=body)
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "nothing was written" in answer.json()["detail"]
    assert counts(database_url) == (1, 0)


def test_a_deadlocked_delete_is_retried(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    client.post("/v1/products", json={"products": [{"product_id": "X1"}]})
    real = catalogue.delete_product
    calls = []

    def deadlocks_once(session: Any, product_id: str) -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise deadlock()
        return real(session, product_id)

    monkeypatch.setattr(catalogue, "delete_product", deadlocks_once)
    assert client.delete("/v1/products/X1").status_code == 204
    assert counts(database_url) == (0, 0)


def test_other_database_errors_are_not_retried(database_url: str) -> None:
    calls = []

    def fails() -> None:
        calls.append(1)
        raise OperationalError("SELECT 1", {}, psycopg.errors.AdminShutdown())

    with get_sessionmaker(database_url)() as session, pytest.raises(OperationalError):
        catalogue.retrying(session, fails)
    assert len(calls) == 1


def test_an_import_that_deadlocks_once_is_run_again_and_written_once(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    products = tmp_path / "products.csv"
    products.write_text("product_id,launch_date,category\nA,2024-01-01,x\nB,2024-01-08,y\n")
    sales = tmp_path / "sales.csv"
    sales.write_text("product_id,date,quantity\nA,2024-01-01,3\nB,2024-01-08,1\n")
    calls: list[int] = []
    monkeypatch.setattr(catalogue, "upsert_sales", deadlocking_once(catalogue.upsert_sales, calls))
    ran = cli.invoke(app, ["import", "--products", str(products), "--sales", str(sales)])
    assert ran.exit_code == 0, ran.output
    assert counts(database_url) == (2, 2)
    with get_sessionmaker(database_url)() as session:
        assert session.scalar(select(func.sum(SalesObservation.quantity))) == 4.0
        assert session.scalar(select(func.count()).select_from(Product)) == 2


def test_upserts_twice_in_one_transaction_keep_values_and_counts(database_url: str) -> None:
    """PostgreSQL writes through a temporary staging table: a second upsert in the same
    transaction reuses the name; attribute types and NULLs survive the COPY."""
    attributes = {"s": "ünï 'q' \\ \"", "n": 1.5, "i": 3, "b": True, "z": None}
    rows = [{"product_id": "T1", "launch_date": None, "attributes": attributes}]
    with get_sessionmaker(database_url)() as session:
        assert catalogue.upsert_products(session, rows) == catalogue.UpsertCount(1, 0)
        assert catalogue.upsert_products(session, [*rows, product("T2")]) == (
            catalogue.UpsertCount(1, 1)
        )
        session.commit()
    with get_sessionmaker(database_url)() as session:
        stored = session.get(Product, "T1")
        assert stored is not None
        assert stored.attributes == attributes
        assert stored.launch_date is None
