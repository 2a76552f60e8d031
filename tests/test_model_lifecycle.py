"""The served model's lifecycle: start-up, readiness, activation through the API, refusals.

Hot swaps under load, corrupted and missing artifacts with a model already serving, and the
replica that notices another one's activation are in test_forecast_api.py.
"""

from __future__ import annotations

import gc
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forecasting.synthetic import generate_catalogue
from service import model_store
from service.app import create_app
from store.ingest import import_frames
from store.session import get_sessionmaker
from store.settings import Settings
from tests.test_forecast_api import (  # the trained artifacts are shared, fitted once
    artifacts,
    catalogue,
    forecast_of,
    post,
    register,
)

__all__ = ["artifacts", "catalogue"]  # fixtures used below by name


def test_the_active_version_is_loaded_at_start_up(
    catalogue: None,
    database_url: str,
    artifacts: dict[str, tuple[Path, str]],
    make_settings: Callable[..., Settings],
) -> None:
    register(database_url, "v1", *artifacts["v1"], active=True)
    with TestClient(create_app(make_settings(model_poll_seconds=3600))) as client:
        assert client.get("/readyz").status_code == 200
        assert post(client).json()["model_version"] == "v1"


def test_activation_through_the_api_switches_this_replica_at_once(
    catalogue: None,
    database_url: str,
    artifacts: dict[str, tuple[Path, str]],
    make_settings: Callable[..., Settings],
) -> None:
    register(database_url, "v1", *artifacts["v1"], active=True)
    register(database_url, "v2", *artifacts["v2"], active=False)
    # The poller would take an hour: only the activation hook can explain the switch.
    with TestClient(create_app(make_settings(model_poll_seconds=3600))) as client:
        assert post(client).json()["model_version"] == "v1"
        assert client.post("/v1/models/v2/activate").status_code == 200
        assert post(client).json()["model_version"] == "v2"
        assert client.post("/v1/models/v1/activate").status_code == 200  # rollback
        assert post(client).json()["model_version"] == "v1"


@pytest.mark.parametrize("damage", ["missing", "tampered"])
def test_activating_a_version_no_replica_could_serve_is_a_409_and_changes_nothing(
    catalogue: None,
    database_url: str,
    artifacts: dict[str, tuple[Path, str]],
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    damage: str,
) -> None:
    # Before: 200 "active", the registry named v-broken while every replica kept serving v1.
    folder, checksum = artifacts["v2"]
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    if damage == "missing":
        shutil.rmtree(broken)
    else:
        victim = next(p for p in sorted(broken.iterdir()) if p.is_file() and p.name != "CHECKSUM")
        victim.write_bytes(victim.read_bytes() + b"tampered")
    register(database_url, "v1", *artifacts["v1"], active=True)
    register(database_url, "v-broken", broken, checksum, active=False)
    with TestClient(create_app(make_settings(model_poll_seconds=3600))) as client:
        response = client.post("/v1/models/v-broken/activate")
        assert response.status_code == 409, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        detail = response.json()["detail"]
        assert detail.startswith("model version 'v-broken' not activated: ")
        assert "the active version is unchanged" in detail
        assert client.get("/v1/models/active").json()["version"] == "v1"
        statuses = {m["version"]: m["status"] for m in client.get("/v1/models").json()["models"]}
        assert statuses == {"v1": "active", "v-broken": "candidate"}
        assert post(client).json()["model_version"] == "v1"


def test_a_refused_artifact_with_nothing_loaded_degrades_and_readyz_says_why(
    catalogue: None,
    database_url: str,
    artifacts: dict[str, tuple[Path, str]],
    make_settings: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    folder, checksum = artifacts["v1"]
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    victim = next(p for p in sorted(broken.iterdir()) if p.is_file() and p.name != "CHECKSUM")
    victim.write_bytes(victim.read_bytes() + b"tampered")
    register(database_url, "v-broken", broken, checksum, active=True)
    with TestClient(create_app(make_settings(model_poll_seconds=3600))) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "v-broken refused" in ready.json()["detail"]
        response = post(client)
        assert response.json()["model_version"] is None
        assert forecast_of(response)["method"] in ("attribute_curve", "global_curve")


def test_without_any_version_readyz_says_the_registry_is_empty(client: TestClient) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "no active model version" in ready.json()["detail"]


def test_the_app_starts_even_when_the_registry_cannot_be_read(tmp_path: Path) -> None:
    unmigrated = Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}", frequency="W")
    with TestClient(create_app(unmigrated)) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "registry could not be read" in ready.json()["detail"]


def test_the_degraded_path_picks_up_a_first_import_without_a_restart(
    client: TestClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_store, "EMPTY_BASELINE_TTL_SECONDS", 0.0)
    assert all(p["forecast"] == 0 for p in forecast_of(post(client))["points"])
    with get_sessionmaker(database_url)() as session:
        import_frames(session, *generate_catalogue(80, seed=9))
        session.commit()
    assert any(p["forecast"] > 0 for p in forecast_of(post(client))["points"])


def test_a_refused_artifact_repaired_on_disk_is_served_without_a_restart(
    catalogue: None,
    database_url: str,
    artifacts: dict[str, tuple[Path, str]],
    make_settings: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    folder, checksum = artifacts["v1"]
    broken = tmp_path / "repaired"
    shutil.copytree(folder, broken)
    victim = next(p for p in sorted(broken.iterdir()) if p.is_file() and p.name != "CHECKSUM")
    original = victim.read_bytes()
    victim.write_bytes(original + b"tampered")
    register(database_url, "v-repaired", broken, checksum, active=True)
    with TestClient(create_app(make_settings(model_poll_seconds=0.05))) as client:
        assert client.get("/readyz").status_code == 503
        victim.write_bytes(original)  # the operator restores the file
        for _ in range(400):  # the poller runs every 0.05 s; stop as soon as it has reloaded
            if client.get("/readyz").status_code == 200:
                break
            time.sleep(0.05)
        assert client.get("/readyz").status_code == 200
        assert post(client).json()["model_version"] == "v-repaired"


def test_a_model_swapped_in_is_kept_out_of_the_collectors_full_passes(
    catalogue: None,
    database_url: str,
    artifacts: dict[str, tuple[Path, str]],
    make_settings: Callable[..., Settings],
) -> None:
    register(database_url, "v1", *artifacts["v1"], active=True)
    register(database_url, "v2", *artifacts["v2"], active=False)
    with TestClient(create_app(make_settings(model_poll_seconds=3600))) as client:
        gc.unfreeze()  # as if start-up had frozen nothing: only the swap can freeze v2
        assert client.post("/v1/models/v2/activate").status_code == 200
        forecaster = client.app.state.model_store.model.forecaster  # type: ignore[attr-defined]
        assert gc.is_tracked(forecaster)
        # gc.get_objects() lists what the collector's passes scan; frozen objects are not there.
        assert not any(o is forecaster for o in gc.get_objects())
