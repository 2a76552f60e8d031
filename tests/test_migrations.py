"""Alembic owns the schema: migrations go up and down cleanly on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
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
