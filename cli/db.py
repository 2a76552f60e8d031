"""`launchcast db ...`: schema migrations."""

from __future__ import annotations

import re

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


def relative_or_named(revision: str) -> str:
    """A revision argument: a name, or a relative one (-1, -2, ...); any other word starting
    with a dash is an option the command does not have."""
    if revision.startswith("-") and not re.fullmatch(r"-\d+", revision):
        raise typer.BadParameter(
            f"no such option {revision}; a relative revision is a negative whole number such as -1"
        )
    return revision


# `-1` reads as an option to Click: the command leaves unknown options to its argument, and
# `relative_or_named` refuses those that are not a relative revision.
@app.command("downgrade", context_settings={"ignore_unknown_options": True})
def downgrade(
    revision: str = typer.Argument(
        ...,
        callback=relative_or_named,
        help="Target revision: base, a revision id, or relative such as -1 (one step down).",
    ),
) -> None:
    """Migrate the database back to a revision (`launchcast db downgrade -1`: one step down)."""
    from cli.errors import redacted
    from store import migrations

    url = get_settings().database_url
    current_revision(url)  # no database there: refused, not created empty by the migration
    migrations.downgrade(url, revision)
    console.print(f"database migrated down to [bold]{current_revision(url)}[/]: {redacted(url)}")


def current_revision(url: str) -> str:
    """The revision the database is at now: an id, or `base` (no launchcast schema)."""
    from alembic.runtime.migration import MigrationContext

    from store.session import get_engine

    with get_engine(url).connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return ", ".join(sorted(heads)) or "base"
