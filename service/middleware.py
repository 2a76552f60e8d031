"""Pure ASGI middleware: Prometheus metrics per route and the request body limit."""

from __future__ import annotations

import collections
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


class Metrics:
    """The service's Prometheus collectors, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "launchcast_http_requests_total",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "launchcast_http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ["route", "method"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.forecasts = Counter(
            "launchcast_forecasts_total",
            "Products forecast, by the method that answered: a rise of the fallback methods "
            "(global_curve, attribute_curve) means missing attributes or a missing model.",
            ["method"],
            registry=self.registry,
        )
        self.batched_requests = Histogram(
            "launchcast_forecast_requests_per_predict",
            "Forecast requests answered by one predict call (>1: requests arriving together "
            "shared it).",
            registry=self.registry,
            buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32, 64),
        )
        self.training_runs: TrainingRunsCollector | None = None

    def watch_training_runs(self, database_url: str) -> None:
        """Add the training-run gauges (TrainingRunsCollector) for this database, once."""
        if self.training_runs is None:
            self.training_runs = TrainingRunsCollector(database_url)
            self.registry.register(self.training_runs)

    def count_forecasts(self, methods: Iterable[str]) -> None:
        """One increment per method of an answer, not per product (a batch holds thousands)."""
        for method, n in collections.Counter(methods).items():
            self.forecasts.labels(method).inc(n)


class ServedModelCollector(Collector):
    """`launchcast_model_loaded{version}`: 1 while this replica serves a model version, 0 on the
    degraded path (no version loaded); read from the replica's model store at each scrape, so
    a swap shows without anything to update."""

    def __init__(self, served_version: Callable[[], str | None]) -> None:
        self.served_version = served_version

    def collect(self) -> Iterator[GaugeMetricFamily]:
        version = self.served_version()
        gauge = GaugeMetricFamily(
            "launchcast_model_loaded",
            "1 while this replica serves the model version in the label, 0 without a model.",
            labels=["version"],
        )
        gauge.add_metric([version or ""], 1.0 if version else 0.0)
        yield gauge


class TrainingRunsCollector(Collector):
    """The training-run queue, read from the database at each scrape (one grouped query over a
    small table): what an operator alerts on. If the database cannot be read, the scrape still
    answers, with `launchcast_training_runs_up 0` and without the other figures."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The names registration checks, without reading the database (prometheus-client
        calls `collect` at registration otherwise: a query each time an app is created)."""
        for name in (
            "launchcast_training_runs_up",
            "launchcast_training_runs",
            "launchcast_training_run_oldest_queued_seconds",
            "launchcast_training_run_heartbeat_age_seconds",
            "launchcast_training_run_last_success_timestamp_seconds",
        ):
            yield GaugeMetricFamily(name, "")

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from store.runs import queue_figures
        from store.session import get_sessionmaker

        try:
            with get_sessionmaker(self.database_url)() as session:
                figures = queue_figures(session)
        except Exception as exc:  # a scrape never fails for the database's sake
            reason = next(iter(str(exc).splitlines()), "")
            log.warning("training-run metrics not read: %s: %s", type(exc).__name__, reason)
            yield GaugeMetricFamily(
                "launchcast_training_runs_up",
                "1 when the training-run figures could be read from the database, else 0.",
                value=0.0,
            )
            return
        yield GaugeMetricFamily(
            "launchcast_training_runs_up",
            "1 when the training-run figures could be read from the database, else 0.",
            value=1.0,
        )
        by_status = GaugeMetricFamily(
            "launchcast_training_runs",
            "Training runs in the database by status (queued, running, succeeded, failed).",
            labels=["status"],
        )
        for status, count in figures["counts"].items():
            by_status.add_metric([status], float(count))
        yield by_status
        yield GaugeMetricFamily(
            "launchcast_training_run_oldest_queued_seconds",
            "Age of the oldest queued training run (0: none queued); above 90 s, no worker is "
            "claiming runs.",
            value=figures["oldest_queued_seconds"],
        )
        yield GaugeMetricFamily(
            "launchcast_training_run_heartbeat_age_seconds",
            "Seconds since the running training run's worker last heartbeat (0: none running).",
            value=figures["running_heartbeat_seconds"],
        )
        last = figures["last_success"]
        if last is not None:
            yield GaugeMetricFamily(
                "launchcast_training_run_last_success_timestamp_seconds",
                "When the newest succeeded training run finished (Unix time): alert on its age.",
                value=last.timestamp(),
            )


class MetricsMiddleware:
    """Count and time every request under its route template (bounded label cardinality)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_template(scope)
            method = scope.get("method", "")
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route, method).observe(time.perf_counter() - started)


def _route_template(scope: Scope) -> str:
    # The router records the matched route in the scope; its template bounds label cardinality.
    route: Any = scope.get("route")
    return str(getattr(route, "path", "unmatched"))


class BodyLimitMiddleware:
    """Answer 413 problem details when a body exceeds the limit, declared or streamed."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._reject(send)
            return

        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # An HTTPException: FastAPI re-raises those from body reading (any other
                    # error there becomes a 400) and the app's handler renders the 413.
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:  # raised where no handler renders it (outside a route)
            if not response_started:
                await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body = json.dumps(
            {
                "type": "https://launchcast.dev/problems/413",
                "title": "Request body too large",
                "status": 413,
                "detail": f"the request body exceeds the limit of {self.max_body_bytes} bytes",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class BodyTooLarge(HTTPException):
    """A streamed (chunked) body went over the limit while being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"the request body exceeds the limit of {limit} bytes",
            # The rest of the body is never read: the connection cannot carry another request.
            headers={"Connection": "close"},
        )
