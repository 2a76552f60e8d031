"""The training-run and model lifecycle as an integrator sees it: odd path ids answer 404 (never
a database error), and a run's progress only ever moves forward."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from forecasting.synthetic import generate_catalogue
from store.ingest import import_frames
from store.session import get_sessionmaker
from store.settings import Settings
from training.job import run_training

ODD_IDS = [
    "%00",  # NUL: PostgreSQL text cannot hold it (a psycopg DataError, a 500, before)
    "a%00b",
    "%01",
    "%ED%B0%80",  # a lone surrogate, UTF-8 encoded
    "%F0%9F%98%80",
    "x" * 5000,
]


@pytest.mark.parametrize(
    "odd", ODD_IDS, ids=["nul", "inner-nul", "soh", "surrogate", "emoji", "long"]
)
def test_an_odd_run_id_or_version_is_a_404_problem_not_a_500(client: TestClient, odd: str) -> None:
    for method, path, noun in (
        ("GET", f"/v1/training-runs/{odd}", "no training run"),
        ("POST", f"/v1/models/{odd}/activate", "no model version"),
    ):
        response = client.request(method, path)
        assert response.status_code == 404, (path[:40], response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        detail = response.json()["detail"]
        assert detail.startswith(noun)
        assert len(detail) < 200  # a 5,000-character id is not echoed whole


def test_an_odd_id_escapes_its_control_characters_in_the_detail(client: TestClient) -> None:
    detail = client.get("/v1/training-runs/a%00b").json()["detail"]
    assert detail == "no training run 'a\\x00b'"


def test_a_runs_progress_never_moves_backwards(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    with get_sessionmaker(database_url)() as session:
        import_frames(session, *generate_catalogue(60, seed=5))
        session.commit()
    seen: list[tuple[str, float]] = []
    settings = make_settings(gbm_rounds=10, cv_folds=0, statistical_backtest_series=0)
    run_training(settings, progress=lambda stage, done: seen.append((stage, done)))
    fractions = [done for _, done in seen]
    assert fractions == sorted(fractions), seen
    assert fractions[-1] == 1.0
