"""Small seeded catalogues and one fitted forecaster shared by the core tests (fast)."""

from __future__ import annotations

import pandas as pd
import pytest

from forecasting.model import ForecasterConfig, LaunchForecaster
from forecasting.synthetic import generate_catalogue


def small_config(**overrides: object) -> ForecasterConfig:
    """A quick configuration: few rounds, few neighbours, one thread."""
    values: dict[str, object] = {
        "freq": "W",
        "launch_steps": 8,
        "curve_steps": 20,
        "k": 5,
        "num_boost_round": 40,
        "warmup_max_observed": 2,
        "num_threads": 1,
        "seed": 7,
    }
    values.update(overrides)
    return ForecasterConfig(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def catalogue() -> tuple[pd.DataFrame, pd.DataFrame]:
    """120 synthetic products with weekly sales."""
    return generate_catalogue(n_products=120, seed=3)


@pytest.fixture(scope="session")
def fitted(catalogue: tuple[pd.DataFrame, pd.DataFrame]) -> LaunchForecaster:
    """A forecaster fitted once on the synthetic catalogue."""
    products, sales = catalogue
    return LaunchForecaster(small_config()).fit(products, sales)
