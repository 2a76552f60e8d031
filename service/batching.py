"""Adaptive batching: small forecast requests that arrive together share one predict call.

A predict call has a fixed cost (neighbour search set-up, LightGBM's predictor, a few hundred
small NumPy operations: about a millisecond) and a small cost per product. A planning system
that sends one product per request, several requests at a time, would pay the fixed cost on
every request. Here, requests that arrive while a predict call runs wait for it (as they would
anyway: the process has one interpreter lock) and then go together in the next call. A request
that finds nothing running is predicted after one turn of the event loop, which lets the
requests read with it join; batching adds no timed wait of its own.

Each request still gets its own answer: the products of a batch are predicted row by row, the
same numbers as alone, from one model version taken once per call. A request whose products
fail (history before launch, say) is retried alone so it cannot fail the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool

from forecasting.types import ForecastQuery
from service.forecasts import Answer, forecast
from service.middleware import Metrics
from service.model_store import ModelStore

Render = Callable[[Answer], bytes]
_Key = tuple[int, tuple[float, ...], bool, frozenset[str], bool]


@dataclass
class _Job:
    queries: list[ForecastQuery]
    horizon: int
    quantiles: tuple[float, ...]
    explain: bool
    render: Render
    future: asyncio.Future[bytes]
    details: frozenset[str] = frozenset()
    private: bool = False

    @property
    def key(self) -> _Key:
        """Jobs with the same key can share a predict call."""
        return self.horizon, self.quantiles, self.explain, self.details, self.private


class ForecastBatcher:
    """Coalesces concurrent forecast requests of one app into shared predict calls.

    Lives on the event loop: `submit` is called from async routes; the predict calls run one
    at a time, small ones on the loop, the others in the thread pool.
    """

    def __init__(
        self, store: ModelStore, max_products: int, metrics: Metrics, inline_products: int = 0
    ) -> None:
        """
        Args:
            store: Where the served model (or the fallback) comes from.
            max_products: Most products in one shared call; bigger requests should not come
                here (see `accepts`).
            metrics: Where the requests per predict call are counted.
            inline_products: Calls of at most this many products run on the event loop itself
                (about a millisecond), larger ones in the thread pool.
        """
        self._store = store
        self._max_products = max_products
        self._inline_products = inline_products
        self._metrics = metrics
        self._pending: list[_Job] = []
        self._drainer: asyncio.Task[None] | None = None

    def accepts(self, n_products: int) -> bool:
        """Whether a request of this size is batched (large ones gain nothing and would make
        the small ones wait)."""
        return 0 < n_products <= self._max_products

    async def submit(
        self,
        queries: Sequence[ForecastQuery],
        horizon: int,
        quantiles: Sequence[float],
        explain: bool,
        render: Render,
        details: frozenset[str] = frozenset(),
        private: bool = False,
    ) -> bytes:
        """The rendered answer to one request, predicted together with its neighbours in time."""
        job = _Job(
            list(queries),
            horizon,
            tuple(quantiles),
            explain,
            render,
            asyncio.get_running_loop().create_future(),
            details,
            private,
        )
        self._pending.append(job)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await job.future

    async def _drain(self) -> None:
        # One turn of the loop first: the requests that arrived with this one (read in the same
        # poll, not yet parsed) join its call. Nothing else to do makes the turn immediate. At 4
        # connections: ~2 -> ~4 requests per call, 950-1,160 -> 1,360-1,640 req/s.
        await asyncio.sleep(0)
        while self._pending:
            batch = self._take()
            try:
                if sum(len(job.queries) for job in batch) <= self._inline_products:
                    # Short: the thread hop (a hand-off of the interpreter lock each way)
                    # costs more than it frees the loop for.
                    outcomes = self._run(batch)
                else:
                    outcomes = await run_in_threadpool(self._run, batch)
            except asyncio.CancelledError:  # shutting down: nobody will be answered
                for job in batch + self._pending:
                    job.future.cancel()
                raise
            except Exception as exc:  # the thread pool itself failed: no waiter may hang
                outcomes = [exc] * len(batch)
            for job, outcome in zip(batch, outcomes, strict=True):
                if job.future.done():  # the client went away
                    continue
                if isinstance(outcome, BaseException):
                    job.future.set_exception(outcome)
                else:
                    job.future.set_result(outcome)

    def _take(self) -> list[_Job]:
        """The oldest pending jobs, up to `max_products` products (always at least one)."""
        taken, total = 0, 0
        for job in self._pending:
            if taken and total + len(job.queries) > self._max_products:
                break
            taken += 1
            total += len(job.queries)
        batch, self._pending = self._pending[:taken], self._pending[taken:]
        return batch

    def _run(self, batch: list[_Job]) -> list[bytes | BaseException]:
        """Predict each group of compatible jobs in one call (runs in a worker thread)."""
        outcomes: dict[int, bytes | BaseException] = {}
        groups: dict[_Key, list[int]] = {}
        for position, job in enumerate(batch):
            groups.setdefault(job.key, []).append(position)
        for positions in groups.values():
            jobs = [batch[p] for p in positions]
            for position, outcome in zip(positions, self._run_group(jobs), strict=True):
                outcomes[position] = outcome
        return [outcomes[p] for p in range(len(batch))]

    def _run_group(self, jobs: list[_Job]) -> list[bytes | BaseException]:
        first = jobs[0]
        queries = [q for job in jobs for q in job.queries]
        try:
            answer = forecast(
                self._store,
                queries,
                first.horizon,
                first.quantiles,
                first.explain,
                first.details,
                first.private,
            )
            self._metrics.batched_requests.observe(len(jobs))
        except Exception as exc:
            if len(jobs) == 1:
                return [exc]
            # One request's bad product must not fail the others: each alone finds the culprit.
            return [self._run_group([job])[0] for job in jobs]
        outcomes: list[bytes | BaseException] = []
        start = 0
        for job in jobs:
            part = Answer(answer.model_version, answer.forecasts[start : start + len(job.queries)])
            start += len(job.queries)
            try:
                outcomes.append(job.render(part))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes
