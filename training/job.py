"""The training job: one run from the catalogue in the database to a published model version.

Stages: load and check the data, backtest by launch date, refit on everything, write the
artifact, publish it through the promotion gate. A failed run records its error and never
touches the active model.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecasting.backtest import BacktestResult, backtest, split_by_launch
from forecasting.curves import MIN_PRODUCTS as MIN_CURVE_PRODUCTS
from forecasting.curves import resolve_launch_dates
from forecasting.errors import EmptyCatalogue
from forecasting.model import ForecasterConfig
from store import registry, runs
from store.runs import RunAbandoned, RunInProgress, queue_run
from store.session import get_sessionmaker
from store.settings import Settings
from training.data import TrainingData, load_training_data
from training.statistical import evaluate_established

log = logging.getLogger(__name__)
Progress = Callable[[str, float], None]

# The queue (queue_run, claims, heartbeats, stale runs) lives in store/runs.py; re-exported.
__all__ = [
    "CutoffOutOfRange",
    "RunAbandoned",
    "RunInProgress",
    "TrainingOutcome",
    "check_cutoff",
    "execute_run",
    "queue_run",
]


class CutoffOutOfRange(EmptyCatalogue):
    """A backtest cutoff that leaves too few launches before it (to train on) or from it (to
    test); the message names the range of launch dates."""


@dataclass
class TrainingOutcome:
    run_id: str
    version: str
    status: str  # the version's registry status: active, rejected, ...
    reason: str
    metrics: dict[str, Any]
    data_summary: dict[str, Any]


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
    """Run a claimed (running) training run to the end, heartbeating its row every
    `run_heartbeat_seconds` and recording success or failure on it."""
    sessions = get_sessionmaker(settings.database_url)
    staging = settings.artifact_dir / f".staging-{run_id}"
    try:
        with runs.Heartbeat(sessions, run_id, settings.run_heartbeat_seconds) as beat:

            def report(stage: str, done: float) -> None:
                beat.progress(stage, done)  # written with the next heartbeat
                if progress is not None:
                    progress(stage, done)

            outcome = _train_and_publish(
                settings, run_id, staging, engine, dask_address, cutoff, holdout_fraction, report
            )
    except RunAbandoned:
        shutil.rmtree(staging, ignore_errors=True)
        raise  # its row already says failed, and why: leave it as it is
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        with sessions() as session:
            runs.fail(session, run_id, _one_line(exc))  # keeps a failure recorded first
        raise
    with sessions() as session:
        metrics = {**_headline(outcome.metrics), "promotion": outcome.reason}
        runs.succeed(session, run_id, outcome.version, metrics)
        session.commit()
    return outcome


def check_cutoff(data: TrainingData, cutoff: dt.date | None) -> None:
    """Refuse a cutoff outside the catalogue's launches before the backtest fails on an empty side.

    Raises:
        CutoffOutOfRange: fewer than the launch curves' minimum of launches on either side.
    """
    if cutoff is None:
        return
    _, train_mask = split_by_launch(data.products, data.sales, cutoff)
    n_train = int(train_mask.sum())
    sides = (("train on", n_train), ("test", len(train_mask) - n_train))
    short = [(side, n) for side, n in sides if n < MIN_CURVE_PRODUCTS]
    if not short:
        return
    side, n = short[0]
    launch = resolve_launch_dates(data.products, data.sales).dropna()
    span = (
        f"launches run from {launch.min().date()} to {launch.max().date()}"
        if not launch.empty
        else "no product has a launch date"
    )
    launches = "launch" if n == 1 else "launches"
    leaves = "no launches" if n == 0 else f"only {n} {launches} (at least {MIN_CURVE_PRODUCTS})"
    raise CutoffOutOfRange(f"{cutoff} leaves {leaves} to {side} ({span})")


def run_training(settings: Settings, trigger: str = "cli", **options: Any) -> TrainingOutcome:
    """Queue a run claimed by this process and execute it here (`launchcast train`, demo)."""
    with get_sessionmaker(settings.database_url)() as session:
        run = queue_run(session, trigger, settings.run_heartbeat_seconds, claim=True)
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
    check_cutoff(data, cutoff)
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
        # Train once: the backtest's model chose the method, rounds and calibration on its
        # folds; the published model applies them to every product.
        if result.model is None:
            raise RuntimeError("the backtest fitted no model")
        model = result.model.refit(data.products, data.sales, dask_client=client)
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
    metrics["quarantined"] = data.quarantined
    summary = {**data.summary, "n_clipped_periods": model.metadata_.get("n_clipped", 0)}
    report("publishing", 0.95)
    try:
        with get_sessionmaker(settings.database_url)() as session:
            runs.check_still_running(session, run_id)
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
        # 0.1 to 0.55, where the statistical stage starts: the fraction never moves backwards.
        progress=lambda stage, done: report(stage, 0.1 + 0.45 * done),
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
        "quarantined",
    )
    return {key: metrics[key] for key in keep if key in metrics}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]
