"""Alembic owns the schema: migrations go up and down cleanly on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from store import migrations
from store.models import Base
from tests.conftest import BACKENDS, new_database


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_upgrade_downgrade_and_upgrade_again(backend: str, tmp_path: Path) -> None:
    url, drop = new_database(backend, tmp_path)
    try:
        migrations.upgrade(url)
        engine = create_engine(url)
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
        migrations.downgrade(url, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrations.upgrade(url)
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
        engine.dispose()
    finally:
        drop()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_migrations_build_exactly_the_schema_the_models_declare(
    backend: str, tmp_path: Path
) -> None:
    """A model changed without its migration (or the reverse) shows here, not in production."""
    url, drop = new_database(backend, tmp_path)
    try:
        migrations.upgrade(url)
        engine = create_engine(url)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
        engine.dispose()
        assert differences == []
    finally:
        drop()
