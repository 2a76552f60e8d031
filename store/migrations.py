"""Run Alembic migrations programmatically (CLI, tests, demo)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parents[1]


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the database at `database_url` to `revision` (default: the latest schema)."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


class SchemaNotReady(RuntimeError):
    """The database has no launchcast schema, or an older one."""


def require_current(database_url: str) -> None:
    """Refuse to work on a database that `launchcast db upgrade` has not migrated to the head.

    Without this, the first query fails with the driver's raw "no such table" error.
    """
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from store.session import get_engine

    heads = set(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())
    with get_engine(database_url).connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    if current != heads:
        state = "has no launchcast schema" if not current else "has an older schema"
        raise SchemaNotReady(f"the database {state}: run `launchcast db upgrade` first")
