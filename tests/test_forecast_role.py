"""The forecast role, the planner's request fields and GET /v1/attributes over HTTP.

Everything here holds whatever the forecasting core does with the new fields; what needs the
core to act on them (pins, drivers, the privacy guarantee) is in tests/test_planner_api.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli.main import app as cli_app
from service.app import create_app
from service.auth import hash_key
from store import migrations
from store.ingest import import_frames
from store.models import Base
from store.session import get_engine, get_sessionmaker
from store.settings import Role, Settings
from tests.conftest import KEYS, new_database
from tests.test_forecast_api import CATALOGUE, NEW, artifacts, register

__all__ = ["artifacts"]  # fixtures used below by name


def key(role: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[role]}


@pytest.fixture(scope="module")
def keyed(
    migrated_database: str,
    artifacts: dict[str, tuple[Path, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TestClient]:
    """The real app serving model v1 with one API key per role (sends no key by default).

    Module-scoped: none of these tests writes, so they share one catalogue and one app.
    """
    empty_tables(migrated_database)
    with get_sessionmaker(migrated_database)() as session:
        import_frames(session, *CATALOGUE)
        session.commit()
    register(migrated_database, "v1", *artifacts["v1"], active=True)
    keys = {hash_key(k): Role(role) for role, k in KEYS.items()}
    settings = Settings(
        database_url=migrated_database,
        artifact_dir=tmp_path_factory.mktemp("artifacts"),
        api_keys=keys,
    )
    with TestClient(create_app(settings)) as client:
        yield client
    empty_tables(migrated_database)


def empty_tables(url: str) -> None:
    with get_engine(url).begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


def forecast_body(**product: Any) -> dict[str, Any]:
    return {"horizon": 4, "products": [{**NEW, **product}]}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/products"),
        ("GET", "/v1/products/P00001"),
        ("GET", "/v1/products/P00001/sales"),
        ("GET", "/v1/models"),
        ("GET", "/v1/models/active"),
        ("POST", "/v1/products"),
        ("POST", "/v1/sales"),
        ("POST", "/v1/training-runs"),
    ],
)
def test_a_forecast_key_is_403_everywhere_but_forecasts_and_attributes(
    keyed: TestClient, method: str, path: str
) -> None:
    response = keyed.request(method, path, headers=key("forecast"), json={})
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_forecast_key_may_list_the_attributes(keyed: TestClient) -> None:
    response = keyed.get("/v1/attributes", headers=key("forecast"))
    assert response.status_code == 200
    assert response.json()["model_version"] == "v1"


def test_the_attributes_endpoint_needs_a_key(keyed: TestClient) -> None:
    assert keyed.get("/v1/attributes").status_code == 401


@pytest.mark.parametrize(
    ("asked", "extra", "product"),
    [
        ("explain", {"explain": True}, {}),
        ("details", {"details": ["curves"]}, {}),
        ("details", {"details": ["drivers"]}, {}),
        ("analogues", {}, {"analogues": [{"product_id": "P00001"}]}),
        ("exclude_analogues", {}, {"exclude_analogues": ["P00001"]}),
    ],
)
def test_a_forecast_key_asking_what_a_forecast_borrows_from_is_403(
    keyed: TestClient, asked: str, extra: dict[str, Any], product: dict[str, Any]
) -> None:
    body = {**forecast_body(**product), **extra}
    response = keyed.post("/v1/forecasts", json=body, headers=key("forecast"))
    assert response.status_code == 403, response.text
    assert asked in response.json()["detail"]


@pytest.mark.parametrize("query", ["explain=true", "details=curves", "details=drivers"])
def test_a_forecast_key_asking_a_catalogue_forecast_with_explanations_is_403(
    keyed: TestClient, query: str
) -> None:
    response = keyed.get(f"/v1/products/P00001/forecast?{query}", headers=key("forecast"))
    assert response.status_code == 403


def test_a_read_key_may_pin_and_exclude_analogues(keyed: TestClient) -> None:
    body = forecast_body(
        analogues=[{"product_id": "P00002", "weight": 2}], exclude_analogues=["P00003"]
    )
    response = keyed.post("/v1/forecasts", json=body, headers=key("read"))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("product", "field"),
    [
        ({"analogues": [{"product_id": "P00002", "weight": 0}]}, "products[0].analogues[0].weight"),
        (
            {"analogues": [{"product_id": "P00002", "weight": -1}]},
            "products[0].analogues[0].weight",
        ),
        ({"analogues": [{"product_id": ""}]}, "products[0].analogues[0].product_id"),
        ({"analogues": [{"weight": 1}]}, "products[0].analogues[0].product_id"),
        ({"analogues": [{"product_id": "P00002"}] * 2}, "products[0]"),
        ({"exclude_analogues": [""]}, "products[0].exclude_analogues[0]"),
    ],
)
def test_a_bad_analogue_is_422_naming_the_field(
    keyed: TestClient, product: dict[str, Any], field: str
) -> None:
    response = keyed.post("/v1/forecasts", json=forecast_body(**product), headers=key("read"))
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


def test_an_unknown_detail_is_422_naming_it(keyed: TestClient) -> None:
    body = {**forecast_body(), "details": ["curves", "history"]}
    response = keyed.post("/v1/forecasts", json=body, headers=key("read"))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["details[1]"]


def test_attributes_list_each_value_with_its_training_product_count(keyed: TestClient) -> None:
    listed = {
        a["name"]: a for a in keyed.get("/v1/attributes", headers=key("read")).json()["attributes"]
    }
    products = CATALOGUE[0]
    expected = Counter(a["category"] for a in products["attributes"])
    category = listed["category"]
    assert category["kind"] == "categorical"
    assert {v["value"]: v["count"] for v in category["values"]} == dict(expected)
    prices = [a["price"] for a in products["attributes"]]
    price = listed["price"]
    assert price["kind"] == "numeric"
    assert price["min"] == pytest.approx(min(prices))
    assert price["max"] == pytest.approx(max(prices))
    assert price["min"] <= price["median"] <= price["max"]


def test_without_a_model_the_attributes_list_is_empty(tmp_path: Path) -> None:
    url, drop = new_database("sqlite", tmp_path)  # its own: the module's database has a model
    migrations.upgrade(url)
    with TestClient(create_app(Settings(database_url=url, artifact_dir=tmp_path))) as client:
        assert client.get("/v1/attributes").json() == {"model_version": None, "attributes": []}
    drop()


def test_keys_create_makes_a_forecast_key() -> None:
    result = CliRunner().invoke(cli_app, ["keys", "create", "--role", "forecast"])
    assert result.exit_code == 0, result.output
    assert '"forecast"' in result.output


def test_a_forecast_key_is_not_given_a_catalogue_products_own_sales(keyed: TestClient) -> None:
    """A catalogue product asked by id is answered from its description, as if new: its
    stored sales (which a read key's answer follows) are not used, and the answer says so."""
    sales = CATALOGUE[1]
    counts = sales.groupby("product_id").size()
    established = str(counts[counts > 20].index[0])  # a statistical forecast for a read key
    stored = keyed.get(f"/v1/products/{established}", headers=key("read")).json()
    described = {
        "horizon": 4,
        "products": [{"launch_date": stored["launch_date"], "attributes": stored["attributes"]}],
    }
    as_new = keyed.post("/v1/forecasts", json=described, headers=key("forecast")).json()
    by_id = {"horizon": 4, "products": [{"product_id": established}]}
    answers = [
        keyed.get(f"/v1/products/{established}/forecast?horizon=4", headers=key("forecast")),
        keyed.post("/v1/forecasts", json=by_id, headers=key("forecast")),
    ]
    for response in answers:
        assert response.status_code == 200
        [answer] = response.json()["forecasts"]
        assert answer["points"] == as_new["forecasts"][0]["points"]
        assert answer["method"] == as_new["forecasts"][0]["method"]
        assert any("not given a known product's own sales" in w for w in answer["warnings"])
    read = keyed.get(f"/v1/products/{established}/forecast?horizon=4", headers=key("read"))
    [own] = read.json()["forecasts"]
    assert own["method"].startswith("statistical")
    assert not any("own sales" in w for w in own["warnings"])


def test_a_forecast_key_gets_a_catalogue_product_without_launch_date_from_its_first_sale(
    keyed: TestClient,
) -> None:
    """Without its stored sales, a product stored with no launch date still has one: the
    first sale's date, as the contract says (it was a 422 naming a field nobody sent)."""
    product = {"product_id": "NO-LAUNCH-1", "attributes": {"category": "tops", "color": "red"}}
    sales = [{"product_id": "NO-LAUNCH-1", "date": "2026-03-02", "quantity": 5}]
    assert keyed.post("/v1/products", json={"products": [product]}, headers=key("write")).is_success
    try:
        written = keyed.post("/v1/sales", json={"observations": sales}, headers=key("write"))
        assert written.is_success
        response = keyed.get("/v1/products/NO-LAUNCH-1/forecast", headers=key("forecast"))
        assert response.status_code == 200, response.text
        [answer] = response.json()["forecasts"]
        assert answer["points"][0]["start_date"] == "2026-03-02"
    finally:
        keyed.delete("/v1/products/NO-LAUNCH-1", headers=key("write"))
