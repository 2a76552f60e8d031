"""How long a dead training worker blocks retraining (issue 11): kill -9 a `launchcast worker`
mid-run and time until POST /v1/training-runs is accepted again; SIGTERM one and read its run's
final state. With the default heartbeat (30 s) the bound is 3 x 30 s after the last heartbeat.

    .venv/bin/python -m benchmarks.worker_recovery [--heartbeat 30] [--backend sqlite|postgresql]

writes benchmarks/results/worker_recovery.json.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from benchmarks.common import scratch_database, write_result
from forecasting.synthetic import generate_catalogue
from service.app import create_app
from store.ingest import import_frames
from store.models import TrainingRun
from store.session import get_sessionmaker
from store.settings import Settings

DEADLINE = 1800.0


def wait_until(condition: Callable[[], Any], what: str) -> Any:
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if value := condition():
            return value
        time.sleep(0.05)
    raise TimeoutError(what)


def start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUNCHCAST_")}
    env |= {
        "LAUNCHCAST_DATABASE_URL": settings.database_url,
        "LAUNCHCAST_ARTIFACT_DIR": str(settings.artifact_dir),
        "LAUNCHCAST_RUN_HEARTBEAT_SECONDS": str(settings.run_heartbeat_seconds),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def training(settings: Settings, run_id: str) -> bool:
    with get_sessionmaker(settings.database_url)() as session:
        run = session.get(TrainingRun, run_id)
        return run is not None and run.status == "running" and run.stage is not None


def measure(settings: Settings) -> dict[str, Any]:
    with TestClient(create_app(settings)) as client:
        worker = start_worker(settings)
        killed_id = client.post("/v1/training-runs").json()["run_id"]
        wait_until(lambda: training(settings, killed_id), "the worker to start training")
        worker.kill()
        killed_at = time.monotonic()
        worker.wait()
        response = wait_until(
            lambda: (r := client.post("/v1/training-runs")).status_code == 202 and r,
            "a new run to be accepted",
        )
        seconds = time.monotonic() - killed_at
        killed = client.get(f"/v1/training-runs/{killed_id}").json()

        worker = start_worker(settings)  # picks up the run just queued
        stopped_id = response.json()["run_id"]
        wait_until(lambda: training(settings, stopped_id), "the second worker to start")
        worker.send_signal(signal.SIGTERM)
        worker.wait()
        stopped = client.get(f"/v1/training-runs/{stopped_id}").json()
    return {
        "heartbeat_seconds": settings.run_heartbeat_seconds,
        "kill9_seconds_until_new_run_accepted": round(seconds, 2),
        "kill9_run": {"status": killed["status"], "error": killed["error"]},
        "sigterm_run": {"status": stopped["status"], "error": stopped["error"]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heartbeat", type=float, default=Settings().run_heartbeat_seconds)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, scratch_database(args.backend, Path(tmp)) as url:
        with get_sessionmaker(url)() as session:
            import_frames(session, *generate_catalogue(2000, seed=1))
            session.commit()
        settings = Settings(
            database_url=url,
            artifact_dir=Path(tmp) / "artifacts",
            run_heartbeat_seconds=args.heartbeat,
        )
        result = measure(settings)
    result |= {
        "backend": args.backend,
        "command": " ".join(["python -m benchmarks.worker_recovery", *sys.argv[1:]]),
    }
    print(result)
    print(write_result(f"worker_recovery_{args.backend}", result))


if __name__ == "__main__":
    main()
