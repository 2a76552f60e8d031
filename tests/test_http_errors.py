"""How the HTTP layer fails: 500s close the connection, oversized streamed bodies get 413,
405 names every allowed method, and the OpenAPI document declares errors as they are sent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.deps import get_session
from service.app import create_app
from store.settings import Settings
from tests.test_ingestion_api import assert_catalogue_empty, assert_problem

MiB = 1024 * 1024


def test_a_500_answers_problem_details_and_closes_the_connection(settings: Settings) -> None:
    app = create_app(settings)

    def broken_session() -> Iterator[Any]:
        raise RuntimeError("the session factory broke")
        yield  # a generator dependency, like the real one

    app.dependency_overrides[get_session] = broken_session
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/products")
    assert_problem(response, 500)
    assert response.headers["connection"] == "close"
    assert "the session factory broke" not in response.text  # no internals leave the process


def test_ordinary_answers_keep_the_connection_open(client: TestClient) -> None:
    assert "connection" not in client.get("/v1/products").headers


def test_a_20_mib_chunked_body_answers_413_problem_details(
    make_settings: Callable[..., Settings],
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"products": ['
        item = b'{"product_id": "P", "attributes": {"note": "' + b"x" * 1000 + b'"}},'
        for _ in range(20 * MiB // len(item)):
            yield item
        yield b'{"product_id": "Q"}]}'

    with TestClient(create_app(make_settings())) as client:
        response = client.post(
            "/v1/products", content=chunks(), headers={"content-type": "application/json"}
        )
        assert "content-length" not in response.request.headers  # sent chunked
        assert_problem(response, 413)
        assert "16777216" in response.json()["detail"]
        assert response.headers["connection"] == "close"
        assert_catalogue_empty(client)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/products/SKU-1", "DELETE, GET, HEAD"),
        ("PATCH", "/v1/products", "GET, HEAD, POST"),
        ("DELETE", "/v1/forecasts", "POST"),
    ],
)
def test_405_names_every_method_the_path_allows(
    client: TestClient, method: str, path: str, allowed: str
) -> None:
    response = client.request(method, path)
    assert_problem(response, 405)
    assert response.headers["allow"] == allowed


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    with TestClient(create_app(Settings(database_url="sqlite://"))) as client:
        document: dict[str, Any] = client.get("/openapi.json").json()
    return document


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_every_error_response_is_problem_json_with_an_example_of_its_status(
    openapi: dict[str, Any],
) -> None:
    checked = 0
    for name, operation in operations(openapi):
        for code, response in operation["responses"].items():
            if int(code) < 400:
                continue
            assert list(response["content"]) == ["application/problem+json"], (name, code)
            media = response["content"]["application/problem+json"]
            assert media["schema"] == {"$ref": "#/components/schemas/Problem"}, (name, code)
            assert media["example"]["status"] == int(code), (name, code)
            checked += 1
    assert checked > 30
    assert "HTTPValidationError" not in openapi["components"]["schemas"]


def test_every_operation_with_a_body_documents_413(openapi: dict[str, Any]) -> None:
    with_body = [(n, o) for n, o in operations(openapi) if "requestBody" in o]
    assert with_body
    for name, operation in with_body:
        assert "413" in operation["responses"], name


def test_operation_ids_are_clean_and_unique(openapi: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, operation in operations(openapi)]
    assert len(ids) == len(set(ids))
    assert all(i.isidentifier() and i.islower() for i in ids), ids


def test_every_undocumented_method_on_every_path_is_405_with_the_documented_allow(
    client: TestClient,
) -> None:
    document = client.get("/openapi.json").json()
    checked = 0
    for template, item in document["paths"].items():
        path = template.replace("{product_id}", "SKU-1").replace("{version}", "v1")
        path = path.replace("{run_id}", "r1")
        documented = {method.upper() for method in item}
        allowed = documented | ({"HEAD"} if "GET" in documented else set())
        for method in {"GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"} - documented:
            response = client.request(method, path)
            assert response.status_code == 405, (method, path, response.text)
            assert response.headers["allow"] == ", ".join(sorted(allowed)), (method, path)
            checked += 1
    assert checked > 40
