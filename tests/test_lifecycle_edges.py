"""Edges of the model lifecycle and of writes under contention.

- Activating a version the promotion gate rejected: refused (409, the gate's reason) unless
  forced, through the registry, the API (`?force=true`) and the CLI (`--force`).
- SQLite's "database is locked": a write is retried (bounded, short pauses) before the 503,
  shown with two real writers on a real SQLite file.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from cli.main import app as cli_app
from service.app import create_app
from store import migrations, registry
from store.session import get_engine, get_sessionmaker
from store.settings import Settings
from tests.test_forecast_api import artifacts, register  # trained once per session

__all__ = ["artifacts"]  # a fixture used below by name

GATE_REASON = "backtest WAPE 80.0 vs active 60.0 (bound 61.8): worse ...; rejected"


# --- activating a version the promotion gate rejected ---------------------------------------


def a_rejected_version_beside_an_active_one(
    database_url: str, artifacts: dict[str, tuple[Path, str]]
) -> None:
    """v1 active; v-bad rejected by the gate, with a sound artifact (only the gate says no)."""
    register(database_url, "v1", *artifacts["v1"], active=True)
    register(database_url, "v-bad", *artifacts["v2"], active=False)
    with get_sessionmaker(database_url)() as session:
        row = registry.get_version(session, "v-bad")
        assert row is not None
        row.status, row.reason = registry.REJECTED, GATE_REASON
        session.commit()


def statuses(database_url: str) -> dict[str, str]:
    with get_sessionmaker(database_url)() as session:
        return {row.version: row.status for row in registry.list_versions(session)}


def test_the_registry_refuses_a_rejected_version_unless_forced(
    database_url: str, artifacts: dict[str, tuple[Path, str]]
) -> None:
    a_rejected_version_beside_an_active_one(database_url, artifacts)
    with get_sessionmaker(database_url)() as session:
        with pytest.raises(registry.RejectedVersion, match="promotion gate rejected it"):
            registry.activate(session, "v-bad")
        session.rollback()
        assert registry.activate(session, "v-bad", force=True) is not None
        session.commit()
    assert statuses(database_url) == {"v1": "retired", "v-bad": "active"}


def test_activating_a_rejected_version_over_http_is_a_409_with_the_gates_reason(
    database_url: str,
    artifacts: dict[str, tuple[Path, str]],
    make_settings: Callable[..., Settings],
) -> None:
    # Before: 200, and every replica switched to a model the gate had found clearly worse.
    a_rejected_version_beside_an_active_one(database_url, artifacts)
    with TestClient(create_app(make_settings(model_poll_seconds=3600))) as client:
        response = client.post("/v1/models/v-bad/activate")
        assert response.status_code == 409, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        detail = response.json()["detail"]
        assert detail.startswith("model version 'v-bad' not activated: ")
        assert "the promotion gate rejected it" in detail and GATE_REASON in detail
        assert "force=true" in detail and "the active version is unchanged" in detail
        assert client.get("/v1/models/active").json()["version"] == "v1"
    assert statuses(database_url) == {"v1": "active", "v-bad": "rejected"}


def test_force_activates_a_rejected_version_logs_it_and_notes_it_in_its_reason(
    database_url: str,
    artifacts: dict[str, tuple[Path, str]],
    make_settings: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    a_rejected_version_beside_an_active_one(database_url, artifacts)
    with TestClient(create_app(make_settings(model_poll_seconds=3600))) as client:
        with caplog.at_level(logging.WARNING, logger="store.registry"):
            response = client.post("/v1/models/v-bad/activate", params={"force": "true"})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "active"
        assert response.json()["reason"] == f"{GATE_REASON}; {registry.FORCED_NOTE}"
        assert client.get("/v1/models/active").json()["version"] == "v-bad"
    assert any("v-bad activated with force" in r.getMessage() for r in caplog.records)
    assert statuses(database_url) == {"v1": "retired", "v-bad": "active"}


def test_a_candidate_needs_no_force(
    database_url: str,
    artifacts: dict[str, tuple[Path, str]],
    make_settings: Callable[..., Settings],
) -> None:
    """The gate leaves a candidate to an admin: only `rejected` asks for the override."""
    register(database_url, "v1", *artifacts["v1"], active=True)
    register(database_url, "v2", *artifacts["v2"], active=False)
    with TestClient(create_app(make_settings(model_poll_seconds=3600))) as client:
        assert client.post("/v1/models/v2/activate").status_code == 200


def test_the_cli_refuses_a_rejected_version_unless_forced(
    cli: CliRunner, database_url: str, artifacts: dict[str, tuple[Path, str]]
) -> None:
    a_rejected_version_beside_an_active_one(database_url, artifacts)
    refused = cli.invoke(cli_app, ["models", "activate", "v-bad"])
    assert refused.exit_code != 0
    assert "promotion gate rejected it" in str(refused.exception)
    assert "--force" in str(refused.exception)
    assert statuses(database_url) == {"v1": "active", "v-bad": "rejected"}
    forced = cli.invoke(cli_app, ["models", "activate", "v-bad", "--force"])
    assert forced.exit_code == 0, forced.output
    assert statuses(database_url) == {"v1": "retired", "v-bad": "active"}


# --- SQLite write contention ----------------------------------------------------------------

# The busy timeout the tests give SQLite (URL `?timeout=`): the default 30 s would make a locked
# database take half a minute to show.
BUSY_SECONDS = 0.2


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A migrated SQLite file and its URL with a short busy timeout (SQLite whatever backend
    the rest of the suite runs on: the contention is SQLite's own)."""
    path = tmp_path / "contended.db"
    url = f"sqlite:///{path}?timeout={BUSY_SECONDS}"
    migrations.upgrade(url)
    with get_engine(url).connect():  # the service's first connection turns WAL on
        pass
    yield path, url
    get_engine(url).dispose()


def settings_on(url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=url, artifact_dir=tmp_path / "artifacts")


class Holder:
    """A second, real writer: holds SQLite's write lock (BEGIN IMMEDIATE and a row written)
    until `release` is set or `longest` seconds have passed, then commits."""

    def __init__(self, path: Path, longest: float) -> None:
        self.release = threading.Event()
        self._locked = threading.Event()
        self._thread = threading.Thread(target=self._hold, args=(path, longest), daemon=True)

    def __enter__(self) -> Holder:
        self._thread.start()
        assert self._locked.wait(10), "the holder could not take the write lock"
        return self

    def __exit__(self, *_: object) -> None:
        self.release.set()
        self._thread.join(10)

    def _hold(self, path: Path, longest: float) -> None:
        connection = sqlite3.connect(path, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                "INSERT INTO products (product_id, attributes) VALUES ('HELD', '{}')"
            )
            self._locked.set()
            self.release.wait(longest)
            connection.execute("COMMIT")
        finally:
            connection.close()


class OnRetry(logging.Handler):
    """Calls `then` when the store says it is retrying a write: how the test lets the other
    writer finish exactly between two attempts, however fast the machine."""

    def __init__(self, then: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self.then = then
        self.retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "retrying" in record.getMessage():
            self.retries += 1
            self.then()


@pytest.fixture
def on_retry() -> Iterator[Callable[[Callable[[], None]], OnRetry]]:
    logger = logging.getLogger("store.repositories.catalogue")
    handlers: list[OnRetry] = []

    def attach(then: Callable[[], None]) -> OnRetry:
        handler = OnRetry(then)
        logger.addHandler(handler)
        handlers.append(handler)
        return handler

    yield attach
    for handler in handlers:
        logger.removeHandler(handler)


def test_the_sqlite_busy_timeout_in_the_url_is_honoured(sqlite_file: tuple[Path, str]) -> None:
    """`?timeout=` was overridden by the engine's own 30 s: a locked write waited 30 s."""
    path, url = sqlite_file
    with Holder(path, longest=10), get_engine(url).connect() as connection:
        started = time.monotonic()
        with pytest.raises(OperationalError, match="database is locked"):
            connection.execute(
                text("INSERT INTO products (product_id, attributes) VALUES ('W', '{}')")
            )
        assert time.monotonic() - started < 5


def test_a_write_that_finds_sqlite_locked_is_retried_and_written(
    sqlite_file: tuple[Path, str],
    tmp_path: Path,
    on_retry: Callable[[Callable[[], None]], OnRetry],
) -> None:
    # Before: 503 "the database is unavailable" on the first lock, with no second attempt.
    path, url = sqlite_file
    with TestClient(create_app(settings_on(url, tmp_path))) as client:
        with Holder(path, longest=5) as holder:
            retries = on_retry(holder.release.set)  # the other writer commits after attempt 1
            answer = client.post("/v1/products", json={"products": [{"product_id": "P1"}]})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"inserted": 1, "updated": 0}
        assert retries.retries == 1
        listed = client.get("/v1/products").json()["products"]
        assert [p["product_id"] for p in listed] == ["HELD", "P1"]


def test_sqlite_locked_for_longer_is_a_503_after_bounded_retries(
    sqlite_file: tuple[Path, str],
    tmp_path: Path,
    on_retry: Callable[[Callable[[], None]], OnRetry],
) -> None:
    path, url = sqlite_file
    retries = on_retry(lambda: None)
    with TestClient(create_app(settings_on(url, tmp_path))) as client:
        with Holder(path, longest=30):
            started = time.monotonic()
            answer = client.post("/v1/products", json={"products": [{"product_id": "P1"}]})
            elapsed = time.monotonic() - started
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.headers["retry-after"] == "5"
        # Every attempt but the last is followed by a retry: bounded, and quick about it.
        assert retries.retries == 2
        assert elapsed < 3 * BUSY_SECONDS + 2
        assert [p["product_id"] for p in client.get("/v1/products").json()["products"]] == ["HELD"]
