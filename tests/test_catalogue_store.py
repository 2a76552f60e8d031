"""The catalogue store below the API: chunked upsert counts, replacement, frames, file types."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.main import app
from store.ingest import import_frames, import_records
from store.models import Product, SalesObservation
from store.repositories import catalogue
from store.session import get_sessionmaker
from tests.conftest import KEYS


def count_rows(database_url: str, model: type[Product] | type[SalesObservation]) -> int:
    with get_sessionmaker(database_url)() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture(params=["key-count", "table-count"])
def sqlite_counting(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite counts inserts by existing keys (small batches) or table rows (large): test both."""
    if request.param == "table-count":
        monkeypatch.setattr(catalogue, "SQLITE_KEY_COUNT_ROWS", 100)


@pytest.mark.usefixtures("sqlite_counting")
def test_upserts_larger_than_one_chunk_count_inserted_and_updated_exactly(
    database_url: str,
) -> None:
    n = catalogue.CHUNK_ROWS + 500  # more than one statement, with existing keys in each chunk
    rows: list[dict[str, object]] = [
        {"product_id": f"P{i:05d}", "launch_date": None, "attributes": {}} for i in range(n)
    ]
    with get_sessionmaker(database_url)() as session:
        first = catalogue.upsert_products(session, rows[::2])
        session.commit()
        second = catalogue.upsert_products(session, rows)
        session.commit()
    assert (first.inserted, first.updated) == (len(rows[::2]), 0)
    assert (second.inserted, second.updated) == (n - len(rows[::2]), len(rows[::2]))
    assert count_rows(database_url, Product) == n


@pytest.mark.usefixtures("sqlite_counting")
def test_sales_upserts_count_new_dates_as_inserted(database_url: str) -> None:
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=7 * k) for k in range(300)]
    with get_sessionmaker(database_url)() as session:
        catalogue.upsert_products(
            session, [{"product_id": "A", "launch_date": None, "attributes": {}}]
        )
        old = [{"product_id": "A", "date": d, "quantity": 1.0} for d in days[:200]]
        new = [{"product_id": "A", "date": d, "quantity": 2.0} for d in days[100:]]
        assert catalogue.upsert_sales(session, old).inserted == 200
        second = catalogue.upsert_sales(session, new)
        session.commit()
    assert (second.inserted, second.updated) == (100, 100)
    assert count_rows(database_url, SalesObservation) == 300


def test_an_upsert_replaces_attributes_and_launch_date(client: TestClient) -> None:
    first = {"product_id": "A", "launch_date": "2024-01-01", "attributes": {"color": "red"}}
    second = {"product_id": "A", "launch_date": "2024-02-05", "attributes": {"price": 12}}
    client.post("/v1/products", json={"products": [first]})
    client.post("/v1/products", json={"products": [second]})
    stored = client.get("/v1/products/A").json()
    assert stored["attributes"] == {"price": 12}
    assert stored["launch_date"] == "2024-02-05"


def test_a_sale_without_quantity_is_named(client: TestClient) -> None:
    client.post("/v1/products", json={"products": [{"product_id": "A"}]})
    response = client.post(
        "/v1/sales", json={"observations": [{"product_id": "A", "date": "2024-01-01"}]}
    )
    assert response.status_code == 422
    assert "observations[0].quantity" in {e["field"] for e in response.json()["errors"]}


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    products = pd.DataFrame(
        {
            "product_id": ["A", "B"],
            "launch_date": pd.to_datetime(["2024-01-01", "2024-01-08"]),
            "attributes": [{"category": "tops", "price": 9.5}, {"category": "dresses"}],
        }
    )
    sales = pd.DataFrame(
        {
            "product_id": ["A", "A", "B"],
            # B's sale is dated before B's launch
            "date": pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-01"]),
            "quantity": [3.0, -1.0, 2.0],
        }
    )
    return products, sales


def test_import_frames_refuses_the_whole_load_when_one_row_is_invalid(database_url: str) -> None:
    products, sales = frames()
    with get_sessionmaker(database_url)() as session:
        summary = import_frames(session, products, sales)
        session.rollback()
    assert [e.field for e in summary.rejected_sales] == ["sales row 3: date"]
    assert summary.products.inserted == 0 and summary.sales.inserted == 0
    assert count_rows(database_url, Product) == 0


def test_import_frames_with_skip_invalid_writes_the_rest(database_url: str) -> None:
    products, sales = frames()
    with get_sessionmaker(database_url)() as session:
        summary = import_frames(session, products, sales, skip_invalid=True)
        session.commit()
        attributes = session.get(Product, "A").attributes  # type: ignore[union-attr]
    assert (summary.products.inserted, summary.sales.inserted, summary.n_rejected) == (2, 2, 1)
    assert attributes == {"category": "tops", "price": 9.5}
    assert count_rows(database_url, SalesObservation) == 2


def test_parquet_attributes_keep_their_types_and_missing_values_stay_unknown(
    cli: CliRunner, database_url: str, tmp_path: Path
) -> None:
    products = pd.DataFrame(
        {
            "product_id": ["A", "B"],
            "launch_date": [dt.date(2024, 1, 1), None],
            "size": pd.array([38, None], dtype="Int64"),
            "is_basic": pd.array([True, None], dtype="boolean"),
            "color": pd.array(["red", None], dtype="string"),
        }
    )
    path = tmp_path / "products.parquet"
    products.to_parquet(path)
    result = cli.invoke(app, ["import", "--products", str(path)])
    assert result.exit_code == 0, result.output
    with get_sessionmaker(database_url)() as session:
        a, b = session.get(Product, "A"), session.get(Product, "B")
        assert a is not None and b is not None
        assert a.attributes == {"size": 38, "is_basic": True, "color": "red"}
        assert isinstance(a.attributes["is_basic"], bool)
        assert b.attributes == {} and b.launch_date is None


def test_a_sales_file_alone_loads_into_known_products_and_reimport_updates(
    cli: CliRunner, database_url: str, tmp_path: Path
) -> None:
    products = tmp_path / "products.csv"
    products.write_text("product_id,launch_date\nA,2024-01-01\n")
    sales = tmp_path / "sales.csv"
    sales.write_text("product_id,date,quantity\nA,2024-01-01,3\nA,2024-01-08,0\n")
    assert cli.invoke(app, ["import", "--products", str(products)]).exit_code == 0
    assert cli.invoke(app, ["import", "--sales", str(sales)]).exit_code == 0
    again = cli.invoke(app, ["import", "--sales", str(sales)])
    assert again.exit_code == 0
    assert count_rows(database_url, SalesObservation) == 2
    assert "sales" in again.output and "2" in again.output


def test_a_bad_sales_row_is_named_by_file_and_row(
    cli: CliRunner, database_url: str, tmp_path: Path
) -> None:
    products = tmp_path / "products.csv"
    products.write_text("product_id,launch_date\nA,2024-01-01\n")
    sales = tmp_path / "sales.csv"
    sales.write_text("product_id,date,quantity\nA,2024-01-01,3\nZ,2024-01-08,1\n")
    result = cli.invoke(app, ["import", "--products", str(products), "--sales", str(sales)])
    assert result.exit_code != 0
    assert "row 2" in result.output and "unknown product 'Z'" in result.output
    assert count_rows(database_url, Product) == 0


def test_import_without_any_file_fails(cli: CliRunner) -> None:
    assert cli.invoke(app, ["import"]).exit_code != 0


def test_a_read_key_cannot_delete_or_send_sales(auth_client: TestClient) -> None:
    read = {"X-API-Key": KEYS["read"]}
    assert auth_client.delete("/v1/products/A", headers=read).status_code == 403
    sale = {"observations": [{"product_id": "A", "date": "2024-01-01", "quantity": 1}]}
    assert auth_client.post("/v1/sales", json=sale, headers=read).status_code == 403


def test_import_progress_counts_every_row_validated_then_written(database_url: str) -> None:
    heard: list[int] = []
    rows = [{"product_id": f"P{i}"} for i in range(catalogue.CHUNK_ROWS + 1)]
    with get_sessionmaker(database_url)() as session:
        import_records(session, rows, [], on_chunk=heard.append)
        session.rollback()
    assert heard == [catalogue.CHUNK_ROWS, 1, catalogue.CHUNK_ROWS, 1]
