"""/v1/models: the registry of published model versions, activation and rollback."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from service.api.deps import SessionDep
from service.api.schemas import AUTH_ERRORS, problem
from service.auth import AdminAccess, ReadAccess
from service.errors import NotFound
from store import registry
from store.models import ModelVersion

router = APIRouter(prefix="/v1", tags=["models"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: problem("Not found", 404, "no model version '20250201T030000Z-3f9a1c'")
}


class ModelOut(BaseModel):
    version: str = Field(examples=["20250201T030000Z-3f9a1c"])
    status: str = Field(description="active, candidate, retired or rejected", examples=["active"])
    created_at: dt.datetime
    activated_at: dt.datetime | None
    frequency: str = Field(examples=["W"])
    checksum: str = Field(examples=["sha256:3f9a1c..."])
    reason: str | None = Field(
        description="Why the promotion gate decided as it did.",
        examples=["backtest WAPE 61.2 vs active 62.0 (bound 63.2)"],
    )
    data_summary: dict[str, Any] = Field(
        description="Training data: products, observations, launches, data hash."
    )
    metrics: dict[str, Any] = Field(description="Backtest metrics per method and per step.")


class ModelList(BaseModel):
    models: list[ModelOut]


def model_out(row: ModelVersion) -> ModelOut:
    return ModelOut(
        version=row.version,
        status=row.status,
        created_at=row.created_at,
        activated_at=row.activated_at,
        frequency=row.frequency,
        checksum=row.checksum,
        reason=row.reason,
        data_summary=row.data_summary,
        metrics=row.metrics,
    )


@router.get(
    "/models",
    summary="List model versions",
    response_model=ModelList,
    dependencies=[ReadAccess],
    responses={**AUTH_ERRORS},
)
def list_models(session: SessionDep) -> ModelList:
    """Every published version, newest first, with status and backtest metrics."""
    return ModelList(models=[model_out(row) for row in registry.list_versions(session)])


@router.get(
    "/models/active",
    summary="The active model version",
    response_model=ModelOut,
    dependencies=[ReadAccess],
    responses={**AUTH_ERRORS, 404: problem("Not found", 404, "no model version is active yet")},
)
def get_active_model(session: SessionDep) -> ModelOut:
    """The version serving forecasts; 404 before the first training run succeeds."""
    row = registry.active_version(session)
    if row is None:
        raise NotFound("no model version is active yet; start one with POST /v1/training-runs")
    return model_out(row)


@router.post(
    "/models/{version}/activate",
    summary="Activate a model version (promotion or rollback)",
    response_model=ModelOut,
    dependencies=[AdminAccess],
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
def activate_model(version: str, session: SessionDep, request: Request) -> ModelOut:
    """Make `version` active; the previous one is retired and every replica switches to it."""
    row = registry.activate(session, version)
    if row is None:
        raise NotFound(f"no model version '{version}'")
    session.commit()
    on_activate = getattr(request.app.state, "on_model_activated", None)
    if on_activate is not None:
        on_activate()  # this replica reloads at once; the others notice within seconds
    return model_out(row)
