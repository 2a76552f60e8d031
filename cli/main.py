"""`launchcast`: the command line. Each command exits non-zero with a one-line reason on failure."""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console

from cli import db, demo, forecast, ingest, keys, models, schedule, serve, train, worker

app = typer.Typer(
    name="launchcast",
    help="Cold-start demand forecasting: import a catalogue, train, serve forecasts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Click's plain help: flags read --flag/--no-flag (Typer's Rich panels print `<bool>`
    # beside them), and --help does not load Rich's layout machinery.
    rich_markup_mode=None,
)
app.add_typer(db.app, name="db")
app.add_typer(keys.app, name="keys")
app.add_typer(models.models_app, name="models")
app.add_typer(models.runs_app, name="runs")
app.command("import")(ingest.import_command)
app.command("demo")(demo.demo_command)
app.command("serve")(serve.serve_command)
app.command("train")(train.train_command)
app.command("evaluate")(train.evaluate_command)
app.command("schedule")(schedule.schedule_command)
app.command("worker")(worker.worker_command)
app.command("forecast")(forecast.forecast_command)

err = Console(stderr=True)


def main() -> None:
    """Console-script entry point: turn any failure into one line and exit code 1."""
    try:
        app(standalone_mode=False)
    except SystemExit:
        raise
    except Exception as exc:  # the one place every failure becomes a one-line reason
        if os.environ.get("LAUNCHCAST_DEBUG"):
            raise
        from cli.errors import reason_for  # database and settings errors: only on failure

        reason = reason_for(exc)
        err.print(f"[bold red]error:[/] {reason}", highlight=False, soft_wrap=True)
        sys.exit(getattr(exc, "exit_code", 1) or 1)
