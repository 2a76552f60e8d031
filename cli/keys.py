"""`launchcast keys ...`: API keys, stored only as hashes."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from store.settings import Role

app = typer.Typer(
    help="API keys (stored as SHA-256 digests).", no_args_is_help=True, rich_markup_mode=None
)
console = Console()


@app.command("create")
def create(role: Role = typer.Option(..., help="forecast, read, write or admin.")) -> None:
    """Print a new random key once, and the digest to put in LAUNCHCAST_API_KEYS."""
    from service.auth import hash_key, new_key  # the web stack loads only when needed

    key = new_key()
    console.print("key (shown once, give it to the client):")
    # Never folded: a key cut across two lines on a narrow terminal is copied as a wrong key.
    console.print(f"[bold]{key}[/]", soft_wrap=True, highlight=False)
    console.print("add to LAUNCHCAST_API_KEYS (JSON map of digest to role):")
    console.print(json.dumps({hash_key(key): role.value}), soft_wrap=True, highlight=False)
