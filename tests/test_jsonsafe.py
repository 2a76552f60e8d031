"""Metrics are JSON-safe wherever they are stored: NaN and infinities read back as null."""

from __future__ import annotations

import math
import uuid

import numpy as np

from store import registry
from store.jsonsafe import json_safe
from store.models import TrainingRun
from store.session import get_sessionmaker

UNDEFINED = {
    "wape": float("nan"),
    "methods": {"served": {"wape": np.float64("nan"), "bias": np.float32(0.5)}},
    "folds": [float("inf"), -float("inf"), 1.5, np.int64(3)],
    "per_step": np.array([1.0, np.nan]),
}
SAFE = {
    "wape": None,
    "methods": {"served": {"wape": None, "bias": 0.5}},
    "folds": [None, None, 1.5, 3],
    "per_step": [1.0, None],
}


def test_json_safe_replaces_non_finite_numbers_and_numpy_values_recursively() -> None:
    safe = json_safe(UNDEFINED)
    assert safe == SAFE
    assert type(safe["folds"][3]) is int and type(safe["methods"]["served"]["bias"]) is float


def test_a_model_version_with_nan_metrics_is_stored_and_read_back_with_null(
    database_url: str,
) -> None:
    with get_sessionmaker(database_url)() as session:
        registry.register(
            session,
            version="nan-1",
            artifact_path="/nowhere",
            checksum="sha256:0",
            frequency="W",
            metrics=UNDEFINED,
            data_summary={"share": math.nan},
        )
        session.commit()
    with get_sessionmaker(database_url)() as session:
        row = registry.get_version(session, "nan-1")
        assert row is not None
        assert row.metrics == SAFE
        assert row.data_summary == {"share": None}


def test_a_training_run_row_with_nan_metrics_is_stored_with_null(database_url: str) -> None:
    run_id = uuid.uuid4().hex
    with get_sessionmaker(database_url)() as session:
        session.add(TrainingRun(run_id=run_id, status="succeeded", metrics=UNDEFINED))
        session.commit()
    with get_sessionmaker(database_url)() as session:
        row = session.get(TrainingRun, run_id)
        assert row is not None and row.metrics == SAFE
