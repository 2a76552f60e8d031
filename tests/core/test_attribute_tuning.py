"""Attribute weights of the neighbour search, tuned on the most recent training launches."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.model import LaunchForecaster
from tests.core.conftest import small_config


def driven_catalogue(n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sales level set by `driver` alone (10x apart); `noise` says nothing."""
    rng = np.random.default_rng(seed)
    launches = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n) * 3, unit="D")
    driver = rng.choice(["big", "small"], n)
    noise = rng.choice(["x", "y"], n)
    shape = np.array([0.3, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    rows = []
    for i in range(n):
        level = 100.0 if driver[i] == "big" else 10.0
        for step, mean in enumerate(level * shape):
            rows.append((f"P{i}", launches[i] + pd.Timedelta(weeks=step), rng.poisson(mean)))
    products = pd.DataFrame(
        {
            "product_id": [f"P{i}" for i in range(n)],
            "launch_date": launches,
            "attributes": [{"driver": d, "noise": z} for d, z in zip(driver, noise, strict=True)],
        }
    )
    sales = pd.DataFrame(rows, columns=["product_id", "date", "quantity"])
    return products, sales.astype({"quantity": float})


def test_tuning_turns_the_search_towards_the_attribute_that_drives_sales() -> None:
    products, sales = driven_catalogue()
    # Start badly: the uninformative attribute weighs 3x the informative one.
    config = small_config(
        attribute_weights={"noise": 3.0}, attribute_weight_grid=(0.0, 1.0, 3.0), blend_folds=0
    )
    model = LaunchForecaster(config).fit(products, sales)
    tuning = model.attribute_tuning_
    assert tuning["kept"]
    assert tuning["confirm_wape_after"] < tuning["confirm_wape_before"]
    weights = tuning["weights"]
    assert weights["driver"] > weights["noise"]
    assert model.encoder_.weights == weights
    assert model.metadata_["attribute_tuning"] == tuning


def test_without_a_grid_the_configured_weights_stay() -> None:
    products, sales = driven_catalogue()
    config = small_config(attribute_weights={"noise": 3.0}, blend_folds=0)
    model = LaunchForecaster(config).fit(products, sales)
    assert model.attribute_tuning_ == {"weights": {"driver": 1.0, "noise": 3.0}, "kept": False}
    assert model.encoder_.weight("noise") == 3.0
