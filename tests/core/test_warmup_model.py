"""The warm-up model: a second LightGBM on warm rows only, beside an unchanged launch model."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.model import LaunchForecaster
from forecasting.types import ForecastQuery
from forecasting.validation import warmup_answers
from tests.core.conftest import small_config

QUERY = {"launch_date": dt.date(2026, 7, 6), "attributes": {"category": "tops", "color": "red"}}


def warm_query(observed: list[float]) -> ForecastQuery:
    start = QUERY["launch_date"]
    history = tuple((start + dt.timedelta(weeks=i), value) for i, value in enumerate(observed))
    return ForecastQuery(**QUERY, history=history)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def with_warmup(catalogue: tuple[pd.DataFrame, pd.DataFrame]) -> LaunchForecaster:
    products, sales = catalogue
    return LaunchForecaster(small_config(warmup_model_observed=[1, 2, 3])).fit(products, sales)


@pytest.fixture(scope="module")
def without(catalogue: tuple[pd.DataFrame, pd.DataFrame]) -> LaunchForecaster:
    """The same configuration without a warm-up model: the launch model answers warm queries."""
    products, sales = catalogue
    return LaunchForecaster(small_config(warmup_model_observed=[])).fit(products, sales)


def test_the_launch_model_and_cold_answers_are_unchanged(
    without: LaunchForecaster, with_warmup: LaunchForecaster
) -> None:
    fitted = without
    assert with_warmup.warmup_gbm_ is not None
    assert with_warmup.gbm_ is not None and fitted.gbm_ is not None
    assert with_warmup.gbm_.booster_.model_to_string() == fitted.gbm_.booster_.model_to_string()
    cold = ForecastQuery(**QUERY)  # type: ignore[arg-type]
    np.testing.assert_array_equal(
        with_warmup.predict([cold], 8)[0].point, fitted.predict([cold], 8)[0].point
    )
    stage = next(s for s in with_warmup.stages_ if s["stage"] == "warm-up model")
    assert stage["models"] == 1
    assert with_warmup.metadata_["models_fitted"] == fitted.metadata_["models_fitted"] + 3


def test_warm_queries_up_to_its_largest_k_are_answered_by_the_warm_up_model(
    without: LaunchForecaster, with_warmup: LaunchForecaster
) -> None:
    fitted = without
    two = warm_query([5.0, 7.0])
    five = warm_query([5.0, 7.0, 6.0, 4.0, 3.0])
    assert not np.array_equal(
        with_warmup.predict([two], 6)[0].point, fitted.predict([two], 6)[0].point
    )
    # Five observed steps are past what it learnt ([1, 2, 3]): the launch model answers.
    np.testing.assert_array_equal(
        with_warmup.predict([five], 3)[0].point, fitted.predict([five], 3)[0].point
    )


def test_a_saved_warm_up_model_predicts_exactly_like_the_fitted_one(
    with_warmup: LaunchForecaster, tmp_path: Path
) -> None:
    checksum = with_warmup.save(tmp_path)
    loaded = LaunchForecaster.load(tmp_path, expected_checksum=checksum)
    assert loaded.warmup_gbm_ is not None
    queries = [warm_query([5.0, 7.0]), ForecastQuery(**QUERY)]  # type: ignore[arg-type]
    for mine, theirs in zip(
        loaded.predict(queries, 6, quantiles=(0.1, 0.9)),
        with_warmup.predict(queries, 6, quantiles=(0.1, 0.9)),
        strict=True,
    ):
        np.testing.assert_array_equal(mine.point, theirs.point)
        np.testing.assert_array_equal(mine.quantiles[0.9], theirs.quantiles[0.9])


def test_refit_keeps_the_warm_up_model_and_its_rounds(
    catalogue: tuple[pd.DataFrame, pd.DataFrame], with_warmup: LaunchForecaster
) -> None:
    products, sales = catalogue
    new = with_warmup.refit(products, sales)
    assert new.warmup_gbm_ is not None and with_warmup.warmup_gbm_ is not None
    assert new.warmup_gbm_.rounds_ == with_warmup.warmup_gbm_.rounds_


def test_a_warm_answers_drivers_are_the_warm_up_models_own_contributions(
    with_warmup: LaunchForecaster,
) -> None:
    """The history's contribution is what the warm-up model's TreeSHAP gives the observed
    history over the forecast steps, and the parts sum to the forecast's total."""
    model = with_warmup
    assert model.warmup_gbm_ is not None
    query = warm_query([5.0, 7.0])
    [forecast] = model.predict([query], 6, details={"drivers"})
    assert forecast.drivers is not None
    parts = forecast.drivers
    assert parts.baseline + sum(parts.contributions.values()) == pytest.approx(
        forecast.point.sum(), rel=1e-6, abs=1e-6
    )
    X = model._rows_X(model._parse([query]), np.arange(1))
    contributions = model.warmup_gbm_.contributions(X)[2:8]  # steps 3..8: after the 2 observed
    names = model.warmup_gbm_.feature_names_
    history = [names.index(n) for n in ("n_observed", "observed_mean", "observed_last")]
    history.append(names.index("ratio_to_global"))
    assert parts.contributions["history"] == pytest.approx(contributions[:, history].sum())


def test_the_warm_up_model_answers_only_the_observed_counts_it_learnt_from() -> None:
    config = small_config(warmup_model_observed=[1, 5, 9])  # 9: past the 8 launch steps
    answers = warmup_answers(np.array([0, 1, 2, 4, 5, 6, 9]), config)
    assert answers.tolist() == [False, True, False, False, True, False, False]
