"""Bulk forecasts for the whole catalogue into the `forecasts` table (read by planners with SQL).

Resumable and idempotent: products already forecast by the same model version are skipped
(unless forced), and rows are upserted on (model_version, product_id, step).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.forecasts import RequestedProduct, forecast, quantile_key, resolve_queries
from service.model_store import ModelStore
from store.models import Product, StoredForecast
from store.repositories.catalogue import chunks, dialect_insert
from store.session import get_sessionmaker
from store.settings import Settings

CHUNK_PRODUCTS = 500
DEGRADED_VERSION = "none"  # forecasts made without a model, from launch curves


@dataclass
class BulkSummary:
    model_version: str
    total: int
    skipped: int
    written: int


def forecast_catalogue(
    settings: Settings,
    horizon: int,
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9),
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> BulkSummary:
    """Forecast every catalogue product with the active model (or the fallback) and store it."""
    store = ModelStore(settings)
    store.refresh()
    version = store.model.version if store.model else DEGRADED_VERSION
    sessions = get_sessionmaker(settings.database_url)
    with sessions() as session:
        ids = list(session.scalars(select(Product.product_id).order_by(Product.product_id)))
        done = set() if force else _already_done(session, version)
    todo = [pid for pid in ids if pid not in done]
    written = 0
    for start in range(0, len(todo), CHUNK_PRODUCTS):
        chunk = todo[start : start + CHUNK_PRODUCTS]
        with sessions() as session:
            queries = resolve_queries(
                session,
                [RequestedProduct(pid, None, None, None) for pid in chunk],
                sales_until=store.sales_until(),
                freq=settings.frequency,
            )
            answer = forecast(store, queries, horizon, quantiles, explain=False)
            rows = [
                {
                    "model_version": version,
                    "product_id": result.product_id,
                    "step": int(step),
                    "start_date": start_date,
                    "forecast": float(result.point[i]),
                    "quantiles": {
                        quantile_key(q): float(v[i]) for q, v in result.quantiles.items()
                    },
                    "method": result.method,
                }
                for result in answer.forecasts
                for i, (step, start_date) in enumerate(
                    zip(result.steps, result.start_dates, strict=True)
                )
            ]
            _upsert_forecasts(session, rows)
            session.commit()
        written += len(chunk)
        if progress:
            progress(len(done) + written, len(ids))
    return BulkSummary(version, len(ids), len(ids) - len(todo), written)


def _already_done(session: Session, version: str) -> set[str]:
    query = (
        select(StoredForecast.product_id).where(StoredForecast.model_version == version).distinct()
    )
    return set(session.scalars(query))


def _upsert_forecasts(session: Session, rows: list[dict[str, Any]]) -> None:
    stmt = dialect_insert(session, StoredForecast)
    stmt = stmt.on_conflict_do_update(
        index_elements=[
            StoredForecast.model_version,
            StoredForecast.product_id,
            StoredForecast.step,
        ],
        set_={
            name: stmt.excluded[name]
            for name in ("start_date", "forecast", "quantiles", "method", "computed_at")
        },
    )
    for chunk in chunks(rows, 2000):
        session.execute(stmt, list(chunk))
