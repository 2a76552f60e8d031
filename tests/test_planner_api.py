"""The planner's controls that need the forecasting core to act on them (issue 13 items 1-3).

Pinned and excluded analogues change the served forecast, not only the list; `details` give
each neighbour's own launch curve and drivers that sum to the forecast's total; and a `forecast`
key cannot reconstruct a training product's sales, however it asks (the privacy attack), while a
`read` key that pins the product can (the control).

These need the redesigned core (issue 10), which acts on pins, exclusions, details and
`private`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forecasting.config import default_config
from forecasting.model import LaunchForecaster
from forecasting.periods import steps_of
from forecasting.synthetic import generate_catalogue
from service.app import create_app
from service.auth import hash_key
from store.ingest import import_frames
from store.models import Base
from store.session import get_engine, get_sessionmaker
from store.settings import Role, Settings
from tests.conftest import KEYS
from tests.test_forecast_api import register

HORIZON = 12
UNSEEN = 90  # the newest-id products are held out of training: the attack's yardstick
RESULTS = Path(__file__).parent / "artifacts" / "privacy_attack.json"


@functools.cache
def planner_catalogue() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The synthetic catalogue plus a `finish` attribute: gloss products sell twice as much."""
    products, sales = generate_catalogue(360, seed=11)
    rng = np.random.default_rng(11)
    finish = rng.choice(["matte", "gloss"], size=len(products))
    products = products.assign(
        attributes=[{**a, "finish": f} for a, f in zip(products["attributes"], finish, strict=True)]
    )
    gloss = set(products["product_id"][finish == "gloss"])
    sales = sales.assign(
        quantity=np.where(sales["product_id"].isin(gloss), 2.0, 1.0) * sales["quantity"]
    )
    return products, sales


def training_ids() -> list[str]:
    products, _ = planner_catalogue()
    return sorted(products["product_id"])[:-UNSEEN]


@functools.cache
def _trained(base: Path) -> tuple[Path, str]:
    products, sales = planner_catalogue()
    keep = set(training_ids())
    model = LaunchForecaster(default_config(gbm_rounds=30, seed=0, neighbours_k=10)).fit(
        products[products["product_id"].isin(keep)], sales[sales["product_id"].isin(keep)]
    )
    return base, model.save(base)


@pytest.fixture(scope="module")
def planner(
    migrated_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The app serving the planner model, with the whole catalogue and one key per role."""
    folder, checksum = _trained(tmp_path_factory.getbasetemp() / "planner-model")
    _empty(migrated_database)
    with get_sessionmaker(migrated_database)() as session:
        import_frames(session, *planner_catalogue())
        session.commit()
    register(migrated_database, "planner", folder, checksum, active=True)
    keys = {hash_key(k): Role(role) for role, k in KEYS.items()}
    settings = Settings(
        database_url=migrated_database,
        artifact_dir=tmp_path_factory.mktemp("artifacts"),
        api_keys=keys,
    )
    with TestClient(create_app(settings)) as client:
        yield client
    _empty(migrated_database)


def _empty(url: str) -> None:
    with get_engine(url).begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


def key(role: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[role]}


def stored(product_id: str) -> dict[str, Any]:
    products, _ = planner_catalogue()
    row = products[products["product_id"] == product_id].iloc[0]
    return {
        "attributes": dict(row["attributes"]),
        "launch_date": row["launch_date"].date().isoformat(),
    }


@functools.cache
def actual_curves() -> dict[str, np.ndarray]:
    """Each product's sales per step since launch, steps 1..HORIZON (NaN: not reached)."""
    products, sales = planner_catalogue()
    launch = products.set_index("product_id")["launch_date"]
    step = steps_of(sales["product_id"].map(launch), sales["date"], "W")
    frame = sales.assign(step=step)
    frame = frame[(frame["step"] >= 1) & (frame["step"] <= HORIZON)]
    totals = frame.groupby(["product_id", "step"])["quantity"].sum().clip(lower=0)
    out = {}
    for pid in products["product_id"]:
        curve = np.full(HORIZON, np.nan)
        if pid in totals.index.get_level_values(0):
            for s, q in totals.loc[pid].items():
                curve[int(s) - 1] = q
        out[pid] = curve
    return out


def full_curve_ids(ids: list[str]) -> list[str]:
    return [pid for pid in ids if np.isfinite(actual_curves()[pid]).all()]


def ask(client: TestClient, role: str, products: list[dict[str, Any]], **extra: Any) -> Any:
    body = {"horizon": HORIZON, "products": products, **extra}
    return client.post("/v1/forecasts", json=body, headers=key(role))


def first(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["forecasts"][0]
    return result


def points(result: dict[str, Any]) -> np.ndarray:
    return np.array([p["forecast"] for p in result["points"]])


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Pooled over every product and step given (rows: products): one slow seller's tiny
    denominator cannot dominate as it would in a mean of per-product ratios."""
    return float(np.abs(actual - forecast).sum() / actual.sum())


NEW = {
    "attributes": {"category": "tops", "color": "red", "finish": "matte"},
    "launch_date": "2026-07-06",
}


def test_pinned_analogues_are_the_neighbours_in_order_with_their_weights(
    planner: TestClient,
) -> None:
    a, b = training_ids()[:2]
    pins = [{"product_id": a, "weight": 2}, {"product_id": b}]
    result = first(ask(planner, "read", [{**NEW, "analogues": pins}], explain=True))
    assert [n["product_id"] for n in result["neighbours"]] == [a, b]
    assert [n["weight"] for n in result["neighbours"]] == pytest.approx([2 / 3, 1 / 3], abs=1e-3)


def test_a_pinned_analogue_changes_the_served_forecast(planner: TestClient) -> None:
    chosen = first(ask(planner, "read", [NEW]))
    ids = full_curve_ids(training_ids())
    biggest = max(ids, key=lambda pid: np.nansum(actual_curves()[pid]))
    pinned = first(ask(planner, "read", [{**NEW, "analogues": [{"product_id": biggest}]}]))
    assert points(pinned).sum() > points(chosen).sum()


def test_an_excluded_analogue_is_never_borrowed_from(planner: TestClient) -> None:
    before = first(ask(planner, "read", [NEW], explain=True))
    top = before["neighbours"][0]["product_id"]
    after = first(ask(planner, "read", [{**NEW, "exclude_analogues": [top]}], explain=True))
    assert top not in [n["product_id"] for n in after["neighbours"]]


@pytest.mark.xfail(
    reason="core: the served gbm method takes no neighbour features, so an exclusion changes "
    "only the neighbour forecast (issue 13 item 1 asks for both); strict: passes once fixed",
    strict=True,
)
def test_an_excluded_analogue_changes_the_served_forecast(planner: TestClient) -> None:
    before = first(ask(planner, "read", [NEW], explain=True))
    top = before["neighbours"][0]["product_id"]
    after = first(ask(planner, "read", [{**NEW, "exclude_analogues": [top]}], explain=True))
    assert top not in [n["product_id"] for n in after["neighbours"]]
    assert not np.allclose(points(after), points(before))


def test_an_unknown_analogue_is_422_naming_it(planner: TestClient) -> None:
    product = {**NEW, "analogues": [{"product_id": training_ids()[0]}, {"product_id": "NOPE"}]}
    response = ask(planner, "read", [NEW, product])
    assert response.status_code == 422, response.text
    # The core names the pin ("analogues[1]"), or its id (as for a pin launched too late).
    fields = [e["field"] for e in response.json()["errors"]]
    assert len(fields) == 1 and fields[0].startswith("products[1].analogues[1]")


def test_an_analogue_launched_after_the_product_is_422_naming_it(planner: TestClient) -> None:
    ids = training_ids()
    latest = max(ids, key=lambda pid: stored(pid)["launch_date"])
    early = {**NEW, "launch_date": "2020-01-06", "analogues": [{"product_id": latest}]}
    response = ask(planner, "read", [early])
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [
        "products[0].analogues[0].product_id"
    ]


def test_details_imply_explain_and_curves_are_each_neighbours_own_launch_curve(
    planner: TestClient,
) -> None:
    result = first(ask(planner, "read", [NEW], details=["curves"]))
    assert result["neighbours"]
    for neighbour in result["neighbours"]:
        curve = np.array([np.nan if v is None else v for v in neighbour["curve"]])
        assert len(curve) == HORIZON
        np.testing.assert_allclose(curve, actual_curves()[neighbour["product_id"]], rtol=1e-3)


def test_drivers_sum_to_the_forecasts_total(planner: TestClient) -> None:
    history = [{"date": "2026-07-06", "quantity": 50}, {"date": "2026-07-13", "quantity": 70}]
    for product in (NEW, {**NEW, "history": history}):
        result = first(ask(planner, "read", [product], details=["drivers"]))
        drivers = result["drivers"]
        assert {"launch_calendar", "analogues", "history", "category", "finish"} <= set(
            drivers["contributions"]
        )
        total = drivers["baseline"] + sum(drivers["contributions"].values())
        assert total == pytest.approx(points(result).sum(), rel=1e-3, abs=0.05)


def test_an_attribute_value_that_sells_twice_as_much_gets_a_positive_contribution(
    planner: TestClient,
) -> None:
    gloss = {**NEW, "attributes": {**NEW["attributes"], "finish": "gloss"}}
    result = first(ask(planner, "read", [gloss], details=["drivers"]))
    assert result["drivers"]["contributions"]["finish"] > 0
    matte = first(ask(planner, "read", [NEW], details=["drivers"]))
    assert (
        result["drivers"]["contributions"]["finish"] > matte["drivers"]["contributions"]["finish"]
    )


def test_a_forecast_key_answer_names_no_other_product(planner: TestClient) -> None:
    result = first(ask(planner, "forecast", [NEW]))
    assert "neighbours" not in result and "drivers" not in result
    assert points(result).sum() > 0


def reconstruction(client: TestClient, role: str, product_id: str) -> np.ndarray:
    """The attacker's best guess of a product's sales: the mean answer to queries with its
    exact attributes and launch date, and small variations of both."""
    exact = stored(product_id)
    launch = pd.Timestamp(exact["launch_date"])
    queries = [exact]
    for days in (-7, 7):
        queries.append(
            {**exact, "launch_date": (launch + pd.Timedelta(days=days)).date().isoformat()}
        )
    for factor in (0.99, 1.01):
        price = exact["attributes"]["price"] * factor
        queries.append({**exact, "attributes": {**exact["attributes"], "price": round(price, 2)}})
    answers = client.post(
        "/v1/forecasts", json={"horizon": HORIZON, "products": queries}, headers=key(role)
    )
    assert answers.status_code == 200, answers.text
    return np.mean([points(f) for f in answers.json()["forecasts"]], axis=0)


def test_a_forecast_key_cannot_reconstruct_a_training_products_sales(
    planner: TestClient,
) -> None:
    curves = actual_curves()
    trained = full_curve_ids(training_ids())
    unseen = full_curve_ids(sorted(planner_catalogue()[0]["product_id"])[-UNSEEN:])
    assert len(trained) >= 100 and len(unseen) >= 50
    truth = np.array([curves[p] for p in trained])
    attack = wape(truth, np.array([reconstruction(planner, "forecast", p) for p in trained]))
    yardstick = wape(
        np.array([curves[p] for p in unseen]),
        np.array([reconstruction(planner, "forecast", p) for p in unseen]),
    )
    # The control: a read key that pins the product gets its sales back exactly.
    pinned_curves, pinned_forecasts = [], []
    for p in trained:
        product = {**stored(p), "analogues": [{"product_id": p}]}
        result = first(ask(planner, "read", [product], details=["curves"]))
        pinned_curves.append(np.array(result["neighbours"][0]["curve"], dtype=float))
        pinned_forecasts.append(points(result))
    control = wape(truth, np.array(pinned_curves))
    figures = {
        "attack_wape_training_products": attack,
        "wape_unseen_products": yardstick,
        "control_wape_read_key_pinned_curve": control,
        "control_wape_read_key_pinned_forecast": wape(truth, np.array(pinned_forecasts)),
        "n_training_products": len(trained),
        "n_unseen_products": len(unseen),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2))
    assert figures["control_wape_read_key_pinned_curve"] < 0.01
    # No closer to the training products than the model is to products it never saw.
    assert figures["attack_wape_training_products"] >= 0.9 * figures["wape_unseen_products"]
