"""Liveness and readiness (open, no API key) and metrics (a read key when keys are set)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from service.api.deps import SettingsDep
from service.api.schemas import AUTH_ERRORS, problem
from service.auth import ReadAccess
from store.session import get_engine

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process runs")
def healthz() -> dict[str, str]:
    """Answers 200 while the process runs."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database answers and a model is loaded",
    responses={503: problem("Not ready", 503, "database unreachable: connection refused")},
)
def readyz(request: Request, settings: SettingsDep) -> JSONResponse:
    """200 when the database answers and a model is loaded, else 503 with the reason."""
    reasons: list[str] = []
    try:
        with get_engine(settings.database_url).connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not ready", with its message
        reasons.append(f"database unreachable: {type(exc).__name__}")
    readiness = getattr(request.app.state, "model_readiness", None)
    if readiness is not None:
        model_reason = readiness()
        if model_reason:
            reasons.append(model_reason)
    if reasons:
        return JSONResponse(
            {
                "type": "https://launchcast.dev/problems/503",
                "title": "Not ready",
                "status": 503,
                "detail": "; ".join(reasons),
            },
            status_code=503,
            media_type="application/problem+json",
        )
    return JSONResponse({"status": "ready"})


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    dependencies=[ReadAccess],
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
        **AUTH_ERRORS,
    },
)
def metrics(request: Request) -> Response:
    """Request counts and latencies per route, in Prometheus text format (a `read` key when
    keys are configured: route names and traffic are not for anonymous callers)."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
