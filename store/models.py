"""SQLAlchemy 2 typed models. Alembic owns the schema: change these, then add a migration."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from store.jsonsafe import json_safe

# Stable constraint names, so migrations can refer to them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class JsonDoc(TypeDecorator[Any]):
    """JSONB on PostgreSQL (indexable, compact), plain JSON text on SQLite; values made JSON-safe
    on the way in (NaN/inf -> null, NumPy -> Python), so no writer can store what JSONB refuses.
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return json_safe(value)


PRODUCT_ID_MAX = 128


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware timestamps on every backend: SQLite drops the offset, so UTC is put back."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UtcDateTime()}


class Product(Base):
    """A catalogue product: its launch date and free-form attributes."""

    __tablename__ = "products"

    product_id: Mapped[str] = mapped_column(String(PRODUCT_ID_MAX), primary_key=True)
    # Optional: when absent, the first sale's date serves as the launch date.
    launch_date: Mapped[dt.date | None] = mapped_column(Date)
    attributes: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class SalesObservation(Base):
    """Units sold by one product on one date (negative: net returns)."""

    __tablename__ = "sales"

    product_id: Mapped[str] = mapped_column(
        ForeignKey("products.product_id", ondelete="CASCADE"), primary_key=True
    )
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    quantity: Mapped[float] = mapped_column(Float)


class ModelVersion(Base):
    """A published model: its artifact, checksum, backtest metrics and lifecycle status."""

    __tablename__ = "model_versions"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    # active | candidate | retired | rejected
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[dt.datetime | None]
    artifact_path: Mapped[str] = mapped_column(Text)
    checksum: Mapped[str] = mapped_column(String(71))  # "sha256:" + 64 hex
    frequency: Mapped[str] = mapped_column(String(1))
    metrics: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    data_summary: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    reason: Mapped[str | None] = mapped_column(Text)


class TrainingRun(Base):
    """One execution of the training job, from the API, the CLI or the scheduler."""

    __tablename__ = "training_runs"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # queued | running | succeeded | failed
    status: Mapped[str] = mapped_column(String(16))
    # True while queued or running, NULL afterwards: the unique constraint lets at most one
    # run hold the slot, on SQLite and PostgreSQL alike (NULLs never collide).
    active_slot: Mapped[bool | None] = mapped_column(unique=True)
    trigger: Mapped[str] = mapped_column(String(16), default="api")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    model_version: Mapped[str | None] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    error: Mapped[str | None] = mapped_column(Text)


class StoredForecast(Base):
    """Bulk forecasts (`launchcast forecast --all`), readable by planning systems with SQL."""

    __tablename__ = "forecasts"

    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_id: Mapped[str] = mapped_column(
        ForeignKey("products.product_id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    start_date: Mapped[dt.date] = mapped_column(Date)
    forecast: Mapped[float] = mapped_column(Float)
    quantiles: Mapped[dict[str, float]] = mapped_column(JsonDoc, default=dict)
    method: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
