"""Model artifacts: no pickles, deterministic checksum, refusal of corrupted or mismatched ones."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.errors import ArtifactError
from forecasting.model import LaunchForecaster
from forecasting.types import ForecastQuery
from tests.core.conftest import small_config


def test_same_data_config_and_seed_give_the_same_checksum(
    catalogue: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    products, sales = catalogue
    first = LaunchForecaster(small_config()).fit(products, sales).save(tmp_path / "a")
    second = LaunchForecaster(small_config()).fit(products, sales).save(tmp_path / "b")
    assert first == second and first.startswith("sha256:")


def test_a_different_seed_changes_the_checksum(
    catalogue: tuple[pd.DataFrame, pd.DataFrame], fitted: LaunchForecaster, tmp_path: Path
) -> None:
    products, sales = catalogue
    other = LaunchForecaster(small_config(seed=8)).fit(products, sales).save(tmp_path / "b")
    assert fitted.save(tmp_path / "a") != other


def test_loaded_model_predicts_exactly_like_the_saved_one(
    fitted: LaunchForecaster, tmp_path: Path
) -> None:
    checksum = fitted.save(tmp_path)
    loaded = LaunchForecaster.load(tmp_path, expected_checksum=checksum)
    query = ForecastQuery(
        launch_date=dt.date(2026, 7, 6), attributes={"category": "tops", "color": "red"}
    )
    np.testing.assert_array_equal(
        loaded.predict([query], 10, quantiles=(0.1, 0.9))[0].quantiles[0.9],
        fitted.predict([query], 10, quantiles=(0.1, 0.9))[0].quantiles[0.9],
    )


def test_artifact_holds_no_pickles_and_records_its_schema(
    fitted: LaunchForecaster, tmp_path: Path
) -> None:
    fitted.save(tmp_path)
    for path in tmp_path.glob("*.npy"):
        np.load(path, allow_pickle=False)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert {"lightgbm", "numpy", "statsforecast"} <= set(meta["versions"])
    assert meta["training"]["training_data_sha256"].startswith("sha256:")
    # Each component wrote its own part: the encoder, the one LightGBM text model with its
    # feature names, the served method with the folds' evidence, the calibration.
    assert json.loads((tmp_path / "encoder.json").read_text())["categorical"]
    assert json.loads((tmp_path / "gbm.json").read_text())["feature_names"]
    assert (tmp_path / "gbm.txt").read_text().startswith("tree")
    selection = json.loads((tmp_path / "selection.json").read_text())
    assert selection["served"] == "gbm" and selection["table"]["gbm"]["per_fold"]
    calibration = json.loads((tmp_path / "calibration.json").read_text())
    kinds = set(calibration["ratios"])
    assert {"cold", "warm"} <= kinds and set(calibration["edges"]) == kinds
    assert all(k.startswith("warm:") for k in kinds - {"cold", "warm"})
    bands = calibration["level_bins"]
    assert all(len(calibration["ratios"][k]) == bands for k in kinds)


def test_load_refuses_a_flipped_byte(fitted: LaunchForecaster, tmp_path: Path) -> None:
    fitted.save(tmp_path)
    path = tmp_path / "curves.npy"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="checksum"):
        LaunchForecaster.load(tmp_path)


def test_load_refuses_a_checksum_mismatch(fitted: LaunchForecaster, tmp_path: Path) -> None:
    fitted.save(tmp_path)
    with pytest.raises(ArtifactError, match="checksum"):
        LaunchForecaster.load(tmp_path, expected_checksum="sha256:" + "0" * 64)


def test_load_refuses_a_missing_artifact(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError):
        LaunchForecaster.load(tmp_path / "nowhere")


def test_load_refuses_a_missing_file(fitted: LaunchForecaster, tmp_path: Path) -> None:
    checksum = fitted.save(tmp_path)
    (tmp_path / "gbm.txt").unlink()
    with pytest.raises(ArtifactError):
        LaunchForecaster.load(tmp_path, expected_checksum=checksum)


def test_the_total_band_survives_the_artifact_and_an_older_artifact_answers_without_it(
    fitted: LaunchForecaster, tmp_path: Path
) -> None:
    query = ForecastQuery(
        launch_date=dt.date(2026, 7, 6), attributes={"category": "tops", "color": "red"}
    )
    checksum = fitted.save(tmp_path / "now")
    loaded = LaunchForecaster.load(tmp_path / "now", expected_checksum=checksum)
    before = fitted.predict([query], 12, quantiles=(0.1, 0.9))[0].total_quantiles
    assert before is not None
    assert loaded.predict([query], 12, quantiles=(0.1, 0.9))[0].total_quantiles == before
    # A model saved before totals were calibrated: no total_calibration file, no flag.
    loaded.total_calibrator_ = None  # (not `fitted`: other tests share it)
    old = loaded.save(tmp_path / "old")
    assert not (tmp_path / "old" / "total_calibration.json").exists()
    answer = LaunchForecaster.load(tmp_path / "old", expected_checksum=old).predict(
        [query], 12, quantiles=(0.1, 0.9)
    )[0]
    assert answer.total_quantiles is None and len(answer.quantiles[0.9]) == 12
