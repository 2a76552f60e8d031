"""/v1/training-runs: start retraining in the background and follow it."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from service.api.deps import SessionDep, SettingsDep
from service.api.schemas import AUTH_ERRORS, problem
from service.auth import AdminAccess, ReadAccess
from service.errors import Conflict, NotFound
from store.models import TrainingRun
from store.settings import Settings
from training.job import RunInProgress, execute_run, queue_run

router = APIRouter(prefix="/v1", tags=["training"])
log = logging.getLogger(__name__)


class RunQueued(BaseModel):
    run_id: str = Field(examples=["3f9a1c2b7d4e5f60"])
    status: str = Field(examples=["queued"])


class RunOut(BaseModel):
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
    error: str | None = Field(examples=[None])


def run_out(run: TrainingRun) -> RunOut:
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
    )


def _run_in_background(settings: Settings, run_id: str) -> None:
    def target() -> None:
        try:
            execute_run(settings, run_id)
        except Exception:  # recorded on the run row; the service keeps serving
            log.exception("training run %s failed", run_id)

    threading.Thread(target=target, name=f"training-{run_id}", daemon=True).start()


@router.post(
    "/training-runs",
    summary="Start retraining in the background",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunQueued,
    dependencies=[AdminAccess],
    responses={
        **AUTH_ERRORS,
        409: problem("Conflict", 409, "another training run is queued or running"),
    },
)
def start_training_run(session: SessionDep, settings: SettingsDep) -> RunQueued:
    """Queue a run (202) and train in the background; 409 while another run is active."""
    try:
        run = queue_run(session, "api", settings.training_timeout_hours)
    except RunInProgress as exc:
        raise Conflict(str(exc)) from None
    _run_in_background(settings, run.run_id)
    return RunQueued(run_id=run.run_id, status=run.status)


@router.get(
    "/training-runs/{run_id}",
    summary="Follow a training run",
    response_model=RunOut,
    dependencies=[ReadAccess],
    responses={**AUTH_ERRORS, 404: problem("Not found", 404, "no training run 'abc'")},
)
def get_training_run(run_id: str, session: SessionDep) -> RunOut:
    """Status, model version, metrics and error of one run."""
    run = session.get(TrainingRun, run_id)
    if run is None:
        raise NotFound(f"no training run '{run_id}'")
    return run_out(run)
