"""/v1/models: the registry of published model versions, activation and rollback."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import SessionDep
from service.api.schemas import AUTH_ERRORS, problem
from service.auth import AdminAccess, ReadAccess
from service.errors import Conflict, NotFound, shown, storable_key
from store import registry
from store.models import ModelVersion

router = APIRouter(prefix="/v1", tags=["models"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: problem("Not found", 404, "no model version '20250201T030000Z-3f9a1c'")
}

# The examples: what training/job.py records, a few keys of each part (methods hold more scores,
# the registry's metrics per-step and cross-validation tables too). A run records the headline;
# the version the headline and more (see /v1/training-runs).
PROMOTION_EXAMPLE = "backtest WAPE 61.2 vs active 62.0 (bound 63.2)"
HEADLINE_EXAMPLE: dict[str, Any] = {
    "cutoff": "2024-08-05",
    "n_train": 1640,
    "n_test": 410,
    "served_method": "gbm",
    "methods": {
        "global_curve": {"wape": 68.4, "mae": 17.9, "bias": -21.3, "n": 4838, "coverage": 0.74},
        "served": {"wape": 61.2, "mae": 16.0, "bias": -12.6, "n": 4838, "coverage": 0.79},
    },
    "models_fitted": 9,
}
MODEL_EXAMPLE: dict[str, Any] = {
    "version": "20250201T030000Z-3f9a1c",
    "status": "active",
    "created_at": "2025-02-01T03:00:00Z",
    "activated_at": "2025-02-01T03:00:01Z",
    "frequency": "W",
    "checksum": "sha256:3f9a1c5e08b2d47a96c1e3f20b7d58a4c9e6f1b03d72a85e4c6b9f10d3e7a2c5",
    "reason": PROMOTION_EXAMPLE,
    "data_summary": {
        "n_products": 2050,
        "n_observations": 98412,
        "first_launch": "2021-02-01",
        "last_launch": "2025-01-27",
        "last_sale": "2025-01-27",
        "data_hash": "sha256:8d0c4f7a2b91e6d35c08a7f4e2b1d9c63a5f0e8b7d24c19a6e3b5f8d0c2a4e71",
    },
    "metrics": {
        **HEADLINE_EXAMPLE,
        "frequency": "W",
        "launch_steps": 12,
        "interval": [0.1, 0.9],
        "engine": "local",
        "run_id": "3f9a1c2b7d4e5f60",
    },
}


class ModelOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [MODEL_EXAMPLE]})
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
    model_config = ConfigDict(json_schema_extra={"examples": [{"models": [MODEL_EXAMPLE]}]})
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
    responses={
        **AUTH_ERRORS,
        **NOT_FOUND,
        409: problem(
            "Conflict",
            409,
            "model version '20250201T030000Z-3f9a1c' not activated: no model artifact in "
            "/srv/artifacts/20250201T030000Z-3f9a1c; the active version is unchanged",
        ),
    },
)
def activate_model(
    version: str,
    session: SessionDep,
    request: Request,
    force: bool = Query(
        False,
        description="Activate a version the promotion gate rejected (otherwise a 409 with the "
        "gate's reason). The override is logged and noted in the version's `reason`.",
    ),
) -> ModelOut:
    """Make `version` active; the previous one is retired and every replica switches to it.
    409 when its artifact is missing or fails its checksum (no replica could serve it), or when
    the promotion gate rejected it and `force` is not set."""
    known = registry.get_version(session, version) if storable_key(version) else None
    if known is None:
        raise NotFound(f"no model version '{shown(version)}'")
    unusable = registry.artifact_problem(known)
    if unusable is not None:
        raise not_activated(version, unusable)
    try:
        row = registry.activate(session, version, force=force)
    except registry.RejectedVersion as exc:
        session.rollback()
        raise not_activated(version, f"{exc}; send force=true to activate it anyway") from None
    if row is None:  # deleted meanwhile
        raise NotFound(f"no model version '{shown(version)}'")
    session.commit()
    on_activate = getattr(request.app.state, "on_model_activated", None)
    if on_activate is not None:
        on_activate()  # this replica reloads at once; the others notice within seconds
    return model_out(row)


def not_activated(version: str, why: str) -> Conflict:
    return Conflict(
        f"model version '{version}' not activated: {why}; the active version is unchanged"
    )
