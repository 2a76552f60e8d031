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
    from store import migrations  # Alembic and SQLAlchemy load only when the command runs

    url = get_settings().database_url
    migrations.upgrade(url, revision)
    console.print(f"database migrated to [bold]{revision}[/]: {_redact(url)}")


@app.command("downgrade")
def downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. base.")) -> None:
    """Migrate the database back to `revision`."""
    from store import migrations

    url = get_settings().database_url
    migrations.downgrade(url, revision)
    console.print(f"database migrated down to [bold]{revision}[/]")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
