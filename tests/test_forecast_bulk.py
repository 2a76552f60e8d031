"""`launchcast forecast --all`: every product into the forecasts table, resumable, idempotent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import delete, func, select
from typer.testing import CliRunner

from cli.main import app
from forecasting.synthetic import generate_catalogue
from service.bulk import DEGRADED_VERSION, forecast_catalogue
from store.ingest import import_frames
from store.models import Product, StoredForecast
from store.session import get_sessionmaker
from store.settings import Settings, get_settings


@pytest.fixture
def settings_with_catalogue(database_url: str, make_settings: Callable[..., Settings]) -> Settings:
    with get_sessionmaker(database_url)() as session:
        import_frames(session, *generate_catalogue(120, seed=4))
        session.commit()
    return make_settings()


def stored_rows(settings: Settings) -> int:
    with get_sessionmaker(settings.database_url)() as session:
        return session.scalar(select(func.count()).select_from(StoredForecast)) or 0


def test_every_product_gets_horizon_rows(settings_with_catalogue: Settings) -> None:
    summary = forecast_catalogue(settings_with_catalogue, horizon=5)
    assert summary.model_version == DEGRADED_VERSION  # no model trained: launch curves
    assert (summary.total, summary.written, summary.skipped) == (120, 120, 0)
    assert stored_rows(settings_with_catalogue) == 120 * 5


def test_a_second_run_skips_what_is_done_and_changes_nothing(
    settings_with_catalogue: Settings,
) -> None:
    forecast_catalogue(settings_with_catalogue, horizon=5)
    again = forecast_catalogue(settings_with_catalogue, horizon=5)
    assert (again.written, again.skipped) == (0, 120)
    assert stored_rows(settings_with_catalogue) == 600


def test_an_interrupted_run_resumes_with_the_missing_products(
    settings_with_catalogue: Settings,
) -> None:
    forecast_catalogue(settings_with_catalogue, horizon=5)
    with get_sessionmaker(settings_with_catalogue.database_url)() as session:
        ids = sorted(set(session.scalars(select(StoredForecast.product_id))))[:30]
        session.execute(delete(StoredForecast).where(StoredForecast.product_id.in_(ids)))
        session.commit()
    resumed = forecast_catalogue(settings_with_catalogue, horizon=5)
    assert (resumed.written, resumed.skipped) == (30, 90)
    assert stored_rows(settings_with_catalogue) == 600


def test_force_recomputes_idempotently(settings_with_catalogue: Settings) -> None:
    forecast_catalogue(settings_with_catalogue, horizon=5)
    forced = forecast_catalogue(settings_with_catalogue, horizon=5, force=True)
    assert forced.written == 120
    assert stored_rows(settings_with_catalogue) == 600


def test_the_cli_fills_the_table_and_refuses_a_horizon_above_the_maximum(
    settings_with_catalogue: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAUNCHCAST_DATABASE_URL", settings_with_catalogue.database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        done = runner.invoke(app, ["forecast", "--all", "--horizon", "3"])
        assert done.exit_code == 0, done.output
        assert "120 products forecast" in done.output
        assert stored_rows(settings_with_catalogue) == 120 * 3
        too_far = runner.invoke(app, ["forecast", "--all", "--horizon", "1000"])
        assert too_far.exit_code != 0
    finally:
        get_settings.cache_clear()


def test_a_product_with_no_launch_date_or_sales_is_forecast_from_today_not_a_failed_chunk(
    settings_with_catalogue: Settings,
) -> None:
    with get_sessionmaker(settings_with_catalogue.database_url)() as session:
        session.add(Product(product_id="UNDATED", launch_date=None, attributes={"color": "red"}))
        session.commit()
    summary = forecast_catalogue(settings_with_catalogue, horizon=2)
    assert (summary.total, summary.written) == (121, 121)
    with get_sessionmaker(settings_with_catalogue.database_url)() as session:
        first = session.scalars(
            select(StoredForecast.start_date).where(
                StoredForecast.product_id == "UNDATED", StoredForecast.step == 1
            )
        ).one()
    assert abs((first - dt.date.today()).days) <= 1
