"""`launchcast worker`: execute queued training runs (POST /v1/training-runs, `schedule`)."""

from __future__ import annotations

import logging

import typer

from store.settings import get_settings


def worker_command(
    once: bool = typer.Option(
        False, "--once", help="Execute at most one queued run, then exit (tests, cron)."
    ),
    parent_pid: int | None = typer.Option(
        None, hidden=True, help="Exit when this process is no longer the parent."
    ),
) -> None:
    """Claim queued training runs from the database and execute them, one at a time; several
    workers may share a database. SIGTERM marks the current run failed, then exits."""
    from store import migrations
    from training.worker import Worker  # the training stack loads only for this command

    settings = get_settings()
    # An unmigrated database: refuse in one line (the claim loop would log "no such table").
    migrations.require_current(settings.database_url)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    worker = Worker(settings, parent_pid=parent_pid)
    worker.install_signal_handlers()
    worker.run(once=once)
    if once and worker.failed:
        raise RuntimeError(f"the training run failed: {worker.failed}")
