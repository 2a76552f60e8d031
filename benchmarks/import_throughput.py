"""Import throughput: 1,000,000 sales rows through the importer's code path, SQLite and PostgreSQL.

The reference, measured in the same run on the same rows, is a plain executemany INSERT with no
validation and no upsert: the ratio shows what validation and ON CONFLICT cost.

    python -m benchmarks.import_throughput [--rows 1000000] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert

from benchmarks.common import scratch_database, write_result
from store.ingest import import_records
from store.models import SalesObservation
from store.session import get_sessionmaker

console = Console()
WEEKS = 50


def make_rows(n_rows: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Products and weekly sales rows as a file reader would give them (strings, numbers)."""
    n_products = n_rows // WEEKS
    launches = pd.Timestamp("2022-01-03") + pd.to_timedelta(np.arange(n_products) % 365, unit="D")
    products = [
        {"product_id": f"B{i:07d}", "launch_date": launch.date(), "category": f"c{i % 17}"}
        for i, launch in enumerate(launches)
    ]
    rng = np.random.default_rng(0)
    quantities = rng.poisson(20, size=n_products * WEEKS).astype(float)
    sales = [
        {
            "product_id": products[i // WEEKS]["product_id"],
            "date": launches[i // WEEKS].date()
            + pd.Timedelta(days=7 * (i % WEEKS)).to_pytimedelta(),
            "quantity": quantities[i],
        }
        for i in range(n_products * WEEKS)
    ]
    return products, sales


def time_importer(url: str, products: list[dict[str, Any]], sales: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    with get_sessionmaker(url)() as session:
        summary = import_records(session, products, sales)
        assert not summary.rejected and not summary.rejected_sales
        session.commit()
    return time.perf_counter() - started


def time_plain_insert(url: str, sales: list[dict[str, Any]]) -> float:
    """Reference: the same rows inserted with executemany, no validation, no conflict handling."""
    with get_sessionmaker(url)() as session:
        session.execute(SalesObservation.__table__.delete())
        session.commit()
        started = time.perf_counter()
        for start in range(0, len(sales), 4000):
            session.execute(insert(SalesObservation), sales[start : start + 4000])
        session.commit()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    products, sales = make_rows(args.rows)
    table = Table(title=f"import of {len(sales):,} sales rows ({len(products):,} products)")
    for column in ("backend", "importer s", "rows/s", "plain INSERT rows/s", "ratio"):
        table.add_column(column)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            with scratch_database(backend, Path(tmp)) as url:
                seconds = time_importer(url, products, sales)
                reference = time_plain_insert(url, sales)
            rate, plain = len(sales) / seconds, len(sales) / reference
            results[backend] = {
                "seconds": round(seconds, 2),
                "rows_per_second": round(rate),
                "plain_insert_rows_per_second": round(plain),
                "ratio_to_plain_insert": round(rate / plain, 3),
            }
            table.add_row(
                backend, f"{seconds:.1f}", f"{rate:,.0f}", f"{plain:,.0f}", f"{rate / plain:.2f}"
            )
    console.print(table)
    path = write_result("import_throughput", {"rows": len(sales), "results": results})
    console.print(f"written to {path}")


if __name__ == "__main__":
    main()
