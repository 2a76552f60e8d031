"""`launchcast import`: CSV and Parquet in, invalid rows named, nothing written on error."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.main import app
from store.ingest import import_records
from store.models import Product, SalesObservation
from store.session import get_sessionmaker
from tests.conftest import BACKENDS, new_database, visuelle_dir
from tests.console import Ran, run_console_script

LAUNCHCAST = Path(sys.executable).parent / "launchcast"
VISUELLE = visuelle_dir()


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


# --- Files refused whole: one line naming the file, through the console script's error path ---


@pytest.fixture
def launchcast(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Ran]:
    """`launchcast ARGS` as the console script runs it (its one-line error path included)."""

    def run(*args: str | Path) -> Ran:
        return run_console_script(monkeypatch, capsys, *args)

    return run


def assert_refused(ran: Ran, reason: str, database_url: str) -> None:
    """Exit 1, one line on stderr (`reason`, naming the file), nothing else; nothing written."""
    assert ran.code == 1, (ran.out, ran.err)
    assert ran.err.splitlines() == [f"error: {reason}"], ran.err
    assert ran.out == ""
    assert counts(database_url) == (0, 0)


def test_an_empty_file_is_refused_in_one_line_saying_it_is_empty(
    launchcast: Callable[..., Ran], database_url: str, tmp_path: Path
) -> None:
    products, sales = write_files(tmp_path)
    sales.write_bytes(b"")
    ran = launchcast("import", "--products", products, "--sales", sales)
    assert_refused(ran, f"{sales}: the file is empty", database_url)


def test_a_file_that_is_not_utf_8_is_refused_in_one_line_naming_the_byte(
    launchcast: Callable[..., Ran], database_url: str, tmp_path: Path
) -> None:
    products = tmp_path / "products.csv"
    products.write_bytes("product_id,launch_date,color\nA,2024-01-01,crème\n".encode("latin-1"))
    ran = launchcast("import", "--products", products)
    reason = f"{products}: not UTF-8 text (byte 0xe8 at line 2, offset 44): save it as UTF-8"
    assert_refused(ran, reason, database_url)


def test_a_utf_8_file_with_a_byte_order_mark_still_imports(
    launchcast: Callable[..., Ran], database_url: str, tmp_path: Path
) -> None:
    products = tmp_path / "products.csv"
    products.write_bytes("product_id,launch_date,color\nA,2024-01-01,crème\n".encode("utf-8-sig"))
    ran = launchcast("import", "--products", products)
    assert ran.code == 0, ran.err
    with get_sessionmaker(database_url)() as session:
        product = session.get(Product, "A")
        assert product is not None and product.attributes == {"color": "crème"}


def test_a_file_with_a_header_and_no_rows_is_refused_in_one_line(
    launchcast: Callable[..., Ran], database_url: str, tmp_path: Path
) -> None:
    products, sales = write_files(tmp_path)
    sales.write_text("product_id,date,quantity\n")
    ran = launchcast("import", "--products", products, "--sales", sales)
    assert_refused(ran, f"{sales}: no rows under the header", database_url)


@pytest.mark.parametrize(
    ("option", "header", "missing"),
    [
        ("--products", "sku,launch_date,color", "product_id"),
        ("--sales", "product_id,date,qty", "quantity"),
    ],
)
def test_a_file_with_no_product_id_column_is_refused_in_one_line_naming_the_columns_found(
    launchcast: Callable[..., Ran],
    database_url: str,
    tmp_path: Path,
    option: str,
    header: str,
    missing: str,
) -> None:
    path = tmp_path / "file.csv"
    path.write_text(header + "\n" + "".join(f"A{i},2024-01-01,3\n" for i in range(300)))
    ran = launchcast("import", option, path)
    columns = header.replace(",", ", ")
    assert_refused(ran, f"{path}: no {missing} column (columns found: {columns})", database_url)


@pytest.mark.parametrize("separator", [";", "\t"])
def test_a_semicolon_or_tab_separated_file_is_refused_in_one_line_asking_which(
    launchcast: Callable[..., Ran], database_url: str, tmp_path: Path, separator: str
) -> None:
    products = tmp_path / "products.csv"
    products.write_text(
        separator.join(["product_id", "launch_date", "category", "color", "size"])
        + "\n"
        + separator.join(["A", "2024-01-01", "dresses", "red", "38"])
        + "\n"
    )
    ran = launchcast("import", "--products", products)
    header = repr(separator.join(["product_id", "launch_date", "category", "color"]) + "...")
    reason = (
        f"{products}: 1 column found ({header}): launchcast reads comma-separated CSV; "
        "is this file ;- or tab-separated?"
    )
    assert_refused(ran, reason, database_url)


@pytest.mark.parametrize(
    ("option", "header", "column", "name"),
    [
        ("--products", "product_id,Launch_Date,color", "Launch_Date", "launch_date"),
        ("--sales", "Product_ID,date,quantity", "Product_ID", "product_id"),
    ],
)
def test_a_column_named_like_a_reserved_one_in_another_case_is_refused_in_one_line(
    launchcast: Callable[..., Ran],
    database_url: str,
    tmp_path: Path,
    option: str,
    header: str,
    column: str,
    name: str,
) -> None:
    path = tmp_path / "file.csv"
    path.write_text(f"{header}\nA,2024-01-01,3\n")
    ran = launchcast("import", option, path)
    reason = f"{path}: column {column!r} looks like {name!r} (column names are case-sensitive)"
    assert_refused(ran, reason, database_url)


def test_an_extra_sales_column_is_ignored_with_one_warning_line(
    launchcast: Callable[..., Ran], database_url: str, tmp_path: Path
) -> None:
    products, sales = write_files(tmp_path)
    sales.write_text("product_id,date,quantity,store\nA,2024-01-01,3,north\nB,2024-01-08,1,south\n")
    ran = launchcast("import", "--products", products, "--sales", sales)
    assert ran.code == 0, ran.err
    warning = (
        f"warning {sales}: column 'store' ignored (sales files hold product_id, date, quantity)"
    )
    assert [line for line in ran.out.splitlines() if "ignored" in line] == [warning]
    assert counts(database_url) == (2, 2)


def test_an_attribute_of_1e400_is_named_once_as_not_a_finite_number(
    launchcast: Callable[..., Ran], database_url: str, tmp_path: Path
) -> None:
    products = tmp_path / "products.csv"
    products.write_text("product_id,launch_date,price\nA,2024-01-01,1e400\n")
    ran = launchcast("import", "--products", products)
    assert ran.code == 1
    assert len(ran.err.splitlines()) == 1 and "nothing was written" in ran.err
    flat = "".join(ran.out.split())  # rich wraps long lines anywhere
    assert "row1:attributes.price:Inputshouldbeafinitenumber" in flat
    assert "validboolean" not in flat and "validstring" not in flat
    assert counts(database_url) == (0, 0)


def test_a_directory_is_refused_in_one_line_saying_it_is_a_directory(
    launchcast: Callable[..., Ran], database_url: str, tmp_path: Path
) -> None:
    directory = tmp_path / "d"
    directory.mkdir()
    ran = launchcast("import", "--products", directory)
    assert_refused(
        ran, f"{directory}: is a directory; expected a .csv or .parquet file", database_url
    )


def test_a_row_with_more_fields_than_the_header_is_refused_in_one_line_naming_the_file(
    launchcast: Callable[..., Ran], database_url: str, tmp_path: Path
) -> None:
    products = tmp_path / "products.csv"
    products.write_text("product_id,launch_date,color\nA,2024-01-01,red\nB,2024-01-01,red,L\n")
    ran = launchcast("import", "--products", products)
    reason = f"{products}: not comma-separated CSV: Expected 3 fields in line 3, saw 4"
    assert_refused(ran, reason, database_url)


def test_a_csv_named_parquet_is_refused_in_one_line_naming_the_file(
    launchcast: Callable[..., Ran], database_url: str, tmp_path: Path
) -> None:
    products, _ = write_files(tmp_path)
    renamed = tmp_path / "products.parquet"
    renamed.write_bytes(products.read_bytes())
    ran = launchcast("import", "--products", renamed)
    assert ran.code == 1 and len(ran.err.strip().splitlines()) == 1, ran.err
    assert f"{renamed}: not a Parquet file" in ran.err
    assert counts(database_url) == (0, 0)
