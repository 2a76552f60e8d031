"""The demo catalogue generator: deterministic, realistic, and importable as it stands."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import func, select

from forecasting.synthetic import generate_catalogue
from store.ingest import import_frames
from store.models import SalesObservation
from store.session import get_sessionmaker


def test_the_same_seed_gives_the_same_catalogue() -> None:
    first, second = generate_catalogue(200, seed=3), generate_catalogue(200, seed=3)
    pd.testing.assert_frame_equal(first[1], second[1])
    assert first[0]["attributes"].tolist() == second[0]["attributes"].tolist()


def test_the_catalogue_has_long_lived_products_returns_and_no_sale_before_launch() -> None:
    products, sales = generate_catalogue(600, seed=1)
    weeks = sales.groupby("product_id").size()
    assert weeks.max() >= 52
    assert (sales["quantity"] < 0).any()
    launch = sales.merge(products[["product_id", "launch_date"]], on="product_id")
    assert (launch["date"] >= launch["launch_date"]).all()
    assert {"category", "color", "price"} <= set(products["attributes"].iloc[0])


def test_the_catalogue_imports_without_rejections(database_url: str) -> None:
    products, sales = generate_catalogue(100, seed=2)
    with get_sessionmaker(database_url)() as session:
        summary = import_frames(session, products, sales)
        session.commit()
        assert summary.n_rejected == 0
        stored = session.scalar(select(func.count()).select_from(SalesObservation))
    assert summary.products.inserted == 100
    assert stored == len(sales)


def test_history_periods_caps_each_products_weeks_and_keeps_the_products() -> None:
    products, sales = generate_catalogue(600, seed=1, history_periods=52)
    uncapped, _ = generate_catalogue(600, seed=1)
    assert sales.groupby("product_id").size().max() == 52
    pd.testing.assert_frame_equal(products, uncapped)


def test_history_periods_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="history_periods"):
        generate_catalogue(10, history_periods=0)
