"""Schemathesis over the whole OpenAPI document: no 5xx, and every answer matches its schema.

Bounded for CI (a few examples per operation, in-process ASGI calls) and on SQLite only: the
point is the contract of the HTTP layer, which the database backend does not change.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from forecasting.config import default_config
from forecasting.model import LaunchForecaster
from forecasting.synthetic import generate_catalogue
from service.app import create_app
from store import migrations, registry
from store.ingest import import_frames
from store.session import get_sessionmaker
from store.settings import Settings

MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The real app on a small SQLite catalogue with a small active model."""
    folder: Path = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{folder / 'fuzz.db'}"
    migrations.upgrade(url)
    catalogue = generate_catalogue(60, seed=2)
    model = LaunchForecaster(default_config(gbm_rounds=10, neighbours_k=5)).fit(*catalogue)
    checksum = model.save(folder / "model")
    with get_sessionmaker(url)() as session:
        import_frames(session, *catalogue)
        registry.register(
            session,
            version="fuzz-1",
            artifact_path=str(folder / "model"),
            checksum=checksum,
            frequency="W",
        )
        registry.activate(session, "fuzz-1")
        session.commit()
    app_settings = Settings(database_url=url, artifact_dir=folder / "artifacts", frequency="W")
    with TestClient(create_app(app_settings)) as client:  # runs the lifespan hooks
        yield client


def _operations() -> list[tuple[str, str]]:
    # Building the app reads no database, so the operations are known at collection time.
    document = create_app(Settings(database_url="sqlite://")).openapi()
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]


@pytest.fixture(scope="module")
def api_schema(fuzzed_app: TestClient) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app.app)


@pytest.mark.parametrize(("method", "path"), _operations())
def test_no_operation_answers_5xx_or_breaks_its_schema(
    api_schema: Any, method: str, path: str
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=CHECKS)

    check()
