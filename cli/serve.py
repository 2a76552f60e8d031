"""`launchcast serve`: run the HTTP service with uvicorn (and, by default, one training worker)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import FrameType

import typer
from rich.console import Console

from store.settings import get_settings

console = Console(stderr=True)
# How long a stopping worker may take to record its run's failure before it is killed.
WORKER_STOP_SECONDS = 30
# With --workers, uvicorn's supervisor pings each worker and kills (then restarts) one that does not
# answer within this time; its default, 5 s, is shorter than a worker's start-up (imports, loading
# the model) on a busy 2-core machine, where the workers were killed and restarted forever.
WORKER_HEALTHCHECK_SECONDS = 120


def serve_command(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, help="Worker processes (stateless replicas)."),
    worker: bool = typer.Option(
        True,
        "--worker/--no-worker",
        help="Also start one training worker in a child process, so queued training runs "
        "complete on a single machine (--no-worker when `launchcast worker` runs elsewhere).",
    ),
) -> None:
    """Serve the API (docs at /docs). Refuses a non-loopback address without API keys, and a
    database `launchcast db upgrade` has not migrated."""
    import uvicorn

    from service.http import protocol_class
    from store import migrations

    settings = get_settings()
    settings.check_safe_to_serve(host)
    # Before the worker child starts: a refusal is one line, not a traceback in each log.
    migrations.require_current(settings.database_url)
    child = start_worker() if worker else None
    if child is not None:
        # uvicorn re-raises SIGTERM once it has shut down; exit through `finally` then, so the
        # worker is stopped (and its run recorded) before this process ends.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
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
    finally:
        if child is not None:
            stop_worker(child)


def _exit_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    sys.exit(0)


def start_worker() -> subprocess.Popen[bytes]:
    """`launchcast worker` in a child process: training never competes with serving for the
    GIL, and the child exits with this process (it watches its parent's pid)."""
    command = [sys.executable, "-m", "cli", "worker", "--parent-pid", str(os.getpid())]
    child = subprocess.Popen(command)
    console.print(f"training worker started (pid {child.pid})", highlight=False)
    return child


def stop_worker(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the worker marks its run failed with the reason), then SIGKILL if it hangs."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(WORKER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
