"""`launchcast serve`: run the HTTP service with uvicorn."""

from __future__ import annotations

import typer

from store.settings import get_settings

# With --workers, uvicorn's supervisor pings each worker and kills (then restarts) one that does not
# answer within this time; its default, 5 s, is shorter than a worker's start-up (imports, loading
# the model) on a busy 2-core machine, where the workers were killed and restarted forever.
WORKER_HEALTHCHECK_SECONDS = 120


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
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        log_level="info",
        access_log=False,
    )
