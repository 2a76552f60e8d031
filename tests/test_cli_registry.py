"""`launchcast models` and `launchcast runs`: the registry and the runs, at the machine."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import update

from forecasting.artifact import artifact_checksum
from store import migrations, registry, runs
from store.models import TrainingRun
from store.session import get_sessionmaker

LAUNCHCAST = str(Path(sys.executable).parent / "launchcast")


def launchcast(*args: str, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LAUNCHCAST_DATABASE_URL": url, "COLUMNS": "200"}
    return subprocess.run(
        [LAUNCHCAST, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def a_registry_with_two_versions_and_a_failed_run(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    migrations.upgrade(url)
    with get_sessionmaker(url)() as session:
        for version, wape in (("v-old", 61.0), ("v-new", 60.0)):
            # An artifact that passes its checksum (activation checks it; nothing loads it).
            folder = tmp_path / version
            folder.mkdir()
            (folder / "metadata.json").write_text(f'{{"version": "{version}"}}')
            registry.register(
                session,
                version=version,
                artifact_path=str(folder),
                checksum=artifact_checksum(folder),
                frequency="W",
                metrics={"served_method": "gbm", "methods": {"served": {"wape": wape}}},
                reason=f"{version} published",
            )
            registry.activate(session, version)
        session.commit()
        run = runs.queue_run(session, "api", 30.0)
        runs.fail(session, run.run_id, "worker stopped (SIGTERM)")
    return url


def test_models_list_shows_each_version_with_its_status_and_reason(tmp_path: Path) -> None:
    url = a_registry_with_two_versions_and_a_failed_run(tmp_path)
    listed = launchcast("models", "list", url=url, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    new = next(line for line in lines if line.startswith("v-new"))
    old = next(line for line in lines if line.startswith("v-old"))
    assert "active" in new and "WAPE 60.0" in new and "gbm" in new
    assert "retired" in old
    assert "v-new published" in listed.stdout


def test_models_activate_rolls_back_and_refuses_an_unknown_version(tmp_path: Path) -> None:
    url = a_registry_with_two_versions_and_a_failed_run(tmp_path)
    rolled = launchcast("models", "activate", "v-old", url=url, cwd=tmp_path)
    assert rolled.returncode == 0, rolled.stderr
    with get_sessionmaker(url)() as session:
        active = registry.active_version(session)
        assert active is not None and active.version == "v-old"
    unknown = launchcast("models", "activate", "v-nope", url=url, cwd=tmp_path)
    assert unknown.returncode != 0
    assert "no model version 'v-nope'" in unknown.stderr + unknown.stdout
    with get_sessionmaker(url)() as session:
        active = registry.active_version(session)
        assert active is not None and active.version == "v-old"


def test_models_activate_refuses_a_version_whose_artifact_is_gone(tmp_path: Path) -> None:
    url = a_registry_with_two_versions_and_a_failed_run(tmp_path)
    (tmp_path / "v-old" / "metadata.json").unlink()
    refused = launchcast("models", "activate", "v-old", url=url, cwd=tmp_path)
    assert refused.returncode != 0
    output = refused.stderr + refused.stdout
    assert "model version 'v-old' not activated: no model artifact in" in output
    assert "Traceback" not in output
    with get_sessionmaker(url)() as session:
        active = registry.active_version(session)
        assert active is not None and active.version == "v-new"


def test_runs_list_shows_a_failed_run_with_its_error(tmp_path: Path) -> None:
    url = a_registry_with_two_versions_and_a_failed_run(tmp_path)
    listed = launchcast("runs", "list", url=url, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "failed" in listed.stdout
    assert "error: worker stopped (SIGTERM)" in listed.stdout


def test_runs_list_fails_a_run_whose_worker_stopped_heartbeating(tmp_path: Path) -> None:
    # Before: listed as "running" with "stage: waiting for a worker" until an API GET came.
    url = a_registry_with_two_versions_and_a_failed_run(tmp_path)
    long_ago = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    with get_sessionmaker(url)() as session:
        dead = runs.queue_run(session, "api", 30.0, claim=True).run_id
        session.execute(
            update(TrainingRun)
            .where(TrainingRun.run_id == dead)
            .values(started_at=long_ago, heartbeat_at=long_ago)
        )
        session.commit()
    listed = launchcast("runs", "list", url=url, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if line.startswith(dead))
    assert "failed" in line
    assert "error: worker lost: no heartbeat from" in listed.stdout
    assert "waiting for a worker" not in listed.stdout


def test_runs_list_says_who_runs_a_run_and_that_a_queued_one_waits(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    migrations.upgrade(url)
    with get_sessionmaker(url)() as session:
        running = runs.queue_run(session, "api", 30.0, claim=True)
        worker = running.worker
    listed = launchcast("runs", "list", url=url, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert f"stage: starting, on worker {worker}" in listed.stdout
    assert "waiting for a worker" not in listed.stdout
