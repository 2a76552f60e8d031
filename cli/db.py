"""`launchcast db ...`: schema migrations."""

from __future__ import annotations

import typer
from rich.console import Console

from store.settings import get_settings

app = typer.Typer(
    help="Database schema (Alembic migrations).", no_args_is_help=True, rich_markup_mode=None
)
console = Console()


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the database at LAUNCHCAST_DATABASE_URL to the latest schema."""
    from cli.errors import redacted
    from store import migrations  # Alembic and SQLAlchemy load only when the command runs

    url = get_settings().database_url
    migrations.upgrade(url, revision)
    console.print(f"database migrated to [bold]{revision}[/]: {redacted(url)}")


@app.command("downgrade")
def downgrade(
    revision: str = typer.Argument(
        ...,
        help="Target revision: base, a revision id, or relative such as -1 (after `--`, "
        "which ends the options: `launchcast db downgrade -- -1`).",
    ),
) -> None:
    """Migrate the database back to a revision; a relative one needs `--` before it
    (`launchcast db downgrade -- -1`, one step down)."""
    from cli.errors import redacted
    from store import migrations

    url = get_settings().database_url
    migrations.downgrade(url, revision)
    console.print(f"database migrated down to [bold]{current_revision(url)}[/]: {redacted(url)}")


def current_revision(url: str) -> str:
    """The revision the database is at now: an id, or `base` (no launchcast schema)."""
    from alembic.runtime.migration import MigrationContext

    from store.session import get_engine

    with get_engine(url).connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return ", ".join(sorted(heads)) or "base"
