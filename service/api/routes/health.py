"""Liveness and readiness (open, no API key) and metrics (a read key when keys are set)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text

from service.api.deps import SettingsDep
from service.api.schemas import AUTH_ERRORS, problem
from service.auth import ReadAccess
from store.session import get_engine

router = APIRouter(tags=["operations"])

# A scrape of a replica serving the example model: a few of its series (histograms left out).
METRICS_EXAMPLE = """\
# HELP launchcast_http_requests_total HTTP requests by route template, method and status.
# TYPE launchcast_http_requests_total counter
launchcast_http_requests_total{method="POST",route="/v1/forecasts",status="200"} 1523.0
launchcast_http_requests_total{method="GET",route="/v1/products/{product_id}",status="404"} 7.0
# HELP launchcast_forecasts_total Products forecast, by the method that answered: a rise of the \
fallback methods (global_curve, attribute_curve) means missing attributes or a missing model.
# TYPE launchcast_forecasts_total counter
launchcast_forecasts_total{method="gbm"} 4210.0
launchcast_forecasts_total{method="attribute_curve"} 35.0
# HELP launchcast_model_loaded 1 while this replica serves the model version in the label, 0 \
without a model.
# TYPE launchcast_model_loaded gauge
launchcast_model_loaded{version="20250201T030000Z-3f9a1c"} 1.0
"""


class Liveness(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})
    status: Literal["ok"]


class Readiness(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ready"}]})
    status: Literal["ready"]


@router.get("/healthz", summary="Liveness: the process runs", response_model=Liveness)
def healthz() -> dict[str, str]:
    """Answers 200 while the process runs."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database answers and a model is loaded",
    response_model=Readiness,
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
        200: {
            "content": {
                CONTENT_TYPE_LATEST: {"schema": {"type": "string"}, "example": METRICS_EXAMPLE}
            }
        },
        **AUTH_ERRORS,
    },
)
def metrics(request: Request) -> Response:
    """Request counts and latencies per route, in Prometheus text format (a `read` key when
    keys are configured: route names and traffic are not for anonymous callers)."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
