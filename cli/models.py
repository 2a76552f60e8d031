"""`launchcast models ...` and `launchcast runs ...`: the registry and the training runs, for an
operator at the machine (the same records as `GET /v1/models` and `GET /v1/training-runs/{id}`)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from store.settings import get_settings

if TYPE_CHECKING:
    from store.models import TrainingRun

models_app = typer.Typer(
    help="Model versions: list them, activate one (promotion or rollback).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
runs_app = typer.Typer(
    help="Training runs: the newest first.", no_args_is_help=True, rich_markup_mode=None
)
console = Console()


@models_app.command("list")
def list_models() -> None:
    """Every model version, the newest first: status, backtest WAPE, and why it has that status."""
    from store import registry
    from store.session import get_sessionmaker

    with get_sessionmaker(get_settings().database_url)() as session:
        versions = registry.list_versions(session)
    if not versions:
        console.print("no model versions yet: run `launchcast train`")
        return
    # One line per version and its reason under it: reads whole in an 80-column log.
    for row in versions:
        metrics = row.metrics or {}
        _record(
            f"{row.version}  {row.status:<9}  {_when(row.created_at)}  "
            f"WAPE {_number(registry.served_wape(metrics))}  "
            f"{metrics.get('served_method') or '-'}",
            row.reason,
        )


@models_app.command("activate")
def activate_model(
    version: str = typer.Argument(..., help="A version from `models list`."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Activate a version the promotion gate rejected (refused otherwise); the override "
        "is logged and noted in its reason.",
    ),
) -> None:
    """Make VERSION the active model (every replica switches to it within model_poll_seconds).

    A version the promotion gate rejected is refused unless --force is given."""
    from store import registry
    from store.session import get_sessionmaker

    with get_sessionmaker(get_settings().database_url)() as session:
        known = registry.get_version(session, version)
        if known is None:
            raise typer.BadParameter(
                f"no model version '{version}' (see `launchcast models list`)",
                param_hint="VERSION",
            )
        # Every replica would refuse it and keep serving the previous version.
        unusable = registry.artifact_problem(known)
        if unusable is not None:
            raise RuntimeError(
                f"model version '{version}' not activated: {unusable}; "
                "the active version is unchanged"
            )
        try:
            registry.activate(session, version, force=force)
        except registry.RejectedVersion as exc:
            raise RuntimeError(
                f"model version '{version}' not activated: {exc}; pass --force to activate it "
                "anyway; the active version is unchanged"
            ) from None
        session.commit()
    console.print(f"model [bold]{version}[/] is active")


@runs_app.command("list")
def list_runs(
    limit: int = typer.Option(20, min=1, max=1000, help="How many runs, newest first."),
) -> None:
    """The newest training runs: status, stage or error, timing and the model each published."""
    from store import runs
    from store.session import get_sessionmaker

    settings = get_settings()
    with get_sessionmaker(settings.database_url)() as session:
        # As GET /v1/training-runs/{id} does: a run whose worker died is shown failed, with the
        # reason, not "running" for ever (nobody else may be looking).
        runs.fail_stale_runs(session, settings.run_heartbeat_seconds)
        rows = runs.recent_runs(session, limit)
        # A queued run nobody claims says so (no worker alive), as GET /v1/training-runs does.
        unclaimed = {
            run.run_id: warning
            for run in rows
            if (
                warning := runs.waiting_warning(
                    session, run, settings.run_heartbeat_seconds, settings.worker_poll_seconds
                )
            )
        }
    if not rows:
        console.print("no training runs yet: `launchcast train`, or POST /v1/training-runs")
        return
    for run in rows:
        end = run.finished_at or run.heartbeat_at  # a running run: how long so far
        _record(
            f"{run.run_id}  {run.status:<9}  {_when(run.created_at)}  "
            f"{_seconds(run.started_at, end):>6}  model {run.model_version or '-'}  "
            f"({run.trigger})",
            unclaimed.get(run.run_id) or _run_detail(run),
            style="red" if run.error or run.run_id in unclaimed else "dim",
        )


def _run_detail(run: TrainingRun) -> str | None:
    """A failed run's error, an unfinished run's stage; nothing for a succeeded one."""
    if run.error:
        return f"error: {run.error}"
    if run.status == "queued":
        return "waiting for a worker (`launchcast worker`, or `launchcast serve` with its worker)"
    if run.status == "running":
        done = f" ({run.progress:.0%})" if run.progress is not None else ""
        return f"stage: {run.stage or 'starting'}{done}, on worker {run.worker or '?'}"
    return None


def _record(line: str, detail: str | None, style: str = "dim") -> None:
    """A record on one line, and what explains it indented beneath."""
    console.print(line, highlight=False, soft_wrap=True)
    if detail:
        console.print(f"    {detail}", highlight=False, style=style, soft_wrap=True)


def _when(moment: dt.datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%m-%d %H:%M")


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None or end is None:
        return "-"
    return f"{(end - start).total_seconds():.0f} s"


def _number(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}"
