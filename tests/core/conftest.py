"""Small seeded catalogues and one fitted forecaster shared by the core tests (fast)."""

from __future__ import annotations

import pandas as pd
import pytest

from forecasting.config import ForecasterConfig, default_config
from forecasting.model import LaunchForecaster
from forecasting.synthetic import generate_catalogue


def small_config(**overrides: object) -> ForecasterConfig:
    """The service's defaults, made quick: few rounds, few neighbours, one thread."""
    values: dict[str, object] = {
        "frequency": "W",
        "launch_steps": 8,
        "curve_steps": 20,
        "neighbours_k": 5,
        "gbm_rounds": 40,
        "warmup_max_observed": 2,
        "num_threads": 1,
        "seed": 7,
        "min_analogues": 3,
    }
    values.update(overrides)
    return default_config(**values)


@pytest.fixture(scope="session")
def catalogue() -> tuple[pd.DataFrame, pd.DataFrame]:
    """120 synthetic products with weekly sales."""
    return generate_catalogue(n_products=120, seed=3)


@pytest.fixture(scope="session")
def fitted(catalogue: tuple[pd.DataFrame, pd.DataFrame]) -> LaunchForecaster:
    """A forecaster fitted once on the synthetic catalogue."""
    products, sales = catalogue
    return LaunchForecaster(small_config()).fit(products, sales)
