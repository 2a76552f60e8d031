"""Schemathesis over the whole OpenAPI document: no 5xx, and every answer matches its schema.

Two phases, bounded for CI (in-process ASGI calls, few examples): each operation alone on
SQLite (the HTTP layer's contract), then the stateful phase on SQLite and PostgreSQL, which
follows the document's links (create a product, then read, forecast, sell and delete it) so the
values reaching the database are ones an earlier call stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
from tests.conftest import BACKENDS, new_database

MAX_EXAMPLES = 25
STATEFUL_EXAMPLES = 25  # sequences per backend
STATEFUL_STEPS = 6  # calls per sequence at most
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


CATALOGUE_SEED = 2


@pytest.fixture(scope="module")
def fuzz_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A small model of the fuzzed catalogue, trained once for every app below."""
    folder: Path = tmp_path_factory.mktemp("fuzz-model")
    catalogue = generate_catalogue(60, seed=CATALOGUE_SEED)
    model = LaunchForecaster(default_config(gbm_rounds=10, neighbours_k=5)).fit(*catalogue)
    return folder / "model", model.save(folder / "model")


@contextmanager
def seeded_app(url: str, folder: Path, model: tuple[Path, str]) -> Iterator[TestClient]:
    """The real app on a migrated database holding the small catalogue and the active model."""
    migrations.upgrade(url)
    with get_sessionmaker(url)() as session:
        import_frames(session, *generate_catalogue(60, seed=CATALOGUE_SEED))
        registry.register(
            session,
            version="fuzz-1",
            artifact_path=str(model[0]),
            checksum=model[1],
            frequency="W",
        )
        registry.activate(session, "fuzz-1")
        session.commit()
    app_settings = Settings(database_url=url, artifact_dir=folder / "artifacts", frequency="W")
    with TestClient(create_app(app_settings)) as client:  # runs the lifespan hooks
        yield client


@pytest.fixture(scope="module")
def fuzzed_app(
    tmp_path_factory: pytest.TempPathFactory, fuzz_model: tuple[Path, str]
) -> Iterator[TestClient]:
    """The real app on a small SQLite catalogue with a small active model."""
    folder: Path = tmp_path_factory.mktemp("fuzz")
    with seeded_app(f"sqlite:///{folder / 'fuzz.db'}", folder, fuzz_model) as client:
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


@pytest.fixture(scope="module", params=BACKENDS)
def stateful_app(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    fuzz_model: tuple[Path, str],
) -> Iterator[TestClient]:
    """The seeded app on a database of its own per backend (the stateful phase writes)."""
    folder: Path = tmp_path_factory.mktemp("stateful")
    url, drop = new_database(request.param, folder)
    try:
        with seeded_app(url, folder, fuzz_model) as client:
            yield client
    finally:
        drop()


def test_the_document_links_created_products_to_their_operations(fuzzed_app: TestClient) -> None:
    document = fuzzed_app.get("/openapi.json").json()
    links = document["paths"]["/v1/products"]["post"]["responses"]["200"]["links"]
    assert {link["operationId"] for link in links.values()} == {
        "get_product",
        "product_sales",
        "product_forecast",
        "delete_product",
    }


def test_stateful_sequences_answer_no_5xx_and_keep_their_schemas(
    stateful_app: TestClient,
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", stateful_app.app)
    machine = schema.as_state_machine()

    class Checked(machine):  # type: ignore[misc, valid-type]
        def validate_response(self, response: Any, case: Any, *_: Any, **__: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    Checked.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=STATEFUL_STEPS,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
