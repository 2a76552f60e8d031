"""The OpenAPI document as docs/API.md asks: every operation with a summary and an example of
its success answer, and each example one that the answer's own schema accepts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from service.api.routes import attributes, forecasts, health, models, products, sales, training_runs
from service.app import create_app
from store.settings import Settings

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
ROUTERS = [
    m.router for m in (attributes, forecasts, health, models, products, sales, training_runs)
]


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(Settings(database_url="sqlite://"))


@pytest.fixture(scope="module")
def document(app: FastAPI) -> dict[str, Any]:
    with TestClient(app) as client:
        served: dict[str, Any] = client.get("/openapi.json").json()
    return served


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method, path, operation


def success_bodies(
    document: dict[str, Any],
) -> Iterator[tuple[str, str, str, str, dict[str, Any]]]:
    """(method, path, status, media type, media type object) of each documented 2xx body."""
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if status.startswith("2"):
                for media_type, media in response.get("content", {}).items():
                    yield method, path, status, media_type, media


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def examples_of(document: dict[str, Any], media: dict[str, Any]) -> list[Any]:
    """The media type's `example` and `examples`, then its schema's own `examples`."""
    found = [media["example"]] if "example" in media else []
    found += [resolve(document, e)["value"] for e in media.get("examples", {}).values()]
    found += resolve(document, media.get("schema", {})).get("examples", [])
    return found


def test_every_operation_has_a_summary(document: dict[str, Any]) -> None:
    missing = [f"{m.upper()} {p}" for m, p, op in operations(document) if not op.get("summary")]
    assert missing == []


def test_every_success_answer_with_a_body_has_an_example(document: dict[str, Any]) -> None:
    bodies = list(success_bodies(document))
    missing = [
        f"{method.upper()} {path} {status} {media_type}"
        for method, path, status, media_type, media in bodies
        if not examples_of(document, media)
    ]
    assert missing == []
    assert len(bodies) >= 16  # every operation but the 204 DELETE


def test_every_json_example_is_valid_for_the_answer_schema(document: dict[str, Any]) -> None:
    """Each example validates against the route's response model, and validating keeps every
    key it holds (a key the model does not know would be dropped, not refused)."""
    routes = {
        (method.lower(), route.path): route
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    checked = 0
    for method, path, status, media_type, media in success_bodies(document):
        where = f"{method.upper()} {path} {status} {media_type}"
        if "json" not in media_type:
            assert all(isinstance(e, str) for e in examples_of(document, media)), where
            continue
        assert (method, path) in routes, f"{where}: add its router to ROUTERS"
        model = routes[method, path].response_model
        assert model is not None, f"{where}: no response model to check its examples against"
        adapter: TypeAdapter[Any] = TypeAdapter(model)
        for example in examples_of(document, media):
            value = adapter.validate_json(json.dumps(example))
            assert json.loads(adapter.dump_json(value, exclude_unset=True)) == example, where
            checked += 1
    assert checked >= 16


@pytest.fixture(scope="module")
def demo_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The service as `make demo` leaves it: its catalogue imported and a model active."""
    from forecasting.config import default_config
    from forecasting.model import LaunchForecaster
    from forecasting.synthetic import generate_catalogue
    from store import registry
    from store.ingest import import_frames
    from store.migrations import upgrade
    from store.session import get_sessionmaker

    base = tmp_path_factory.mktemp("demo-docs")
    database_url = f"sqlite:///{base / 'demo.db'}"
    upgrade(database_url)
    catalogue = generate_catalogue(2000, seed=7)  # the demo's own (cli/demo.py)
    with get_sessionmaker(database_url)() as session:
        import_frames(session, *catalogue)
        session.commit()
    model = LaunchForecaster(default_config(gbm_rounds=30, cv_folds=0)).fit(*catalogue)
    checksum = model.save(base / "model")
    with get_sessionmaker(database_url)() as session:
        registry.register(
            session,
            version="demo",
            artifact_path=str(base / "model"),
            checksum=checksum,
            frequency="W",
        )
        registry.activate(session, "demo")
        session.commit()
    settings = Settings(database_url=database_url, artifact_dir=base / "artifacts")
    with TestClient(create_app(settings)) as client:
        yield client


def test_every_forecast_example_in_the_docs_is_answered_by_the_demo(
    demo_client: TestClient,
) -> None:
    """What /docs' "Try it out" sends on `make demo`: each named example is answered (200), the
    demo's own ones without a warning, with the method they are there to show."""
    media = demo_client.get("/openapi.json").json()["paths"]["/v1/forecasts"]["post"]
    examples = media["requestBody"]["content"]["application/json"]["examples"]
    assert len(examples) >= 4
    methods = {}
    for name, example in examples.items():
        response = demo_client.post("/v1/forecasts", json=example["value"])
        assert response.status_code == 200, (name, response.text)
        (forecast,) = response.json()["forecasts"]
        methods[name] = forecast["method"]
        if name != "contract":  # the contract's attributes are not the demo's: it warns
            assert forecast["warnings"] == [], (name, forecast["warnings"])
    assert methods["chosen_analogues"] == "neighbours"
    assert methods["catalogue_product"] != "global_curve"
