"""Operations endpoints: open without a key, honest about readiness, Prometheus metrics."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from service.app import create_app
from store.settings import Settings
from tests.conftest import KEYS


def test_health_endpoints_need_no_key(auth_client: TestClient) -> None:
    assert auth_client.get("/healthz").status_code == 200
    assert auth_client.get("/readyz").status_code in (200, 503)


def test_metrics_need_a_read_key_when_keys_are_configured(auth_client: TestClient) -> None:
    assert auth_client.get("/metrics").status_code == 401
    assert auth_client.get("/metrics", headers={"X-API-Key": "wrong"}).status_code == 401
    answer = auth_client.get("/metrics", headers={"X-API-Key": KEYS["read"]})
    assert answer.status_code == 200
    assert "launchcast_http_requests_total" in answer.text


def test_metrics_are_open_when_no_key_is_configured(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 200


def test_metrics_count_requests_per_route_template(client: TestClient) -> None:
    client.get("/healthz")
    body = client.get("/metrics").text
    assert 'launchcast_http_requests_total{method="GET",route="/healthz",status="200"}' in body


def test_metrics_show_a_replica_without_a_model_and_what_answered_instead(
    client: TestClient,
) -> None:
    product = {"launch_date": "2026-07-06", "attributes": {"color": "red"}}
    answer = client.post("/v1/forecasts", json={"horizon": 3, "products": [product]}).json()
    method = answer["forecasts"][0]["method"]
    body = client.get("/metrics").text
    assert 'launchcast_model_loaded{version=""} 0.0' in body
    assert f'launchcast_forecasts_total{{method="{method}"}} 1.0' in body


def test_unknown_path_answers_problem_details(client: TestClient) -> None:
    response = client.get("/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 404


def test_an_unreachable_database_answers_503_not_500(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "launchcast.db"
    settings = Settings(database_url=f"sqlite:///{missing}", artifact_dir=tmp_path)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.get("/v1/products")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/problem+json")
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200
