"""Adaptive batching: requests arriving together share a predict call, each keeps its answer.

The batcher is driven directly on an event loop so that "arriving together" is exact rather
than a matter of thread timing; the model and its store are the real, served ones.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forecasting.errors import InvalidHistory
from forecasting.synthetic import generate_catalogue
from forecasting.types import ForecastQuery
from service.batching import ForecastBatcher
from service.forecasts import Answer, forecast
from service.middleware import Metrics
from service.model_store import ModelStore
from store.settings import Settings
from tests.test_forecast_api import (  # the trained artifacts are shared, fitted once
    artifacts,
    catalogue,
    served,
)

__all__ = ["artifacts", "catalogue", "served"]  # fixtures used below by name

NEW_PRODUCTS = [
    ForecastQuery(dt.date(2026, 7, 6), dict(attributes), product_id=f"NEW-{i}")
    for i, attributes in enumerate(generate_catalogue(6, seed=21)[0]["attributes"])
]


def points(answer: Answer) -> bytes:
    """A rendering that keeps every number exactly, with the answering version."""
    return json.dumps(
        {
            "version": answer.model_version,
            "points": [r.point.tolist() for r in answer.forecasts],
            "quantiles": [
                {str(q): v.tolist() for q, v in r.quantiles.items()} for r in answer.forecasts
            ],
        }
    ).encode()


def submit_together(
    batcher: ForecastBatcher, jobs: list[list[ForecastQuery]], quantiles: list[float]
) -> list[Any]:
    """Submit every job in the same event-loop turn; results (or exceptions) in order."""

    async def run() -> list[Any]:
        calls = [batcher.submit(job, 8, quantiles, False, points) for job in jobs]
        return await asyncio.gather(*calls, return_exceptions=True)

    return asyncio.run(run())


def predict_calls(metrics: Metrics) -> tuple[float, float]:
    """(predict calls, requests answered) from the batch histogram."""
    count = metrics.registry.get_sample_value("launchcast_forecast_requests_per_predict_count")
    total = metrics.registry.get_sample_value("launchcast_forecast_requests_per_predict_sum")
    return count or 0.0, total or 0.0


@pytest.fixture
def store(served: TestClient) -> ModelStore:
    model_store: ModelStore = served.app.state.model_store  # type: ignore[attr-defined]
    assert model_store.model is not None
    return model_store


def test_requests_arriving_together_share_one_predict_call_and_keep_their_own_numbers(
    store: ModelStore,
) -> None:
    metrics = Metrics()
    batcher = ForecastBatcher(store, max_products=64, metrics=metrics)
    jobs = [[q] for q in NEW_PRODUCTS[:4]] + [NEW_PRODUCTS[4:6]]
    answers = submit_together(batcher, jobs, [0.1, 0.9])
    assert predict_calls(metrics) == (1, 5)
    for job, body in zip(jobs, answers, strict=True):
        alone = points(forecast(store, job, 8, [0.1, 0.9], False))
        assert body == alone  # the same numbers, to the last bit, as predicted alone


def test_a_request_that_fails_does_not_fail_the_others_in_its_batch(store: ModelStore) -> None:
    metrics = Metrics()
    batcher = ForecastBatcher(store, max_products=64, metrics=metrics)
    before_launch = ForecastQuery(
        dt.date(2026, 7, 6), {"category": "tops"}, history=((dt.date(2026, 6, 1), 5.0),)
    )
    jobs = [[NEW_PRODUCTS[0]], [before_launch], [NEW_PRODUCTS[1]]]
    first, failed, last = submit_together(batcher, jobs, [])
    assert isinstance(failed, InvalidHistory)
    assert first == points(forecast(store, jobs[0], 8, [], False))
    assert last == points(forecast(store, jobs[2], 8, [], False))


def test_requests_with_different_horizons_or_quantiles_are_predicted_in_separate_calls(
    store: ModelStore,
) -> None:
    metrics = Metrics()
    batcher = ForecastBatcher(store, max_products=64, metrics=metrics)

    async def run() -> list[bytes]:
        return await asyncio.gather(
            batcher.submit([NEW_PRODUCTS[0]], 8, [0.5], False, points),
            batcher.submit([NEW_PRODUCTS[1]], 4, [0.5], False, points),
            batcher.submit([NEW_PRODUCTS[2]], 8, [0.9], False, points),
        )

    short = json.loads(asyncio.run(run())[1])
    assert len(short["points"][0]) == 4
    assert predict_calls(metrics) == (3, 3)


def test_a_batch_holds_at_most_the_configured_products(store: ModelStore) -> None:
    metrics = Metrics()
    batcher = ForecastBatcher(store, max_products=2, metrics=metrics)
    assert not batcher.accepts(3)
    submit_together(batcher, [[q] for q in NEW_PRODUCTS[:5]], [])
    assert predict_calls(metrics) == (3, 5)  # 2 + 2 + 1


def test_http_answers_are_the_same_with_batching_on_and_off(
    served: TestClient, make_settings: Callable[..., Settings]
) -> None:
    from service.app import create_app

    body = {
        "horizon": 6,
        "quantiles": [0.1, 0.9],
        "explain": True,
        "products": [{"launch_date": "2026-07-06", "attributes": {"category": "tops"}}],
    }
    with TestClient(create_app(make_settings(forecast_batch_products=0))) as unbatched:
        off = unbatched.post("/v1/forecasts", json=body)
    on = served.post("/v1/forecasts", json=body)
    assert on.status_code == off.status_code == 200
    assert on.json() == off.json()
    metrics = served.get("/metrics").text
    assert "launchcast_forecast_requests_per_predict_count 1.0" in metrics


def test_small_predict_calls_run_on_the_event_loop_and_larger_ones_in_a_thread(
    store: ModelStore,
) -> None:
    batcher = ForecastBatcher(store, max_products=64, metrics=Metrics(), inline_products=2)
    rendered_on: list[int] = []

    def render(answer: Answer) -> bytes:
        rendered_on.append(threading.get_ident())
        return points(answer)

    async def run(jobs: list[list[ForecastQuery]]) -> int:
        await asyncio.gather(*(batcher.submit(job, 8, [], False, render) for job in jobs))
        return threading.get_ident()

    loop_thread = asyncio.run(run([[NEW_PRODUCTS[0]], [NEW_PRODUCTS[1]]]))
    assert rendered_on == [loop_thread, loop_thread]
    rendered_on.clear()
    loop_thread = asyncio.run(run([[q] for q in NEW_PRODUCTS[:3]]))
    assert len(rendered_on) == 3 and loop_thread not in rendered_on


def test_requests_parsed_in_the_turn_after_the_first_join_its_predict_call(
    store: ModelStore,
) -> None:
    metrics = Metrics()
    batcher = ForecastBatcher(store, max_products=64, metrics=metrics, inline_products=64)

    async def arrive(job: list[ForecastQuery], turns: int) -> bytes:
        for _ in range(turns):  # read in the same poll, parsed one loop turn later
            await asyncio.sleep(0)
        return await batcher.submit(job, 8, [], False, points)

    async def run() -> None:
        await asyncio.gather(*(arrive([q], min(i, 1)) for i, q in enumerate(NEW_PRODUCTS[:3])))

    asyncio.run(run())
    assert predict_calls(metrics) == (1, 3)
