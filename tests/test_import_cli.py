"""`launchcast import`: CSV and Parquet in, invalid rows named, nothing written on error."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.main import app
from store.ingest import import_records
from store.models import Product, SalesObservation
from store.session import get_sessionmaker
from store.settings import get_settings
from tests.conftest import BACKENDS, new_database, visuelle_dir

LAUNCHCAST = Path(sys.executable).parent / "launchcast"
VISUELLE = visuelle_dir()


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("LAUNCHCAST_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def counts(database_url: str) -> tuple[int, int]:
    with get_sessionmaker(database_url)() as session:
        products = session.scalar(select(func.count()).select_from(Product)) or 0
        sales = session.scalar(select(func.count()).select_from(SalesObservation)) or 0
        return products, sales


def write_files(tmp_path: Path, bad_sale: bool = False) -> tuple[Path, Path]:
    products = tmp_path / "products.csv"
    products.write_text(
        "product_id,launch_date,category,price,size\n"
        "A,2024-01-01,dresses,29.9,38\n"
        "B,2024-01-08,tops,,\n"
    )
    sales = tmp_path / "sales.csv"
    quantity = "lots" if bad_sale else "4"
    sales.write_text(
        f"product_id,date,quantity\nA,2024-01-01,3\nA,2024-01-08,{quantity}\nB,2024-01-08,1\n"
    )
    return products, sales


def test_a_csv_import_keeps_numbers_as_numbers_and_skips_empty_cells(
    cli: CliRunner, database_url: str, tmp_path: Path
) -> None:
    products, sales = write_files(tmp_path)
    result = cli.invoke(app, ["import", "--products", str(products), "--sales", str(sales)])
    assert result.exit_code == 0, result.output
    assert counts(database_url) == (2, 3)
    with get_sessionmaker(database_url)() as session:
        a, b = session.get(Product, "A"), session.get(Product, "B")
        assert a is not None and b is not None
        assert a.attributes == {"category": "dresses", "price": 29.9, "size": 38}
        assert b.attributes == {"category": "tops"}


def test_a_csv_with_one_bad_row_writes_nothing_and_names_the_row(
    cli: CliRunner, database_url: str, tmp_path: Path
) -> None:
    products, sales = write_files(tmp_path, bad_sale=True)
    result = cli.invoke(app, ["import", "--products", str(products), "--sales", str(sales)])
    assert result.exit_code != 0
    assert "row 2: quantity" in result.output
    assert counts(database_url) == (0, 0)


def test_skip_invalid_writes_the_valid_rows_and_reports_the_rest(
    cli: CliRunner, database_url: str, tmp_path: Path
) -> None:
    products, sales = write_files(tmp_path, bad_sale=True)
    args = ["import", "--products", str(products), "--sales", str(sales), "--skip-invalid"]
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "row 2: quantity" in result.output
    assert counts(database_url) == (2, 2)


def test_an_import_names_field_errors_and_batch_errors_together_by_row(
    database_url: str,
) -> None:
    sales = [
        {"product_id": "A", "date": "2024-01-01", "quantity": "lots"},
        {"product_id": "A", "date": "2024-01-08", "quantity": 1},
        {"product_id": "A", "date": "2024-01-08", "quantity": 2},
        {"product_id": "NOPE", "date": "2024-01-08", "quantity": 2},
    ]
    with get_sessionmaker(database_url)() as session:
        summary = import_records(session, [{"product_id": "A", "launch_date": "2024-01-01"}], sales)
    assert [e.field for e in summary.rejected_sales] == [
        "sales row 1: quantity",
        "sales row 3: date",
        "sales row 4: product_id",
    ]
    # The duplicate names the row it repeats, counted in the file, not among the valid rows.
    assert "duplicate of sales row 2: date" in summary.rejected_sales[1].message
    assert counts(database_url) == (0, 0)


def test_parquet_files_import_like_csv(cli: CliRunner, database_url: str, tmp_path: Path) -> None:
    products_csv, sales_csv = write_files(tmp_path)
    products, sales = tmp_path / "p.parquet", tmp_path / "s.parquet"
    pd.read_csv(products_csv).to_parquet(products)
    pd.read_csv(sales_csv, parse_dates=["date"]).to_parquet(sales)
    result = cli.invoke(app, ["import", "--products", str(products), "--sales", str(sales)])
    assert result.exit_code == 0, result.output
    assert counts(database_url) == (2, 3)


def test_a_missing_file_is_a_clear_error(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["import", "--products", str(tmp_path / "nope.csv")])
    assert result.exit_code != 0
    assert "no such file" in str(result.exception)


@pytest.mark.slow
@pytest.mark.skipif(not VISUELLE.exists(), reason="no VISUELLE data (LAUNCHCAST_VISUELLE_DIR)")
def test_visuelle_imports_completely(cli: CliRunner, database_url: str) -> None:
    args = ["import", "--products", str(VISUELLE / "products.csv")]
    result = cli.invoke(app, [*args, "--sales", str(VISUELLE / "sales.csv")])
    assert result.exit_code == 0, result.output
    assert counts(database_url) == (5080, 60960)


def test_one_bad_cell_keeps_a_numeric_column_numeric_with_skip_invalid(
    cli: CliRunner, database_url: str, tmp_path: Path
) -> None:
    products = tmp_path / "products.csv"
    products.write_text(
        "product_id,launch_date,price,color\n"
        "A,2024-01-01,25,red\nB,2024-01-01,ask us,blue\nC,2024-01-01,30.5,green\n"
    )
    result = cli.invoke(app, ["import", "--products", str(products), "--skip-invalid"])
    assert result.exit_code == 0, result.output
    flat = "".join(result.output.split())  # rich wraps long lines anywhere
    assert "row2:price:'askus'isnotanumber,astherestofcolumn'price'is" in flat
    with get_sessionmaker(database_url)() as session:
        a, b, c = (session.get(Product, pid) for pid in ("A", "B", "C"))
        assert a is not None and c is not None and b is None
        assert a.attributes == {"price": 25, "color": "red"}
        assert c.attributes == {"price": 30.5, "color": "green"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_importing_before_db_upgrade_says_to_run_it_in_one_line(
    tmp_path: Path, backend: str
) -> None:
    products, sales = write_files(tmp_path)
    url, drop = new_database(backend, tmp_path)  # created, never migrated
    env = {**os.environ, "LAUNCHCAST_DATABASE_URL": url}
    try:
        done = subprocess.run(
            [str(LAUNCHCAST), "import", "--products", str(products), "--sales", str(sales)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        drop()
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "run `launchcast db upgrade` first" in lines[0]
