"""Real databases for every test: SQLite always, PostgreSQL with LAUNCHCAST_TEST_POSTGRES_URL.

Each backend gets a fresh database built by the Alembic migrations once per session; every test
then starts from empty tables. Nothing is mocked.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from service.app import create_app
from service.auth import hash_key
from store import migrations
from store.models import Base
from store.session import get_engine
from store.settings import Role, Settings, get_settings

POSTGRES_URL = os.environ.get("LAUNCHCAST_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]

# Keys the `auth_client` fixture configures, one per role.
KEYS = {
    "forecast": "test-forecast-key",
    "read": "test-read-key",
    "write": "test-write-key",
    "admin": "test-admin-key",
}


def _fresh_postgres_database() -> tuple[str, Callable[[], None]]:
    """Create a uniquely named database next to the configured one; return its URL and a dropper."""
    assert POSTGRES_URL
    admin_url = make_url(POSTGRES_URL)
    name = f"launchcast_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        get_engine(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    url = admin_url.set(database=name).render_as_string(hide_password=False)
    return url, drop


def new_database(backend: str, tmp_dir: Path) -> tuple[str, Callable[[], None]]:
    """An empty database of `backend` (not migrated) and a function that removes it."""
    if backend == "sqlite":
        path = tmp_dir / f"launchcast-{uuid.uuid4().hex[:8]}.db"
        return f"sqlite:///{path}", lambda: None
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need LAUNCHCAST_TEST_POSTGRES_URL")
    return _fresh_postgres_database()


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One migrated database per backend for the whole session."""
    url, drop = new_database(request.param, tmp_path_factory.mktemp("db"))
    migrations.upgrade(url)
    yield url
    drop()


@pytest.fixture
def database_url(migrated_database: str) -> str:
    """The migrated database, emptied before the test."""
    engine = get_engine(migrated_database)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    return migrated_database


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings on the test database with an artifact dir in tmp; overrides as keywords."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "artifact_dir": tmp_path / "artifacts",
            "frequency": "W",
            # Small models: the tests check behaviour, benchmarks/ measures accuracy.
            # 30 rounds at a high rate: enough for the launch model to earn its place.
            "gbm_rounds": 30,
            "gbm_learning_rate": 0.2,
            "statistical_backtest_series": 25,
            "cv_folds": 2,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The real app on the test database, without API keys (loopback use)."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def auth_client(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    """The real app with one API key per role (see KEYS); sends no key by default."""
    keys = {hash_key(key): Role(role) for role, key in KEYS.items()}
    with TestClient(create_app(make_settings(api_keys=keys))) as test_client:
        yield test_client


def visuelle_dir() -> Path:
    """Where the VISUELLE data sits: $LAUNCHCAST_VISUELLE_DIR, else ../shared/data/visuelle
    beside the repository, else this machine's /work/shared/data/visuelle (CI clones the
    repository elsewhere)."""
    candidates = [
        os.environ.get("LAUNCHCAST_VISUELLE_DIR", ""),
        str(Path(__file__).resolve().parents[2] / "shared" / "data" / "visuelle"),
        "/work/shared/data/visuelle",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "products.csv").is_file():
            return Path(candidate)
    return Path(candidates[1])


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """The command line against the test's database (`cli.invoke(app, [...])`)."""
    monkeypatch.setenv("LAUNCHCAST_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()
