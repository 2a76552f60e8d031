"""API keys: 401 without or with an unknown key, 403 for a role lacking the right."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import KEYS

BATCH = {"products": [{"product_id": "SKU-1"}]}


def key(role: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[role]}


def test_a_request_without_a_key_is_401(auth_client: TestClient) -> None:
    response = auth_client.get("/v1/products")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


def test_an_unknown_key_is_401(auth_client: TestClient) -> None:
    assert auth_client.get("/v1/products", headers={"X-API-Key": "guess"}).status_code == 401


def test_a_read_key_can_read_but_not_write(auth_client: TestClient) -> None:
    assert auth_client.get("/v1/products", headers=key("read")).status_code == 200
    response = auth_client.post("/v1/products", json=BATCH, headers=key("read"))
    assert response.status_code == 403
    assert "write" in response.json()["detail"]


def test_a_write_key_can_write_and_an_admin_key_too(auth_client: TestClient) -> None:
    assert auth_client.post("/v1/products", json=BATCH, headers=key("write")).status_code == 200
    assert auth_client.post("/v1/products", json=BATCH, headers=key("admin")).status_code == 200
