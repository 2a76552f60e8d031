"""The model registry over HTTP: roles, the promotion gate's three outcomes, rollback."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from forecasting.synthetic import generate_catalogue
from service.app import create_app
from service.auth import hash_key
from store import registry
from store.ingest import import_frames
from store.models import ModelVersion
from store.session import get_sessionmaker
from store.settings import Role, Settings
from tests.conftest import KEYS
from training.job import run_training


@pytest.fixture
def keyed_settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    with get_sessionmaker(database_url)() as session:
        import_frames(session, *generate_catalogue(300, seed=2))
        session.commit()
    keys = {hash_key(key): Role(role) for role, key in KEYS.items()}
    return make_settings(api_keys=keys, gbm_rounds=30)


def as_role(role: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[role]}


def set_served_wape(settings: Settings, version: str, value: float) -> None:
    with get_sessionmaker(settings.database_url)() as session:
        row = registry.get_version(session, version)
        assert row is not None
        metrics = {**row.metrics, "methods": {**row.metrics["methods"], "served": {"wape": value}}}
        session.execute(
            update(ModelVersion).where(ModelVersion.version == version).values(metrics=metrics)
        )
        session.commit()


def test_the_gate_keeps_a_slightly_worse_version_as_candidate_and_rejects_a_clearly_worse_one() -> (
    None
):
    old = {"methods": {"served": {"wape": 50.0}}}
    within = registry.decide_promotion({"methods": {"served": {"wape": 50.9}}}, old, 0.02)
    worse = registry.decide_promotion({"methods": {"served": {"wape": 53.0}}}, old, 0.02)
    far_worse = registry.decide_promotion({"methods": {"served": {"wape": 60.0}}}, old, 0.02)
    no_wape = registry.decide_promotion({"methods": {}}, old, 0.02)
    assert (within.promote, within.status) == (True, "active")
    assert (worse.promote, worse.status) == (False, "candidate")
    assert "tolerance" in worse.reason
    assert (far_worse.promote, far_worse.status) == (False, "rejected")
    assert (no_wape.promote, no_wape.status) == (False, "rejected")


def test_a_retrained_version_slightly_worse_than_the_active_stays_candidate_with_its_reason(
    keyed_settings: Settings,
) -> None:
    first = run_training(keyed_settings)
    wape = first.metrics["methods"]["served"]["wape"]
    # The same data and seed score the same WAPE again: make the active one look 6% better.
    set_served_wape(keyed_settings, first.version, wape / 1.06)
    second = run_training(keyed_settings)
    assert second.status == "candidate"
    with TestClient(create_app(keyed_settings)) as client:
        models = {
            m["version"]: m
            for m in client.get("/v1/models", headers=as_role("read")).json()["models"]
        }
        assert models[second.version]["status"] == "candidate"
        assert "tolerance" in models[second.version]["reason"]
        active = client.get("/v1/models/active", headers=as_role("read")).json()
        assert active["version"] == first.version


def test_activation_needs_the_admin_role_and_an_admin_can_promote_a_candidate(
    keyed_settings: Settings,
) -> None:
    first = run_training(keyed_settings)
    set_served_wape(
        keyed_settings, first.version, first.metrics["methods"]["served"]["wape"] / 1.06
    )
    second = run_training(keyed_settings)
    with TestClient(create_app(keyed_settings)) as client:
        path = f"/v1/models/{second.version}/activate"
        assert client.post(path).status_code == 401
        assert client.post(path, headers=as_role("write")).status_code == 403
        response = client.post(path, headers=as_role("admin"))
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "active"
        statuses = {
            m["version"]: m["status"]
            for m in client.get("/v1/models", headers=as_role("read")).json()["models"]
        }
        assert statuses == {first.version: "retired", second.version: "active"}
        missing = client.post(
            "/v1/models/20990101T000000Z-000000/activate", headers=as_role("admin")
        )
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")


def test_starting_a_training_run_needs_the_admin_role(keyed_settings: Settings) -> None:
    with TestClient(create_app(keyed_settings)) as client:
        assert client.post("/v1/training-runs", headers=as_role("write")).status_code == 403
        assert client.get("/v1/training-runs/nope", headers=as_role("read")).status_code == 404


def test_at_most_one_version_is_active_after_repeated_activations(keyed_settings: Settings) -> None:
    first = run_training(keyed_settings)
    second = run_training(keyed_settings)
    with get_sessionmaker(keyed_settings.database_url)() as session:
        for version in (first.version, second.version, first.version, first.version):
            registry.activate(session, version)
            session.commit()
        statuses = [row.status for row in registry.list_versions(session)]
    assert statuses.count("active") == 1
