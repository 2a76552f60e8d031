"""`launchcast import`: load products and sales from CSV or Parquet files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from store.settings import get_settings

if TYPE_CHECKING:  # pandas loads when a file is read, not for `launchcast --help`
    import pandas as pd

    from store.ingest import ImportSummary, ItemError

console = Console()


class ImportRejected(Exception):
    """Invalid rows and no --skip-invalid: nothing was written."""


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file as a frame; ids stay strings, empty cells become missing."""
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    import pandas as pd

    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if path.suffix.lower() in (".csv", ".txt"):
        return pd.read_csv(path, dtype={"product_id": str}, keep_default_na=True)
    raise ValueError(f"{path}: expected a .csv or .parquet file")


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    if frame is None:
        return []
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict("records")  # type: ignore[return-value]


def import_command(
    products: Path | None = typer.Option(None, "--products", help="Products file (CSV/Parquet)."),
    sales: Path | None = typer.Option(None, "--sales", help="Sales file (CSV/Parquet)."),
    skip_invalid: bool = typer.Option(
        False,
        "--skip-invalid/--no-skip-invalid",
        help="Write the valid rows and report the invalid ones.",
    ),
) -> None:
    """Import products (product_id, launch_date, any attribute columns) and sales
    (product_id, date, quantity). Invalid rows are named; without --skip-invalid nothing is written.
    """
    if products is None and sales is None:
        raise typer.BadParameter("give --products FILE, --sales FILE or both")
    from store import migrations
    from store.ingest import import_records
    from store.session import get_sessionmaker

    for path in (products, sales):
        if path is not None and not path.exists():
            raise FileNotFoundError(f"no such file: {path}")
    settings = get_settings()
    migrations.require_current(settings.database_url)
    with _progress() as progress:
        reading = progress.add_task("reading files", total=None)
        product_rows = _records(read_table(products) if products else None)
        sale_rows = _records(read_table(sales) if sales else None)
        progress.remove_task(reading)
        # Every row is validated, then written: the bar counts both passes, chunk by chunk.
        n_rows = len(product_rows) + len(sale_rows)
        task = progress.add_task("validating, then writing rows", total=2 * n_rows)
        with get_sessionmaker(settings.database_url)() as session:
            summary = import_records(
                session,
                product_rows,
                sale_rows,
                skip_invalid=skip_invalid,
                product_locator=lambda i, f: f"{products} row {i + 1}: {f}",
                sale_locator=lambda i, f: f"{sales} row {i + 1}: {f}",
                on_chunk=lambda n: progress.advance(task, n),
            )
            invalid = summary.rejected + summary.rejected_sales
            if invalid and not skip_invalid:
                session.rollback()
            else:
                progress.update(task, description="committing")
                session.commit()
            progress.update(task, completed=2 * n_rows, description="done")
    _report(summary, skip_invalid)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _report(summary: ImportSummary, skip_invalid: bool) -> None:
    invalid: list[ItemError] = summary.rejected + summary.rejected_sales
    for error in invalid[:50]:
        console.print(f"[red]invalid[/] {error.field}: {error.message}", highlight=False)
    if len(invalid) > 50:
        console.print(f"... and {len(invalid) - 50} more invalid fields")
    table = Table(title="import summary (rows numbered from 1, header excluded)")
    for column in ("", "inserted", "updated", "rejected"):
        table.add_column(column)
    table.add_row(
        "products",
        str(summary.products.inserted),
        str(summary.products.updated),
        str(len({e.index for e in summary.rejected})),
    )
    table.add_row(
        "sales",
        str(summary.sales.inserted),
        str(summary.sales.updated),
        str(len({e.index for e in summary.rejected_sales})),
    )
    console.print(table)
    if invalid and not skip_invalid:
        raise ImportRejected(
            f"{summary.n_rejected} invalid rows; nothing was written "
            "(fix them, or pass --skip-invalid to write the valid rows)"
        )
