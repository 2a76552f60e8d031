"""The FastAPI application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from service.api.routes import (
    attributes,
    forecasts,
    health,
    models,
    products,
    sales,
    training_runs,
)
from service.batching import ForecastBatcher
from service.errors import install_error_handlers
from service.middleware import (
    BodyLimitMiddleware,
    Metrics,
    MetricsMiddleware,
    ServedModelCollector,
)
from service.model_store import ModelStore
from service.openapi import install_openapi
from service.web import install_pages
from store.settings import Settings, get_settings

GC_YOUNG_THRESHOLD = 10_000

DESCRIPTION = """
Cold-start demand forecasting for new products. launchcast finds the known products that look
most like a new one and borrows from how they sold: forecasts for products with no history,
with a few observed periods (warm-up), and with long history, with quantiles, the neighbours
it borrowed from, and the method that spoke.

Authenticate with the `X-API-Key` header (roles: forecast, read, write, admin; a `forecast`
key sees forecasts only, never another product's sales). Errors are RFC 9457 problem details.
The planner's page is at `/app`.
"""


def _operation_id(route: APIRoute) -> str:
    # Clean ids ("create_products") so generated clients read well.
    return route.name


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    for start in app.state.on_startup:
        start(app)
    # Everything alive now (modules, the loaded model) lives as long as the process: keep it
    # out of the cyclic collector's full passes, which otherwise rescan it while a large
    # answer is being built (a known CPython server practice; measured ~1.5x on rendering).
    gc.freeze()
    # Collect the young generation every GC_YOUNG_THRESHOLD net allocations, not 700: a busy
    # server allocates per request, and each gen-0 pass (and every tenth, gen 1, and every
    # hundredth, a full one) interrupts the loop; requests' objects die by reference count.
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    try:
        yield
    finally:
        for stop in reversed(app.state.on_shutdown):
            stop(app)


def install_model_store(app: FastAPI, settings: Settings) -> None:
    """Load the active model at start-up, watch the registry, report readiness."""
    store = ModelStore(settings, app.state.metrics)
    app.state.metrics.registry.register(ServedModelCollector(store.served_version))
    app.state.model_store = store
    app.state.model_readiness = store.readiness
    app.state.on_model_activated = store.refresh
    app.state.forecast_batcher = ForecastBatcher(
        store,
        settings.forecast_batch_products,
        app.state.metrics,
        settings.forecast_inline_products,
    )
    app.state.on_startup.append(lambda _: store.start())
    app.state.on_shutdown.append(lambda _: store.stop())


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application: routers, error handlers, middleware, lifecycle hooks."""
    settings = settings or get_settings()
    app = FastAPI(
        title="launchcast",
        version="1.0.0",
        summary="Forecasts for products that have never sold.",
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        # Served by install_pages from local assets (no CDN: the product runs offline).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()  # before install_model_store: the batcher counts into it
    app.state.metrics.watch_training_runs(settings.database_url)
    app.state.on_startup = []
    app.state.on_shutdown = []
    install_model_store(app, settings)
    install_error_handlers(app)
    install_openapi(app)
    # Routes are matched in order: the hot one (forecasts) first, then the rest.
    for module in (forecasts, attributes, health, products, sales, training_runs, models):
        app.include_router(module.router)
    install_pages(app)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app
