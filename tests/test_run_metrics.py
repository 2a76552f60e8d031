"""/metrics carries the training-run queue an operator alerts on, read from the database at each
scrape: runs by status, the age of the oldest queued run, the running run's heartbeat age, the
last success; a database that cannot be read leaves the scrape answering, with an error gauge."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from store.models import TrainingRun
from store.session import get_sessionmaker
from store.settings import Settings


def gauges(client: TestClient) -> dict[str, float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    values = {}
    for line in response.text.splitlines():
        match = re.match(r"^(launchcast_training_run\S*) (\S+)$", line)
        if match:
            values[match[1]] = float(match[2])
    return values


def test_an_empty_queue_is_all_zeros(client: TestClient) -> None:
    values = gauges(client)
    assert values["launchcast_training_runs_up"] == 1.0
    for status in ("queued", "running", "succeeded", "failed"):
        assert values[f'launchcast_training_runs{{status="{status}"}}'] == 0.0
    assert values["launchcast_training_run_oldest_queued_seconds"] == 0.0
    assert values["launchcast_training_run_heartbeat_age_seconds"] == 0.0
    assert "launchcast_training_run_last_success_timestamp_seconds" not in values


def test_the_queue_as_the_database_holds_it(client: TestClient, settings: Settings) -> None:
    now = dt.datetime.now(dt.UTC)
    finished = now - dt.timedelta(days=2)
    with get_sessionmaker(settings.database_url)() as session:
        session.add_all(
            [
                TrainingRun(
                    run_id="ok1",
                    status="succeeded",
                    created_at=now - dt.timedelta(days=9),
                    finished_at=finished - dt.timedelta(days=7),
                ),
                TrainingRun(
                    run_id="ok2",
                    status="succeeded",
                    created_at=now - dt.timedelta(days=2, minutes=5),
                    finished_at=finished,
                ),
                TrainingRun(run_id="bad", status="failed", created_at=now - dt.timedelta(days=1)),
                TrainingRun(
                    run_id="waiting",
                    status="queued",
                    active_slot=True,
                    created_at=now - dt.timedelta(seconds=600),
                ),
            ]
        )
        session.commit()
    values = gauges(client)
    assert values['launchcast_training_runs{status="succeeded"}'] == 2.0
    assert values['launchcast_training_runs{status="failed"}'] == 1.0
    assert values['launchcast_training_runs{status="queued"}'] == 1.0
    assert 595 <= values["launchcast_training_run_oldest_queued_seconds"] <= 660
    last_success = values["launchcast_training_run_last_success_timestamp_seconds"]
    assert abs(last_success - finished.timestamp()) < 1  # the newest success, not the first


def test_a_running_run_shows_its_heartbeat_age(client: TestClient, settings: Settings) -> None:
    now = dt.datetime.now(dt.UTC)
    with get_sessionmaker(settings.database_url)() as session:
        session.add(
            TrainingRun(
                run_id="busy",
                status="running",
                active_slot=True,
                created_at=now - dt.timedelta(seconds=300),
                started_at=now - dt.timedelta(seconds=290),
                heartbeat_at=now - dt.timedelta(seconds=45),
                worker="w:1",
            )
        )
        session.commit()
    values = gauges(client)
    assert values['launchcast_training_runs{status="running"}'] == 1.0
    assert 44 <= values["launchcast_training_run_heartbeat_age_seconds"] <= 100
    assert values["launchcast_training_run_oldest_queued_seconds"] == 0.0


def test_a_database_that_cannot_be_read_does_not_fail_the_scrape(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    gone = make_settings(database_url=f"sqlite:///{tmp_path / 'gone' / 'missing.db'}")
    with TestClient(create_app(gone)) as client:
        response = client.get("/metrics")
        assert response.status_code == 200
        values = gauges(client)
    assert values == {"launchcast_training_runs_up": 0.0}


def test_creating_the_app_reads_nothing_from_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gauges are registered by name: the queue is read at a scrape, not each time an app
    (a replica, a test) is created."""
    from service.middleware import TrainingRunsCollector

    def read(_self: TrainingRunsCollector) -> None:
        raise AssertionError("the database was read at registration")

    monkeypatch.setattr(TrainingRunsCollector, "collect", read)
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'never-created.db'}"))
    assert app.state.metrics.training_runs is not None
    assert not (tmp_path / "never-created.db").exists()
