"""The training worker, as real processes on real databases: POST only queues, a `launchcast
worker` process claims and completes the run, two workers never claim the same run, and a
worker killed with -9 or stopped with SIGTERM never blocks retraining."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forecasting.synthetic import generate_catalogue
from service.app import create_app
from store import runs
from store.ingest import import_frames
from store.models import TrainingRun
from store.session import get_sessionmaker
from store.settings import Settings
from tests.claim_race import claim_after_barrier

# Generous deadlines: these poll for a state, they do not bound how fast it comes.
DEADLINE = 300.0
HEARTBEAT = 1.0  # seconds: a small heartbeat so a dead worker is noticed quickly
# A tiny, quick model: these tests check the plumbing, not the forecasts.
TINY = {
    "gbm_rounds": 10,
    "cv_folds": 0,
    "statistical_backtest_series": 0,
    "run_heartbeat_seconds": HEARTBEAT,
    "worker_poll_seconds": 0.2,
}


# For the tests that stop a worker mid-run: training long enough to be caught at it.
LONGER = {"gbm_rounds": 600, "cv_folds": 2, "statistical_backtest_series": 400}


@pytest.fixture
def worker_settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    with get_sessionmaker(database_url)() as session:
        import_frames(session, *generate_catalogue(80, seed=3))
        session.commit()
    return make_settings(**TINY)


def environment(settings: Settings) -> dict[str, str]:
    """The settings as the LAUNCHCAST_* variables a worker process reads."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUNCHCAST_")}
    for name in ("database_url", "artifact_dir", "frequency", *TINY, *LONGER):
        value = getattr(settings, name)
        env[f"LAUNCHCAST_{name.upper()}"] = (
            json.dumps(list(value)) if isinstance(value, tuple) else str(value)
        )
    return env


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start `launchcast ...` processes (default: `worker`) with the given settings (logs in
    tmp_path); any left running are killed."""
    started: list[subprocess.Popen[bytes]] = []

    def start(settings: Settings, *args: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"process-{len(started)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", *(args or ("worker",))],
            env=environment(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def run_row(settings: Settings, run_id: str) -> TrainingRun:
    with get_sessionmaker(settings.database_url)() as session:
        run = session.get(TrainingRun, run_id)
        assert run is not None
        return run


def wait_until(condition: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def running_with_progress(settings: Settings, run_id: str) -> Callable[[], bool]:
    """The worker has claimed the run and the training job has reported a stage: mid-run."""

    def check() -> bool:
        run = run_row(settings, run_id)
        assert run.status in ("queued", "running"), (run.status, run.error)
        return run.status == "running" and run.stage is not None

    return check


def test_post_only_queues_and_a_worker_process_completes_the_run(
    worker_settings: Settings, start_worker: Callable[..., subprocess.Popen[bytes]]
) -> None:
    with TestClient(create_app(worker_settings)) as client:
        response = client.post("/v1/training-runs")
        assert response.status_code == 202
        run_id = response.json()["run_id"]
        assert client.get(f"/v1/training-runs/{run_id}").json()["status"] == "queued"
        worker = start_worker(worker_settings, "worker", "--once")
        assert worker.wait(DEADLINE) == 0
        run = client.get(f"/v1/training-runs/{run_id}").json()
        assert run["status"] == "succeeded", run
        assert run["progress"] == {"stage": "done", "fraction": 1.0}
        assert run["worker"].endswith(f":{worker.pid}")
        assert run["metrics"]["quarantined"] == {"products": 0, "sales": 0}
        assert client.get("/v1/models/active").json()["version"] == run["model_version"]


@pytest.mark.postgres
def test_two_workers_never_claim_the_same_run(worker_settings: Settings) -> None:
    if not worker_settings.database_url.startswith("postgresql"):
        pytest.skip("the SKIP LOCKED claim is PostgreSQL's; SQLite has one writer at a time")
    rounds, n_workers = 5, 3
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(n_workers + 1), context.Queue()
    workers = [
        context.Process(
            target=claim_after_barrier,
            args=(worker_settings.database_url, barrier, results, rounds, f"w{i}"),
        )
        for i in range(n_workers)
    ]
    for process in workers:
        process.start()
    sessions = get_sessionmaker(worker_settings.database_url)
    try:
        for _ in range(rounds):
            with sessions() as session:
                run_id = runs.queue_run(session, "test", 30).run_id
            barrier.wait(DEADLINE)  # all claim now
            claims = [results.get(timeout=DEADLINE) for _ in range(n_workers)]
            assert [c for c in claims if c is not None] == [run_id]  # exactly one claim
            with sessions() as session:
                assert runs.fail(session, run_id, "test round over")
            barrier.wait(DEADLINE)
    finally:
        barrier.abort()  # a failed round must not leave the others waiting
        for process in workers:
            process.join(DEADLINE)


def test_a_worker_killed_mid_run_is_failed_and_a_new_run_can_be_queued(
    worker_settings: Settings,
    start_worker: Callable[..., subprocess.Popen[bytes]],
    record_property: Callable[[str, object], None],
) -> None:
    # A bigger model, so training is surely still going when the worker is killed.
    slow = worker_settings.model_copy(update=LONGER)
    worker = start_worker(slow)
    with TestClient(create_app(slow)) as client:
        run_id = client.post("/v1/training-runs").json()["run_id"]
        wait_until(running_with_progress(slow, run_id), "the worker to start training")
        worker.kill()  # SIGKILL: no chance to record anything
        killed_at = time.monotonic()
        worker.wait()
        response = wait_until(
            lambda: (r := client.post("/v1/training-runs")).status_code == 202 and r,
            "a new run to be accepted",
        )
        seconds = time.monotonic() - killed_at
        dead = client.get(f"/v1/training-runs/{run_id}").json()
    record_property("seconds_from_kill_to_new_run", round(seconds, 2))
    print(f"kill -9 -> new run queued after {seconds:.2f} s (heartbeat {HEARTBEAT} s)")
    assert response.json()["status"] == "queued"
    assert dead["status"] == "failed", dead
    assert "no heartbeat" in dead["error"] and f"3 x {HEARTBEAT:g} s" in dead["error"]


def test_sigterm_marks_the_run_failed_with_the_reason_before_the_worker_exits(
    worker_settings: Settings, start_worker: Callable[..., subprocess.Popen[bytes]]
) -> None:
    slow = worker_settings.model_copy(update=LONGER)
    worker = start_worker(slow)
    with TestClient(create_app(slow)) as client:
        run_id = client.post("/v1/training-runs").json()["run_id"]
        wait_until(running_with_progress(slow, run_id), "the worker to start training")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(DEADLINE) == 0
        run = client.get(f"/v1/training-runs/{run_id}").json()
        assert run["status"] == "failed", run
        assert run["error"] == "worker stopped (SIGTERM)"
        assert client.post("/v1/training-runs").status_code == 202  # the slot is free at once
    assert not list(Path(slow.artifact_dir).glob(".staging-*"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_starts_a_worker_child_that_stops_with_it(
    worker_settings: Settings, start_worker: Callable[..., subprocess.Popen[bytes]]
) -> None:
    if not worker_settings.database_url.startswith("sqlite"):
        pytest.skip("the child process is the same on both databases")
    slow = worker_settings.model_copy(update=LONGER)
    serve = start_worker(slow, "serve", "--port", str(free_port()))
    try:
        with TestClient(create_app(slow)) as client:
            run_id = client.post("/v1/training-runs").json()["run_id"]
            wait_until(running_with_progress(slow, run_id), "serve's worker to start training")
        pid = int(run_row(slow, run_id).worker.rsplit(":", 1)[1])  # type: ignore[union-attr]
        assert (
            pid != serve.pid
            and Path(f"/proc/{pid}/status").read_text().find(f"PPid:\t{serve.pid}\n") >= 0
        ), "the worker is serve's child"
        serve.send_signal(signal.SIGTERM)
        serve.wait(DEADLINE)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    run = run_row(slow, run_id)
    assert run.status == "failed" and run.error == "worker stopped (SIGTERM)"


def test_a_get_fails_a_running_run_whose_heartbeat_stopped(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(run_heartbeat_seconds=HEARTBEAT)
    sessions = get_sessionmaker(settings.database_url)
    with sessions() as session:
        run_id = runs.queue_run(session, "test", HEARTBEAT, claim=True).run_id
    with TestClient(create_app(settings)) as client:
        fresh = client.get(f"/v1/training-runs/{run_id}").json()
        assert fresh["status"] == "running" and fresh["heartbeat_at"] is not None
        # Nobody heartbeats this run: the first GET after 3 intervals fails it.
        run = wait_until(
            lambda: (
                (body := client.get(f"/v1/training-runs/{run_id}").json())["status"] == "failed"
                and body
            ),
            "a GET to fail the silent run",
        )
    assert run["error"].startswith("worker lost: no heartbeat")
