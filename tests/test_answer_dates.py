"""No forecast answer dates a step after 2199-12-31, the last date API.md supports.

A launch near that end with a long horizon, or history (sent or stored) dated late, moves the
forecast's steps past it. The request is valid (each of its dates and its horizon are; a
launch on 2199-12-31 with horizon 104 answers 200, tests/test_input_limits.py): the product is
forecast for the steps that start by then, with a warning, and the others of its batch in full.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from store.settings import Settings
from tests.test_forecast_api import artifacts, catalogue, register  # trained once per session

__all__ = ["artifacts", "catalogue"]  # fixtures used below by name

LAST = dt.date(2199, 12, 31)
ATTRIBUTES = {"category": "tops", "color": "red"}
CUT_SHORT = "steps asked for start by 2199-12-31, the last date the service supports"


def product(launch: dt.date, **more: Any) -> dict[str, Any]:
    return {"launch_date": launch.isoformat(), "attributes": ATTRIBUTES, **more}


def dates(forecast: dict[str, Any]) -> list[str]:
    return [point["start_date"] for point in forecast["points"]]


def cut_short(forecast: dict[str, Any]) -> list[str]:
    return [warning for warning in forecast["warnings"] if CUT_SHORT in warning]


def only_forecast(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    forecasts = response.json()["forecasts"]
    assert len(forecasts) == 1
    return dict(forecasts[0])


def test_a_launch_near_the_end_with_a_long_horizon_stops_at_the_last_date(
    client: TestClient,
) -> None:
    # Before: 104 points, the last starting on 2201-11-22, and no word of it.
    body = {"horizon": 104, "products": [product(dt.date(2199, 12, 1))]}
    answer = only_forecast(client.post("/v1/forecasts", json=body))
    assert dates(answer) == ["2199-12-01", "2199-12-08", "2199-12-15", "2199-12-22", "2199-12-29"]
    assert [p["step"] for p in answer["points"]] == [1, 2, 3, 4, 5]
    assert cut_short(answer) == [f"only 5 of the 104 {CUT_SHORT}: the forecast stops there"]


def test_the_last_step_that_fits_is_answered_in_full_without_a_warning(
    client: TestClient,
) -> None:
    launch = LAST - dt.timedelta(weeks=11)  # step 12 starts on the last supported day
    fits = only_forecast(
        client.post("/v1/forecasts", json={"horizon": 12, "products": [product(launch)]})
    )
    assert len(fits["points"]) == 12 and dates(fits)[-1] == LAST.isoformat()
    assert cut_short(fits) == []
    one_more = only_forecast(
        client.post("/v1/forecasts", json={"horizon": 13, "products": [product(launch)]})
    )
    assert len(one_more["points"]) == 12 and len(cut_short(one_more)) == 1


def test_in_a_batch_only_the_products_near_the_end_are_cut_short(client: TestClient) -> None:
    launches = [dt.date(2024, 1, 1), dt.date(2199, 6, 3), dt.date(2025, 1, 6), LAST]
    body = {"horizon": 52, "products": [product(launch) for launch in launches]}
    response = client.post("/v1/forecasts", json=body)
    assert response.status_code == 200, response.text
    forecasts = response.json()["forecasts"]
    assert [len(f["points"]) for f in forecasts] == [52, 31, 52, 1]
    assert [len(cut_short(f)) for f in forecasts] == [0, 1, 0, 1]
    assert max(day for f in forecasts for day in dates(f)) == LAST.isoformat()


def test_history_at_the_last_date_leaves_no_step_to_forecast(client: TestClient) -> None:
    # Before: steps 475..478 dated 2200-01-01..2200-01-22.
    late = product(dt.date(2190, 12, 1), history=[{"date": "2199-12-31", "quantity": 3}])
    answer = only_forecast(client.post("/v1/forecasts", json={"horizon": 4, "products": [late]}))
    assert answer["points"] == []
    assert answer["total"]["forecast"] == 0.0
    assert cut_short(answer) == [f"only 0 of the 4 {CUT_SHORT}: the forecast stops there"]


def test_a_catalogue_product_with_late_sales_is_cut_short(client: TestClient) -> None:
    stored = {"product_id": "LATE", "launch_date": "2199-06-01", "attributes": ATTRIBUTES}
    assert client.post("/v1/products", json={"products": [stored]}).status_code == 200
    sale = {"product_id": "LATE", "date": "2199-10-01", "quantity": 3}
    assert client.post("/v1/sales", json={"observations": [sale]}).status_code == 200
    # Before: steps 19..122, the last starting on 2201-09-26.
    response = client.get("/v1/products/LATE/forecast", params={"horizon": 104})
    answer = only_forecast(response)
    assert answer["points"][0]["step"] == 19
    assert dates(answer)[-1] == "2199-12-28" and len(cut_short(answer)) == 1


@pytest.fixture
def monthly(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(frequency="M", max_horizon=1000))) as client:
        yield client


def test_a_monthly_calendar_stops_at_the_last_date(monthly: TestClient) -> None:
    # Before: 1000 points, the last starting on 2273-04-30.
    body = {"horizon": 1000, "products": [product(dt.date(2190, 1, 31))]}
    answer = only_forecast(monthly.post("/v1/forecasts", json=body))
    assert len(answer["points"]) == 120  # the 120th month starts on 2199-12-31 (clipped 31sts)
    assert dates(answer)[-1] == LAST.isoformat() and len(cut_short(answer)) == 1


def test_the_served_model_is_cut_short_with_consistent_totals(
    catalogue: None,
    database_url: str,
    artifacts: dict[str, tuple[Path, str]],
    make_settings: Callable[..., Settings],
) -> None:
    """The trained model's path, warm-up history and details included: the product near the
    end is predicted for the steps that fit, so its total and drivers are of those steps."""
    register(database_url, "v1", *artifacts["v1"], active=True)
    launch = LAST - dt.timedelta(weeks=13)  # step 14 starts on the last supported day
    warm = product(launch, history=[{"date": launch.isoformat(), "quantity": 5}])
    body: dict[str, Any] = {
        "horizon": 20,
        "quantiles": [0.1, 0.9],
        "details": ["drivers", "curves"],
        "products": [warm, product(dt.date(2025, 2, 3))],
    }
    with TestClient(create_app(make_settings(model_poll_seconds=3600))) as client:
        response = client.post("/v1/forecasts", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["model_version"] == "v1"
    near, far = response.json()["forecasts"]
    assert [p["step"] for p in near["points"]] == list(range(2, 15))
    assert dates(near)[-1] == LAST.isoformat() and len(cut_short(near)) == 1
    total = sum(p["forecast"] for p in near["points"])
    assert near["total"]["forecast"] == pytest.approx(total, abs=1e-3)
    drivers = near["drivers"]
    summed = drivers["baseline"] + sum(drivers["contributions"].values())
    assert summed == pytest.approx(total, rel=1e-3, abs=1e-2)
    assert all(len(n["curve"]) == 13 for n in near["neighbours"])
    assert len(far["points"]) == 20 and cut_short(far) == []
