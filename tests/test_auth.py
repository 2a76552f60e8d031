"""API keys: 401 without or with an unknown key, 403 for a role lacking the right."""

from __future__ import annotations

import pytest
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


def test_a_key_with_spaces_around_it_is_that_key(auth_client: TestClient) -> None:
    # HTTP does not count the whitespace around a header's value (RFC 9110, 5.5).
    spaced = {"X-API-Key": f" {KEYS['read']}\t "}
    assert auth_client.get("/v1/products", headers=spaced).status_code == 200
    forecast = {"X-API-Key": f"{KEYS['forecast']}  "}
    response = auth_client.post("/v1/forecasts", json={"products": []}, headers=forecast)
    assert response.status_code not in (401, 403), response.text


@pytest.mark.parametrize("path", ["/v1/products", "/v1/attributes"])
def test_two_key_headers_are_401_whichever_comes_first(auth_client: TestClient, path: str) -> None:
    for first, second in [("forecast", "admin"), ("admin", "forecast")]:
        headers = [("X-API-Key", KEYS[first]), ("X-API-Key", KEYS[second])]
        response = auth_client.get(path, headers=headers)
        assert response.status_code == 401, (first, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "one" in response.json()["detail"]


def test_two_key_headers_are_401_on_the_forecasts_short_path(auth_client: TestClient) -> None:
    headers = [
        ("X-API-Key", KEYS["admin"]),
        ("X-API-Key", KEYS["forecast"]),
        ("Content-Type", "application/json"),
    ]
    body = b'{"products": [{"launch_date": "2025-01-01", "attributes": {}}], "horizon": 2}'
    response = auth_client.post("/v1/forecasts", content=body, headers=headers)
    assert response.status_code == 401, response.text


def test_a_forecast_key_asking_for_analogues_in_an_invalid_body_is_403(
    auth_client: TestClient,
) -> None:
    """Not a 422 that would say which pinned or excluded ids the model knows (API.md, Privacy)."""
    product = {"product_id": "N1", "analogues": [{"product_id": "SKU-404", "weight": 1}]}
    for body in [
        {"products": [product], "horizon": "x"},
        {"products": [{"product_id": "N1", "exclude_analogues": ["SKU-404"]}, 7]},
        {"products": [{"product_id": 5}], "explain": "true"},
    ]:
        response = auth_client.post("/v1/forecasts", json=body, headers=key("forecast"))
        assert response.status_code == 403, response.text
        assert "SKU-404" not in response.text
    # A read key may ask: its invalid body is a 422 naming the fields.
    body = {"products": [product], "horizon": "x"}
    assert auth_client.post("/v1/forecasts", json=body, headers=key("read")).status_code == 422


def test_keys_create_prints_the_key_and_its_digest_whole_on_a_narrow_terminal() -> None:
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    from service.auth import hash_key

    launchcast = str(Path(sys.executable).parent / "launchcast")
    env = {**os.environ, "COLUMNS": "30"}
    result = subprocess.run(
        [launchcast, "keys", "create", "--role", "read"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    keys = re.findall(r"^lc_\S+$", result.stdout, re.MULTILINE)
    assert len(keys) == 1, result.stdout
    assert hash_key(keys[0]) in result.stdout
