"""`launchcast import`: load products and sales from CSV or Parquet files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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


class FileRefused(ValueError):
    """A file that cannot be imported as it is (empty, not UTF-8 text, wrong columns): nothing
    is written, and the reason names the file."""


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file as a frame; ids stay strings, empty cells become missing."""
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.is_dir():
        raise FileRefused(f"{path}: is a directory; expected a .csv or .parquet file")
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv", ".txt"):
        raise FileRefused(f"{path}: expected a .csv or .parquet file")
    if path.stat().st_size == 0:
        raise FileRefused(f"{path}: the file is empty")
    if suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise FileRefused(f"{path}: not a Parquet file ({exc})") from exc
    try:
        return pd.read_csv(path, dtype={"product_id": str}, keep_default_na=True)
    except pd.errors.EmptyDataError as exc:  # blank lines only
        raise FileRefused(f"{path}: the file is empty") from exc
    except UnicodeDecodeError as exc:
        raise FileRefused(not_utf8(path)) from exc
    except pd.errors.ParserError as exc:  # "Expected 3 fields in line 5, saw 4"
        reason = " ".join(str(exc).split()).removeprefix("Error tokenizing data. C error: ")
        raise FileRefused(f"{path}: not comma-separated CSV: {reason}") from exc


def not_utf8(path: Path) -> str:
    """Where a file stops being UTF-8 text (Latin-1 and Windows-1252 exports are common)."""
    offset = 0
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):  # no UTF-8 sequence spans a newline
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                where = (
                    f"byte 0x{line[exc.start]:02x} at line {number}, offset {offset + exc.start}"
                )
                return f"{path}: not UTF-8 text ({where}): save it as UTF-8"
            offset += len(line)
    return f"{path}: not UTF-8 text: save it as UTF-8"


@dataclass(frozen=True)
class FileColumns:
    """The columns a kind of file holds: those it must have, those it may, and what any other
    is (None: ignored)."""

    kind: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    others: str | None = None

    @property
    def reserved(self) -> tuple[str, ...]:
        return self.required + self.optional


PRODUCT_COLUMNS = FileColumns("products", ("product_id",), ("launch_date",), others="attributes")
SALE_COLUMNS = FileColumns("sales", ("product_id", "date", "quantity"))


def check_columns(path: Path, frame: pd.DataFrame, expected: FileColumns) -> list[str]:
    """Refuse a file whose columns cannot be what `expected` describes, in one line naming the
    file, before any row is validated (a missing column would otherwise be an error per row);
    return warnings about columns that will be ignored."""
    columns = [str(column) for column in frame.columns]
    if len(columns) == 1 and any(separator in columns[0] for separator in ";\t"):
        header = columns[0] if len(columns[0]) <= 40 else columns[0][:37] + "..."
        raise FileRefused(
            f"{path}: 1 column found ({header!r}): launchcast reads comma-separated CSV; "
            "is this file ;- or tab-separated?"
        )
    for column in columns:
        for name in expected.reserved:
            if column != name and _loose(column) == _loose(name):
                rule = (
                    "column names are case-sensitive"
                    if column.lower() == name
                    else "column names must match exactly"
                )
                raise FileRefused(f"{path}: column {column!r} looks like {name!r} ({rule})")
    missing = [name for name in expected.required if name not in columns]
    if missing:
        found = ", ".join(columns[:12]) + (f", ... ({len(columns)} in all)" if columns[12:] else "")
        raise FileRefused(f"{path}: no {_either(missing)} column (columns found: {found})")
    if frame.empty:
        raise FileRefused(f"{path}: no rows under the header")
    ignored = [c for c in columns if c not in expected.reserved] if expected.others is None else []
    if not ignored:
        return []
    named = ", ".join(repr(column) for column in ignored)
    held = ", ".join(expected.reserved)
    return [
        f"{path}: column{'s' if ignored[1:] else ''} {named} ignored "
        f"({expected.kind} files hold {held})"
    ]


def _loose(name: str) -> str:
    """A column name as a reader might mistype it: any case, spaces, underscores or hyphens."""
    return "".join(c for c in name.lower() if c not in " _-")


def _either(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _load(path: Path | None, expected: FileColumns) -> pd.DataFrame | None:
    """A file read and its columns checked; warnings printed."""
    if path is None:
        return None
    frame = read_table(path)
    for warning in check_columns(path, frame, expected):
        console.print(f"[yellow]warning[/] {warning}", highlight=False, soft_wrap=True)
    return frame


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
    from store.repositories.catalogue import retrying
    from store.session import get_sessionmaker

    for path in (products, sales):
        if path is not None and not path.exists():
            raise FileNotFoundError(f"no such file: {path}")
    settings = get_settings()
    migrations.require_current(settings.database_url)
    # Transient: a file refused while reading leaves its one-line reason, not a stopped bar.
    with _progress(transient=True) as reading:
        reading.add_task("reading files", total=None)
        product_rows = _records(_load(products, PRODUCT_COLUMNS))
        sale_rows = _records(_load(sales, SALE_COLUMNS))
    with _progress() as progress:
        # Every row is validated, then written: the bar counts both passes, chunk by chunk.
        n_rows = len(product_rows) + len(sale_rows)
        task = progress.add_task("validating, then writing rows", total=2 * n_rows)
        with get_sessionmaker(settings.database_url)() as session:

            def load() -> ImportSummary:
                # Again from the start after a deadlock with a concurrent writer (PostgreSQL):
                # the checks read the catalogue, which the other writer may have changed.
                progress.update(task, completed=0, description="validating, then writing rows")
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
                return summary

            summary = retrying(session, load)
            progress.update(task, completed=2 * n_rows, description="done")
    _report(summary, skip_invalid)


def _progress(transient: bool = False) -> Progress:
    """A bar; a transient one, which shows work under way only, is off outside a terminal
    (where rich would still print a blank line when it ends)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=transient,
        disable=transient and not console.is_terminal,
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
