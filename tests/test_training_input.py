"""Training survives bad rows and undefined metrics: rows it cannot use are quarantined and
counted (never failing the run), and NaN or infinite metrics are stored as null (PostgreSQL's
JSONB refuses NaN)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text

from forecasting.synthetic import generate_catalogue
from store import registry, runs
from store.ingest import import_frames
from store.jsonsafe import json_safe
from store.models import ModelVersion, TrainingRun
from store.repositories.catalogue import upsert_products, upsert_sales
from store.session import get_sessionmaker
from store.settings import Settings
from training.job import run_training

TINY = {"gbm_rounds": 10, "cv_folds": 0}


@pytest.fixture
def tiny_settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    with get_sessionmaker(database_url)() as session:
        import_frames(session, *generate_catalogue(80, seed=5))
        session.commit()
    return make_settings(**TINY, statistical_backtest_series=0)


def test_rows_with_unusable_dates_are_quarantined_and_counted_not_fatal(
    tiny_settings: Settings,
) -> None:
    sessions = get_sessionmaker(tiny_settings.database_url)
    with sessions() as session:
        # Straight into the store, as rows written before the API refused them would be.
        upsert_products(
            session,
            [{"product_id": "ANCIENT", "launch_date": dt.date(347, 12, 6), "attributes": {}}],
        )
        some_product = session.scalar(text("SELECT product_id FROM products LIMIT 1"))
        upsert_sales(
            session,
            [
                {"product_id": "ANCIENT", "date": dt.date(2019, 1, 7), "quantity": 5.0},
                {"product_id": "ANCIENT", "date": dt.date(2019, 1, 14), "quantity": 3.0},
                {"product_id": some_product, "date": dt.date(2300, 1, 1), "quantity": 1.0},
            ],
        )
        expected_sales = 3
        if session.get_bind().dialect.name == "sqlite":  # dates are text there: any text
            session.execute(
                text("INSERT INTO sales (product_id, date, quantity) VALUES (:p, 'soon', 1)"),
                {"p": some_product},
            )
            expected_sales += 1
        session.commit()
    outcome = run_training(tiny_settings)
    quarantined = {"products": 1, "sales": expected_sales}
    assert outcome.metrics["quarantined"] == quarantined
    assert outcome.data_summary["quarantined"] == quarantined
    with sessions() as session:
        run = session.get(TrainingRun, outcome.run_id)
        assert run is not None and run.status == "succeeded"
        assert run.metrics is not None and run.metrics["quarantined"] == quarantined


def test_json_safe_turns_nan_and_infinity_into_none_and_numpy_into_python() -> None:
    value = {"wape": float("nan"), "bias": [np.float32(1.5), -math.inf], "n": np.int64(3)}
    assert json_safe(value) == {"wape": None, "bias": [1.5, None], "n": 3}
    assert type(json_safe(np.int64(3))) is int


NAN_METRICS: dict[str, Any] = {
    "methods": {"served": {"wape": float("nan")}, "gbm": {"wape": 50.0, "mae": float("inf")}},
    "statistical": {"wape": np.float64("nan"), "n_products": np.int64(0)},
}


def test_undefined_metrics_are_stored_as_null_on_the_model_and_the_run(
    settings: Settings,
) -> None:
    sessions = get_sessionmaker(settings.database_url)
    with sessions() as session:
        run_id = runs.queue_run(session, "test", 30, claim=True).run_id
        registry.publish(
            session,
            version="v-nan",
            artifact_path="/nowhere",
            checksum="sha256:" + "0" * 64,
            frequency="W",
            metrics=NAN_METRICS,
            data_summary={"share": float("nan")},
            tolerance=0.02,
        )
        runs.succeed(session, run_id, "v-nan", NAN_METRICS)
        session.commit()
    with sessions() as session:
        version = session.get(ModelVersion, "v-nan")
        run = session.get(TrainingRun, run_id)
        assert version is not None and run is not None
        assert version.metrics["methods"]["served"]["wape"] is None
        assert version.metrics["methods"]["gbm"] == {"wape": 50.0, "mae": None}
        assert version.metrics["statistical"] == {"wape": None, "n_products": 0}
        assert version.data_summary == {"share": None}
        assert version.status == "rejected"  # no WAPE for the served method: nothing to compare
        assert run.metrics is not None and run.metrics["methods"]["served"]["wape"] is None
