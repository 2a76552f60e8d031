"""The training job: one run from the catalogue in the database to a published model version.

Stages: load and check the data, backtest by launch date, refit on everything, write the
artifact, publish it through the promotion gate. A failed run records its error and never
touches the active model.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forecasting.backtest import BacktestResult, backtest
from forecasting.model import ForecasterConfig, LaunchForecaster
from store import registry
from store.models import TrainingRun, utcnow
from store.session import get_sessionmaker
from store.settings import Settings
from training.data import TrainingData, load_training_data
from training.statistical import evaluate_established

log = logging.getLogger(__name__)
Progress = Callable[[str, float], None]

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"


class RunAbandoned(Exception):
    """The run was presumed dead (and marked failed) while it was still training: it must not
    publish, since a newer run may already hold the training slot."""


class RunInProgress(Exception):
    """Another training run is queued or running: one at a time."""


@dataclass
class TrainingOutcome:
    run_id: str
    version: str
    status: str  # the version's registry status: active, rejected, ...
    reason: str
    metrics: dict[str, Any]
    data_summary: dict[str, Any]


def queue_run(session: Session, trigger: str, timeout_hours: float) -> TrainingRun:
    """Create a queued run, or raise RunInProgress when another holds the slot.

    A run older than `timeout_hours` that still holds the slot belongs to a process that died;
    it is marked failed so training is not blocked forever.
    """
    _fail_stale_runs(session, timeout_hours)
    run = TrainingRun(
        run_id=uuid.uuid4().hex[:16], status=QUEUED, active_slot=True, trigger=trigger
    )
    session.add(run)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        busy = session.scalar(select(TrainingRun).where(TrainingRun.active_slot.is_(True)))
        which = f" ({busy.run_id}, {busy.status})" if busy else ""
        raise RunInProgress(f"another training run is queued or running{which}") from None
    return run


def _fail_stale_runs(session: Session, timeout_hours: float) -> None:
    limit = utcnow() - dt.timedelta(hours=timeout_hours)
    for run in session.scalars(select(TrainingRun).where(TrainingRun.active_slot.is_(True))):
        created = run.created_at if run.created_at.tzinfo else run.created_at.replace(tzinfo=dt.UTC)
        if created < limit:
            _finish(run, FAILED, error=f"presumed dead: still {run.status} after {timeout_hours} h")
    session.commit()


def _finish(run: TrainingRun, status: str, **values: Any) -> None:
    run.status = status
    run.active_slot = None
    run.finished_at = utcnow()
    for name, value in values.items():
        setattr(run, name, value)


def execute_run(
    settings: Settings,
    run_id: str,
    *,
    engine: str = "local",
    dask_address: str | None = None,
    cutoff: dt.date | None = None,
    holdout_fraction: float | None = None,
    progress: Progress | None = None,
) -> TrainingOutcome:
    """Run a queued training run to the end, recording success or failure on its row."""
    report = progress or (lambda stage, done: None)
    sessions = get_sessionmaker(settings.database_url)
    with sessions() as session:
        run = _get_run(session, run_id)
        run.status, run.started_at = RUNNING, utcnow()
        session.commit()
    staging = settings.artifact_dir / f".staging-{run_id}"
    try:
        outcome = _train_and_publish(
            settings, run_id, staging, engine, dask_address, cutoff, holdout_fraction, report
        )
    except RunAbandoned:
        shutil.rmtree(staging, ignore_errors=True)
        raise  # its row already says failed, and why: leave it as it is
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        with sessions() as session:
            _finish(_get_run(session, run_id), FAILED, error=_one_line(exc))
            session.commit()
        raise
    with sessions() as session:
        _finish(
            _get_run(session, run_id),
            SUCCEEDED,
            model_version=outcome.version,
            metrics={**_headline(outcome.metrics), "promotion": outcome.reason},
        )
        session.commit()
    return outcome


def run_training(settings: Settings, trigger: str = "cli", **options: Any) -> TrainingOutcome:
    """Queue a run and execute it in this process (CLI and scheduler)."""
    with get_sessionmaker(settings.database_url)() as session:
        run = queue_run(session, trigger, settings.training_timeout_hours)
    return execute_run(settings, run.run_id, **options)


def _train_and_publish(
    settings: Settings,
    run_id: str,
    staging: Path,
    engine: str,
    dask_address: str | None,
    cutoff: dt.date | None,
    holdout_fraction: float | None,
    report: Progress,
) -> TrainingOutcome:
    report("loading the catalogue", 0.0)
    with get_sessionmaker(settings.database_url)() as session:
        data = load_training_data(session)
    config = settings.forecaster_config()
    with dask_client(engine, dask_address) as client:
        report("backtest by launch date", 0.1)
        result = _backtest(data, config, settings, cutoff, holdout_fraction, client, report)
        report("statistical models on established products", 0.55)
        statistical = evaluate_established(
            data.products,
            data.sales,
            config.freq,
            config.launch_steps,
            horizon=config.launch_steps,
            client=client,
            max_series=settings.statistical_backtest_series,
        )
        report("refit on every product", 0.6)
        model = LaunchForecaster(config).fit(data.products, data.sales, dask_client=client)
    report("writing the artifact", 0.85)
    # The artifact carries its own evidence; nothing run-specific, so the checksum stays
    # a function of data, configuration and seed.
    model.metadata_["backtest"] = {**_headline(result.metrics), "statistical": statistical}
    model.metadata_["data_hash"] = data.summary.get("data_hash")
    checksum = model.save(staging)
    version = registry.new_version_id(checksum)
    if (settings.artifact_dir / version).exists():
        # The same model published twice within one second: keep both, distinctly named.
        version = f"{version}-{run_id[:4]}"
    final = settings.artifact_dir / version
    staging.rename(final)
    metrics = {
        **result.metrics,
        "statistical": statistical,
        "engine": engine,
        "run_id": run_id,
        # Seconds and models fitted per stage: the backtest's model, then the published one.
        "stages": {"backtest": result.metrics.get("stages", []), "published": model.stages_},
        "models_fitted": (result.metrics.get("models_fitted") or 0)
        + model.metadata_.get("models_fitted", 0),
    }
    summary = {**data.summary, "n_clipped_periods": model.metadata_.get("n_clipped", 0)}
    report("publishing", 0.95)
    try:
        with get_sessionmaker(settings.database_url)() as session:
            _check_still_running(session, run_id)
            row, decision = registry.publish(
                session,
                version=version,
                artifact_path=str(final.resolve()),
                checksum=checksum,
                frequency=settings.frequency,
                metrics=metrics,
                data_summary=summary,
                tolerance=settings.promotion_tolerance,
            )
            session.commit()
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        raise
    report("done", 1.0)
    return TrainingOutcome(run_id, version, row.status, decision.reason, metrics, summary)


def _backtest(
    data: TrainingData,
    config: ForecasterConfig,
    settings: Settings,
    cutoff: dt.date | None,
    holdout_fraction: float | None,
    client: Any,
    report: Progress,
) -> BacktestResult:
    return backtest(
        data.products,
        data.sales,
        config,
        cutoff=cutoff,
        holdout_fraction=holdout_fraction or settings.backtest_holdout_fraction,
        progress=lambda stage, done: report(stage, 0.1 + 0.5 * done),
        dask_client=client,
    )


@contextmanager
def dask_client(engine: str, address: str | None) -> Iterator[Any]:
    """None for the local engine; a Client for `dask` (a LocalCluster when no address)."""
    if engine == "local":
        yield None
        return
    if engine != "dask":
        raise ValueError(f"unknown engine '{engine}': use local or dask")
    from distributed import Client, LocalCluster

    if address:
        with Client(address) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _check_still_running(session: Session, run_id: str) -> None:
    """Refuse to publish for a run that another process has meanwhile presumed dead.

    The row is locked (PostgreSQL) so the check and the publication commit together.
    """
    run = session.get(TrainingRun, run_id, with_for_update=True)
    if run is None or run.status != RUNNING:
        status = run.status if run else "gone"
        raise RunAbandoned(
            f"run {run_id} was marked {status} while it trained; its model is not published"
        )


def _get_run(session: Session, run_id: str) -> TrainingRun:
    run = session.get(TrainingRun, run_id)
    if run is None:
        raise LookupError(f"no training run {run_id}")
    return run


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics a run summary shows: overall scores per method, not every step."""
    keep = (
        "cutoff",
        "n_train",
        "n_test",
        "served_method",
        "methods",
        "warmup",
        "fva",
        "cross_validation",
        "models_fitted",
        "statistical",
    )
    return {key: metrics[key] for key in keep if key in metrics}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]
