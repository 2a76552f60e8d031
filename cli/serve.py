"""`launchcast serve`: run the HTTP service with uvicorn."""

from __future__ import annotations

import typer

from store.settings import get_settings


def serve_command(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, help="Worker processes (stateless replicas)."),
) -> None:
    """Serve the API (docs at /docs). Refuses a non-loopback address without API keys."""
    import uvicorn

    from service.http import protocol_class

    get_settings().check_safe_to_serve(host)
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        http=protocol_class(),  # uvicorn's protocol plus a deadline for request headers
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,
    )
