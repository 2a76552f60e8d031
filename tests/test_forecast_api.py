"""POST /v1/forecasts and GET /v1/products/{id}/forecast: every case of the contract over HTTP."""

from __future__ import annotations

import datetime as dt
import functools
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from forecasting.config import default_config
from forecasting.model import LaunchForecaster
from forecasting.synthetic import generate_catalogue
from service.app import create_app
from store import registry
from store.ingest import import_frames
from store.session import get_sessionmaker
from store.settings import Settings

CATALOGUE = generate_catalogue(300, seed=5)
NEW: dict[str, Any] = {
    "launch_date": "2026-07-06",
    "attributes": {"category": "tops", "color": "red"},
}


@functools.cache
def _trained(base: Path) -> dict[str, tuple[Path, str]]:
    # Cached per process: the lifecycle tests import the fixture below and share these fits.
    saved = {}
    for name, seed in (("v1", 0), ("v2", 1)):
        config = default_config(gbm_rounds=30, seed=seed, neighbours_k=10)
        model = LaunchForecaster(config).fit(*CATALOGUE)
        folder = base / name
        saved[name] = (folder, model.save(folder))
    return saved


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """Two small trained models (different seeds, so different numbers), saved once."""
    return _trained(tmp_path_factory.getbasetemp() / "trained-models")


def register(database_url: str, version: str, folder: Path, checksum: str, active: bool) -> None:
    with get_sessionmaker(database_url)() as session:
        registry.register(
            session, version=version, artifact_path=str(folder), checksum=checksum, frequency="W"
        )
        if active:
            registry.activate(session, version)
        session.commit()


@pytest.fixture
def catalogue(database_url: str) -> None:
    with get_sessionmaker(database_url)() as session:
        import_frames(session, *CATALOGUE)
        session.commit()


@pytest.fixture
def served(
    catalogue: None,
    database_url: str,
    artifacts: dict[str, tuple[Path, str]],
    make_settings: Callable[..., Settings],
) -> Iterator[TestClient]:
    register(database_url, "v1", *artifacts["v1"], active=True)
    with TestClient(create_app(make_settings(model_poll_seconds=0.1))) as client:
        yield client


def post(client: TestClient, horizon: int = 6, **extra: Any) -> Any:
    products = extra.pop("products", [NEW])
    return client.post("/v1/forecasts", json={"horizon": horizon, "products": products, **extra})


def forecast_of(response: Any, index: int = 0) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["forecasts"][index]
    return result


def assert_sound(result: dict[str, Any]) -> None:
    """Finite, non-negative, quantiles monotone in their level."""
    for point in result["points"]:
        assert point["forecast"] >= 0
        values = [point["quantiles"][k] for k in sorted(point.get("quantiles", {}), key=float)]
        assert all(v >= 0 for v in values)
        assert values == sorted(values)


def test_a_new_product_gets_steps_1_to_h_with_quantiles_and_neighbours(served: TestClient) -> None:
    response = post(served, quantiles=[0.9, 0.1, 0.5], explain=True)
    assert response.json()["model_version"] == "v1"
    assert response.json()["frequency"] == "W"
    result = forecast_of(response)
    assert result["method"] == "gbm"  # what the folds chose on this catalogue
    assert [p["step"] for p in result["points"]] == [1, 2, 3, 4, 5, 6]
    assert [p["start_date"] for p in result["points"][:2]] == ["2026-07-06", "2026-07-13"]
    assert set(result["points"][0]["quantiles"]) == {"0.1", "0.5", "0.9"}
    assert_sound(result)
    neighbours = result["neighbours"]
    assert neighbours and all(0 <= n["similarity"] <= 1 for n in neighbours)
    assert abs(sum(n["weight"] for n in neighbours) - 1) < 0.01


def test_warm_up_continues_after_the_last_observed_step(served: TestClient) -> None:
    history = [{"date": "2026-07-06", "quantity": 80}, {"date": "2026-07-13", "quantity": 95}]
    result = forecast_of(post(served, horizon=4, products=[{**NEW, "history": history}]))
    assert [p["step"] for p in result["points"]] == [3, 4, 5, 6]
    cold = forecast_of(post(served, horizon=6))
    assert result["points"][0]["forecast"] != cold["points"][2]["forecast"]


def test_a_long_history_product_gets_a_statistical_forecast(served: TestClient) -> None:
    sales = CATALOGUE[1]
    longest = sales.groupby("product_id").size().idxmax()
    result = forecast_of(
        post(served, horizon=3, quantiles=[0.1, 0.9], products=[{"product_id": longest}])
    )
    assert result["method"].startswith("statistical:")
    assert result["points"][0]["step"] > 12
    assert_sound(result)
    # Its total sums the points; no total band was learnt for the statistical path.
    assert result["total"]["quantiles"] is None
    assert result["total"]["forecast"] == pytest.approx(
        sum(p["forecast"] for p in result["points"]), abs=1e-3
    )


def test_a_new_products_total_carries_a_band_learnt_on_totals(served: TestClient) -> None:
    result = forecast_of(post(served, horizon=12, quantiles=[0.1, 0.5, 0.9]))
    total = result["total"]
    assert total["forecast"] == pytest.approx(
        sum(p["forecast"] for p in result["points"]), abs=1e-3
    )
    low, mid, high = (total["quantiles"][q] for q in ("0.1", "0.5", "0.9"))
    assert 0 < low < mid < high
    # Not the weeks' bands summed: a band of its own.
    assert low != pytest.approx(sum(p["quantiles"]["0.1"] for p in result["points"]), abs=1e-3)


def test_each_quantile_is_named_by_the_level_asked_for_however_close_two_are(
    served: TestClient,
) -> None:
    levels = [0.12345678, 0.12345679, 0.975]
    result = forecast_of(post(served, horizon=12, quantiles=levels))
    names = ["0.12345678", "0.12345679", "0.975"]
    assert list(result["points"][0]["quantiles"]) == names
    assert list(result["total"]["quantiles"]) == names


def test_a_stored_product_with_no_launch_date_or_sales_is_forecast_from_today(
    served: TestClient,
) -> None:
    # The contract: an id the service accepts can always be forecast (it was a 422 naming a
    # body field the GET had not sent).
    stored = {"product_id": "UNDATED", "attributes": {"category": "tops"}}
    assert served.post("/v1/products", json={"products": [stored]}).status_code == 200
    via_get = forecast_of(served.get("/v1/products/UNDATED/forecast", params={"horizon": 3}))
    assert via_get["points"][0]["step"] == 1
    start = dt.date.fromisoformat(via_get["points"][0]["start_date"])
    assert abs((start - dt.date.today()).days) <= 1  # today, whichever side of midnight
    assert any("no launch date and no sales yet" in w for w in via_get["warnings"])
    via_post = forecast_of(post(served, horizon=3, products=[{"product_id": "UNDATED"}]))
    assert via_post["points"] == via_get["points"]


def test_a_catalogue_product_by_id_uses_its_stored_attributes_and_sales(served: TestClient) -> None:
    sales = CATALOGUE[1]
    counts = sales.groupby("product_id").size()
    short = counts[counts.between(2, 6)].index[0]
    weeks = int(counts[short])
    via_post = forecast_of(post(served, horizon=2, products=[{"product_id": short}]))
    assert via_post["points"][0]["step"] == weeks + 1
    via_get = served.get(f"/v1/products/{short}/forecast", params={"horizon": 2})
    assert forecast_of(via_get)["points"] == via_post["points"]


def test_a_catalogue_product_that_stopped_selling_is_forecast_from_the_newest_sale_on(
    served: TestClient,
) -> None:
    """Its stored sales end long before the catalogue's: it sold nothing since, as far as the
    catalogue knows. The forecast starts after the newest sale the model learnt from (not in
    the past, after its own last sale), and the answer says how its history was read."""
    sales = CATALOGUE[1]
    newest = sales["date"].max().date()
    last = sales.groupby("product_id")["date"].max()
    stopped = str(last[last < sales["date"].max() - np.timedelta64(365, "D")].index[0])
    result = forecast_of(post(served, horizon=4, products=[{"product_id": stopped}]))
    first = dt.date.fromisoformat(result["points"][0]["start_date"])
    assert newest < first <= newest + dt.timedelta(days=7)
    (note,) = [w for w in result["warnings"] if "no sales stored after" in w]
    assert last[stopped].date().isoformat() in note and newest.isoformat() in note
    # A product selling up to the newest sale is read as it is, without the note.
    current = str(last[last == sales["date"].max()].index[0])
    fresh = forecast_of(post(served, horizon=4, products=[{"product_id": current}]))
    assert not any("no sales stored after" in w for w in fresh["warnings"])
    assert dt.date.fromisoformat(fresh["points"][0]["start_date"]) > newest


def test_a_hypothetical_product_needs_no_id(served: TestClient) -> None:
    result = forecast_of(post(served))
    assert result["product_id"] is None


def test_warnings_name_unseen_values_unknown_and_missing_attributes(served: TestClient) -> None:
    attributes = {"category": "tops", "color": "teal", "sparkle": "lots"}
    result = forecast_of(
        post(served, products=[{"launch_date": "2026-07-06", "attributes": attributes}])
    )
    text = " ".join(result["warnings"])
    assert "color=teal" in text
    assert "sparkle" in text
    assert "material" in text


def test_warnings_suggest_the_known_name_or_value_a_typo_meant(served: TestClient) -> None:
    attributes = {"categry": "tops", "color": "Red"}
    result = forecast_of(
        post(served, products=[{"launch_date": "2026-07-06", "attributes": attributes}])
    )
    assert (
        "attribute categry is unknown to the model; ignored (did you mean 'category'?)"
        in result["warnings"]
    )
    assert (
        "attribute color=Red was never seen in training; treated as unknown "
        "(did you mean 'red'?)" in result["warnings"]
    )


def test_a_misspelt_request_field_is_named_with_the_field_it_meant(served: TestClient) -> None:
    product = {"launch_date": "2026-07-06", "atributes": {"category": "tops"}}
    response = served.post("/v1/forecasts", json={"horizon": 3, "products": [product]})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "products[0].atributes", "message": "unknown field (did you mean 'attributes'?)"}
    ]


def test_metrics_count_forecasts_by_method_and_name_the_served_version(served: TestClient) -> None:
    unknown = {"launch_date": "2026-07-06", "attributes": {}}
    methods = [f["method"] for f in post(served, products=[NEW, NEW, unknown]).json()["forecasts"]]
    body = served.get("/metrics").text
    for method in set(methods):
        count = methods.count(method)
        assert f'launchcast_forecasts_total{{method="{method}"}} {count:.1f}' in body, body
    assert 'launchcast_model_loaded{version="v1"} 1.0' in body


def test_every_attribute_unknown_falls_back_with_a_warning(served: TestClient) -> None:
    result = forecast_of(post(served, products=[{"launch_date": "2026-07-06", "attributes": {}}]))
    assert result["method"] in ("global_curve", "attribute_curve", "neighbours")
    assert result["warnings"]
    assert_sound(result)


def test_a_batch_answers_every_product_in_order(served: TestClient) -> None:
    products = [{**NEW, "product_id": f"NEW-{i}"} for i in range(25)]
    body = post(served, products=products).json()
    assert [f["product_id"] for f in body["forecasts"]] == [f"NEW-{i}" for i in range(25)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"horizon": 0, "products": [NEW]}, "horizon"),
        ({"horizon": 105, "products": [NEW]}, "horizon"),
        ({"horizon": 3, "quantiles": [0.0], "products": [NEW]}, "quantiles"),
        ({"horizon": 3, "quantiles": [1.0], "products": [NEW]}, "quantiles"),
        ({"horizon": 3, "quantiles": [0.5, 0.5], "products": [NEW]}, "quantiles"),
        (
            {"horizon": 3, "products": [{"product_id": "NOT-IN-CATALOGUE"}]},
            "products[0].product_id",
        ),
        (
            {
                "horizon": 3,
                "products": [{**NEW, "history": [{"date": "2026-07-01", "quantity": 1}]}],
            },
            "products[0].history[0].date",
        ),
        (
            {
                "horizon": 3,
                "products": [{**NEW, "history": [{"date": "2026-07-06", "quantity": 1e300}]}],
            },
            "products[0].history[0].quantity",
        ),
        (
            {"horizon": 3, "products": [{"attributes": {"category": "tops"}}]},
            "products[0].launch_date",
        ),
        ({"horizon": 3, "products": []}, "products"),
        # Not numbers, like a quantity's `true` or "17": named, not coerced.
        ({"horizon": True, "products": [NEW]}, "horizon"),
        ({"horizon": "3", "products": [NEW]}, "horizon"),
        ({"horizon": 3.0, "products": [NEW]}, "horizon"),
        ({"horizon": 3, "quantiles": ["0.5"], "products": [NEW]}, "quantiles[0]"),
        ({"horizon": 3, "explain": "yes", "products": [NEW]}, "explain"),
    ],
)
def test_bad_requests_answer_422_naming_the_field(
    served: TestClient, body: dict[str, Any], field: str
) -> None:
    response = served.post("/v1/forecasts", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in response.json()["errors"]}


def test_nan_in_history_is_refused(served: TestClient) -> None:
    raw = (
        b'{"horizon": 3, "products": [{"launch_date": "2026-07-06", "attributes": {},'
        b' "history": [{"date": "2026-07-06", "quantity": NaN}]}]}'
    )
    response = served.post(
        "/v1/forecasts", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "products[0].history[0].quantity" in {e["field"] for e in response.json()["errors"]}


def test_an_over_limit_batch_is_422_with_the_limit(
    catalogue: None, make_settings: Callable[..., Settings]
) -> None:
    with TestClient(create_app(make_settings(max_batch_items=2))) as client:
        response = post(client, products=[NEW, NEW, NEW])
        assert response.status_code == 422
        assert "2" in response.json()["detail"]


def test_a_forecast_422_names_field_errors_and_catalogue_refusals_together(
    catalogue: None, client: TestClient
) -> None:
    before_launch = {**NEW, "history": [{"date": "2026-07-01", "quantity": 1}]}
    products = [{"product_id": "NOT-IN-CATALOGUE"}, {**NEW, "launch_date": "2026-02-30"}]
    response = post(client, horizon=0, products=[*products, before_launch, NEW])
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    # Every invalid field and product, in item order (the request's own fields first).
    assert [e["field"] for e in response.json()["errors"]] == [
        "horizon",
        "products[0].product_id",
        "products[1].launch_date",
        "products[2].history[0].date",
    ]
    assert "NOT-IN-CATALOGUE" in response.text


# A catalogue product the models learned from (it has sales), launched before NEW.
KNOWN = str(CATALOGUE[1]["product_id"].iloc[0])


def fields_of(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize("model", ["served", "launch curves"])
def test_a_forecast_422_names_unknown_pinned_analogues_beside_other_items_field_errors(
    catalogue: None,
    database_url: str,
    artifacts: dict[str, tuple[Path, str]],
    make_settings: Callable[..., Settings],
    model: str,
) -> None:
    if model == "served":
        register(database_url, "v1", *artifacts["v1"], active=True)
    pinned = {**NEW, "analogues": [{"product_id": KNOWN}, {"product_id": "NOPE"}]}
    excluding = {**NEW, "exclude_analogues": [KNOWN, "NOPE-2"]}
    products = [{**NEW, "launch_date": "2026-02-30"}, pinned, NEW, excluding]
    with TestClient(create_app(make_settings())) as client:
        response = post(client, products=products)
        assert fields_of(response) == [
            "products[0].launch_date",
            "products[1].analogues[1].product_id",
            "products[3].exclude_analogues[1]",
        ]
        errors = response.json()["errors"]
        assert errors[1]["message"] == "unknown product 'NOPE' (not in the model's catalogue)"
        assert response.json()["detail"] == (
            "invalid fields: products[0].launch_date, products[1].analogues[1].product_id, "
            "products[3].exclude_analogues[1]"
        )
        # The same products without the malformed one: forecast, pins and exclusions applied.
        valid = [
            {**NEW, "analogues": [{"product_id": KNOWN}]},
            NEW,
            {**NEW, "exclude_analogues": [KNOWN]},
        ]
        assert post(client, products=valid).status_code == 200


def test_a_valid_forecast_body_names_unknown_pinned_analogues_beside_catalogue_refusals(
    served: TestClient,
) -> None:
    pinned = {**NEW, "analogues": [{"product_id": "NOPE"}]}
    products = [{"product_id": "NOT-IN-CATALOGUE"}, pinned]
    assert fields_of(post(served, products=products)) == [
        "products[0].product_id",
        "products[1].analogues[0].product_id",
    ]


def test_a_valid_forecast_body_names_every_product_pinning_an_unknown_analogue(
    served: TestClient,
) -> None:
    products = [{**NEW, "analogues": [{"product_id": f"NOPE-{i}"}]} for i in range(3)]
    assert fields_of(post(served, products=[products[0], NEW, *products[1:]])) == [
        "products[0].analogues[0].product_id",
        "products[2].analogues[0].product_id",
        "products[3].analogues[0].product_id",
    ]


def test_one_unknown_pinned_analogue_is_refused_by_the_model_as_before(served: TestClient) -> None:
    response = post(served, products=[NEW, {**NEW, "analogues": [{"product_id": "NOPE"}]}])
    assert fields_of(response) == ["products[1].analogues[0].product_id"]
    assert response.json()["title"] == "Cannot forecast"
    assert response.json()["detail"] == "unknown analogue"


def test_get_forecast_of_an_unknown_product_is_404(served: TestClient) -> None:
    assert served.get("/v1/products/NOPE/forecast").status_code == 404


def test_without_a_model_the_service_answers_from_launch_curves(
    catalogue: None, client: TestClient
) -> None:
    response = post(client, quantiles=[0.1, 0.9])
    assert response.json()["model_version"] is None
    result = forecast_of(response)
    assert result["method"] in ("attribute_curve", "global_curve")
    assert any("no trained model" in w for w in result["warnings"])
    assert_sound(result)
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "no model loaded" in ready.json()["detail"]


def test_an_empty_catalogue_without_a_model_still_answers(client: TestClient) -> None:
    result = forecast_of(post(client))
    assert all(p["forecast"] == 0 for p in result["points"])
    assert result["warnings"]


def test_a_corrupted_artifact_is_refused_and_the_old_model_keeps_serving(
    served: TestClient, database_url: str, artifacts: dict[str, tuple[Path, str]], tmp_path: Path
) -> None:
    folder, checksum = artifacts["v2"]
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    model_file = next(p for p in broken.iterdir() if p.suffix == ".txt")
    model_file.write_text(model_file.read_text().replace("tree", "tr3e", 1))
    register(database_url, "v2-broken", broken, checksum, active=False)
    assert served.post("/v1/models/v2-broken/activate").status_code == 409
    # Made active behind the API's back (or broken after activation): the replica refuses it.
    register(database_url, "v2-broken-again", broken, checksum, active=True)
    served.app.state.model_store.refresh()  # what the registry poll does
    assert post(served).json()["model_version"] == "v1"
    assert served.get("/readyz").status_code == 200


def test_a_missing_artifact_is_refused_and_the_old_model_keeps_serving(
    served: TestClient, database_url: str, tmp_path: Path
) -> None:
    register(database_url, "v-missing", tmp_path / "gone", "sha256:" + "0" * 64, active=False)
    assert served.post("/v1/models/v-missing/activate").status_code == 409
    register(database_url, "v-missing-again", tmp_path / "gone", "sha256:" + "0" * 64, active=True)
    served.app.state.model_store.refresh()  # what the registry poll does
    assert post(served).json()["model_version"] == "v1"


def test_hot_swap_under_load_loses_no_request_and_mixes_no_versions(
    served: TestClient, database_url: str, artifacts: dict[str, tuple[Path, str]]
) -> None:
    register(database_url, "v2", *artifacts["v2"], active=False)
    expected = {}
    for name in ("v1", "v2"):
        model = LaunchForecaster.load(artifacts[name][0])
        point = model.predict([_query()], 6)[0].point
        expected[name] = np.round(point, 4).tolist()  # rounded as the service renders
    assert expected["v1"] != expected["v2"]
    seen: list[tuple[int, str | None, list[float]]] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            response = post(served)
            body = response.json()
            points = [p["forecast"] for p in body["forecasts"][0]["points"]]
            seen.append((response.status_code, body.get("model_version"), points))

    workers = [threading.Thread(target=hammer) for _ in range(3)]
    for worker in workers:
        worker.start()
    time.sleep(0.3)
    assert served.post("/v1/models/v2/activate").status_code == 200
    time.sleep(0.3)
    stop.set()
    for worker in workers:
        worker.join()
    assert seen and all(status == 200 for status, _, _ in seen)
    assert {version for _, version, _ in seen} == {"v1", "v2"}
    for _, version, points in seen:
        assert points == expected[str(version)]  # numbers from the version it names


def test_another_replica_notices_an_activation_within_seconds(
    served: TestClient,
    database_url: str,
    artifacts: dict[str, tuple[Path, str]],
    make_settings: Callable[..., Settings],
) -> None:
    register(database_url, "v2", *artifacts["v2"], active=False)
    with TestClient(create_app(make_settings(model_poll_seconds=0.1))) as replica:
        assert post(replica).json()["model_version"] == "v1"
        served.post("/v1/models/v2/activate")
        deadline = time.monotonic() + 5
        while post(replica).json()["model_version"] != "v2":
            assert time.monotonic() < deadline, "the replica did not switch"
            time.sleep(0.05)


def _query() -> Any:
    import datetime as dt

    from forecasting.types import ForecastQuery

    return ForecastQuery(launch_date=dt.date(2026, 7, 6), attributes=NEW["attributes"])


def test_the_short_path_answers_byte_for_byte_as_fastapis_own_path(
    served: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.api.routes import forecasts as route

    taken: list[bool] = []
    plain_request = route._plain_request

    async def spy(*args: Any) -> Any:
        arguments = await plain_request(*args)
        taken.append(arguments is not None)
        return arguments

    monkeypatch.setattr(route, "_plain_request", spy)
    bodies = [
        {"horizon": 6, "quantiles": [0.1, 0.9], "explain": True, "products": [NEW, NEW]},
        {"horizon": 3, "details": ["drivers", "curves"], "products": [NEW]},
        {"horizon": 6, "quantiles": [0.9, 0.9], "products": [NEW]},  # refused: 422
        {"horizon": 6, "products": [{"launch_date": "2026-07-06"}], "extra": 1},  # 422
    ]
    for body in bodies:
        taken.clear()
        text = json.dumps(body)
        short = served.post(
            "/v1/forecasts", content=text, headers={"Content-Type": "application/json"}
        )
        fastapi_path = served.post(
            "/v1/forecasts",
            content=text,
            headers={"Content-Type": "application/json; charset=utf-8"},  # FastAPI's path
        )
        assert taken == [short.status_code == 200, False]
        assert short.status_code == fastapi_path.status_code
        assert short.content == fastapi_path.content
        assert short.headers["content-type"] == fastapi_path.headers["content-type"]
