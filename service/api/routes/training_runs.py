"""/v1/training-runs: queue a retraining for the workers and follow it.

The web process only enqueues: `launchcast worker` processes (one started by `launchcast serve`)
claim and execute runs, so training never competes with serving.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import SessionDep, SettingsDep
from service.api.routes.models import HEADLINE_EXAMPLE, PROMOTION_EXAMPLE
from service.api.schemas import AUTH_ERRORS, problem
from service.auth import AdminAccess, ReadAccess
from service.errors import Conflict, NotFound, shown, storable_key
from store.models import TrainingRun
from store.runs import RunInProgress, fail_stale_runs, queue_run, waiting_warning

router = APIRouter(prefix="/v1", tags=["training"])

# The run that published the model of GET /v1/models/active's example.
RUN_EXAMPLE: dict[str, Any] = {
    "run_id": "3f9a1c2b7d4e5f60",
    "status": "succeeded",
    "trigger": "api",
    "created_at": "2025-02-01T02:57:41Z",
    "started_at": "2025-02-01T02:57:42Z",
    "finished_at": "2025-02-01T03:00:02Z",
    "model_version": "20250201T030000Z-3f9a1c",
    "metrics": {**HEADLINE_EXAMPLE, "promotion": PROMOTION_EXAMPLE},
    "progress": {"stage": "done", "fraction": 1.0},
    "heartbeat_at": "2025-02-01T03:00:01Z",
    "worker": "web-1:4242",
}


class RunQueued(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"run_id": "3f9a1c2b7d4e5f60", "status": "queued"}]}
    )
    run_id: str = Field(examples=["3f9a1c2b7d4e5f60"])
    status: str = Field(examples=["queued"])


class RunProgress(BaseModel):
    stage: str | None = Field(examples=["backtest: fit"])
    fraction: float | None = Field(examples=[0.35])


class RunOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [RUN_EXAMPLE]})
    run_id: str = Field(examples=["3f9a1c2b7d4e5f60"])
    status: str = Field(description="queued, running, succeeded or failed", examples=["succeeded"])
    trigger: str = Field(examples=["api"])
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    model_version: str | None = Field(examples=["20250201T030000Z-3f9a1c"])
    metrics: dict[str, Any] | None = Field(
        description="Backtest scores per method (WAPE, MAE, bias, pinball, coverage)."
    )
    # A default, so a succeeded run's example needs no null: FastAPI drops nulls from the
    # document's examples (fastapi#5559), and a required field then fails its own example.
    error: str | None = Field(None, description="Why the run failed; null otherwise.")
    progress: RunProgress | None = Field(
        description="While running: the training job's current stage and the fraction done."
    )
    heartbeat_at: dt.datetime | None = Field(
        description="Last sign of life of the worker executing the run."
    )
    worker: str | None = Field(
        description="host:pid of the process that claimed the run.", examples=["web-1:4242"]
    )
    warning: str | None = Field(
        None,
        description="What needs an operator, if anything: a queued run that no worker has "
        "claimed for longer than an idle worker takes (3 x run_heartbeat_seconds, 90 s by "
        "default) means no `launchcast worker` is running against this database.",
        examples=[
            "no worker has claimed this run in 600 s: is `launchcast worker` (or `launchcast "
            "serve` with its worker) running against this database? (the last worker seen was "
            "web-1:4242 at 2025-02-01 03:00:01 UTC)"
        ],
    )


def run_out(run: TrainingRun, warning: str | None = None) -> RunOut:
    return RunOut(
        run_id=run.run_id,
        status=run.status,
        trigger=run.trigger,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        model_version=run.model_version,
        metrics=run.metrics,
        error=run.error,
        progress=(
            RunProgress(stage=run.stage, fraction=run.progress)
            if run.stage is not None or run.progress is not None
            else None
        ),
        heartbeat_at=run.heartbeat_at,
        worker=run.worker,
        warning=warning,
    )


@router.post(
    "/training-runs",
    summary="Queue a retraining for the workers",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunQueued,
    dependencies=[AdminAccess],
    responses={
        **AUTH_ERRORS,
        409: problem("Conflict", 409, "another training run is queued or running"),
    },
)
def start_training_run(session: SessionDep, settings: SettingsDep) -> RunQueued:
    """Queue a run (202) for a worker to execute; 409 while another run is queued or running."""
    try:
        run = queue_run(session, "api", settings.run_heartbeat_seconds)
    except RunInProgress as exc:
        raise Conflict(str(exc)) from None
    return RunQueued(run_id=run.run_id, status=run.status)


@router.get(
    "/training-runs/{run_id}",
    summary="Follow a training run",
    response_model=RunOut,
    dependencies=[ReadAccess],
    responses={**AUTH_ERRORS, 404: problem("Not found", 404, "no training run 'abc'")},
)
def get_training_run(run_id: str, session: SessionDep, settings: SettingsDep) -> RunOut:
    """Status, model version, metrics, error and progress of one run; `warning` says when a
    queued run waits for a worker that does not seem to exist."""
    # Whoever looks next fails a run whose worker stopped heartbeating (API.md: within 3 beats).
    fail_stale_runs(session, settings.run_heartbeat_seconds)
    run = session.get(TrainingRun, run_id) if storable_key(run_id) else None
    if run is None:
        raise NotFound(f"no training run '{shown(run_id)}'")
    warning = waiting_warning(
        session, run, settings.run_heartbeat_seconds, settings.worker_poll_seconds
    )
    return run_out(run, warning)
