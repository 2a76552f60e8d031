"""Products and sales over HTTP: idempotent atomic upserts, and every bad input a named 4xx."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from store.settings import Settings
from tests.conftest import KEYS, visuelle_dir

PRODUCT = {
    "product_id": "SKU-1",
    "launch_date": "2024-03-04",
    "attributes": {"category": "dresses", "price": 29.9, "basic": False, "color": None},
}


def post_products(client: TestClient, *products: dict[str, Any]) -> Any:
    return client.post("/v1/products", json={"products": list(products)})


def post_sales(client: TestClient, *observations: dict[str, Any]) -> Any:
    return client.post("/v1/sales", json={"observations": list(observations)})


def sale(product_id: str = "SKU-1", date: str = "2024-03-04", quantity: Any = 5) -> dict[str, Any]:
    return {"product_id": product_id, "date": date, "quantity": quantity}


def assert_problem(response: Any, status: int, *fields: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    named = {error["field"] for error in body.get("errors", [])}
    for field in fields:
        assert field in named, (field, body)


def assert_catalogue_empty(client: TestClient) -> None:
    assert client.get("/v1/products").json()["products"] == []


def test_products_upsert_reports_inserted_then_updated(client: TestClient) -> None:
    assert post_products(client, PRODUCT).json() == {"inserted": 1, "updated": 0}
    assert post_products(client, PRODUCT).json() == {"inserted": 0, "updated": 1}
    stored = client.get("/v1/products/SKU-1").json()
    assert stored["attributes"] == PRODUCT["attributes"]
    assert stored["launch_date"] == "2024-03-04"


def test_sending_the_same_sales_twice_leaves_the_same_state(client: TestClient) -> None:
    post_products(client, PRODUCT)
    batch = [sale(date="2024-03-04", quantity=3), sale(date="2024-03-11", quantity=-1)]
    assert post_sales(client, *batch).json() == {"inserted": 2, "updated": 0}
    assert post_sales(client, *batch).json() == {"inserted": 0, "updated": 2}
    history = client.get("/v1/products/SKU-1/sales").json()["observations"]
    assert [o["quantity"] for o in history] == [3.0, -1.0]  # net returns stored as sent
    summary = client.get("/v1/products/SKU-1").json()
    assert summary["n_observations"] == 2
    assert (summary["first_sale_date"], summary["last_sale_date"]) == ("2024-03-04", "2024-03-11")


def test_a_batch_with_one_invalid_product_writes_nothing(client: TestClient) -> None:
    bad = {"product_id": "SKU-2", "launch_date": "2024-02-30"}
    assert_problem(post_products(client, PRODUCT, bad), 422, "products[1].launch_date")
    assert_catalogue_empty(client)


@pytest.mark.parametrize(
    ("product", "field"),
    [
        ({"launch_date": "2024-01-01"}, "products[0].product_id"),
        ({"product_id": ""}, "products[0].product_id"),
        ({"product_id": "x" * 129}, "products[0].product_id"),
        ({"product_id": "A", "launch_date": "04/03/2024"}, "products[0].launch_date"),
        ({"product_id": "A", "attributes": {"size": {"eu": 38}}}, "products[0].attributes.size"),
        ({"product_id": "A", "attributes": {"tags": ["a", "b"]}}, "products[0].attributes.tags"),
    ],
)
def test_invalid_products_answer_422_naming_the_field(
    client: TestClient, product: dict[str, Any], field: str
) -> None:
    assert_problem(post_products(client, product), 422, field)
    assert_catalogue_empty(client)


def test_a_128_character_id_is_accepted(client: TestClient) -> None:
    assert post_products(client, {"product_id": "x" * 128}).status_code == 200


def test_duplicate_ids_in_one_batch_are_refused(client: TestClient) -> None:
    response = post_products(client, PRODUCT, {**PRODUCT, "attributes": {}})
    assert_problem(response, 422, "products[1].product_id")
    assert_catalogue_empty(client)


def test_malformed_json_answers_422_problem_details(client: TestClient) -> None:
    response = client.post(
        "/v1/products", content=b'{"products": [', headers={"content-type": "application/json"}
    )
    assert_problem(response, 422, "body")


@pytest.mark.parametrize("path", ["/v1/products", "/v1/sales", "/v1/forecasts"])
def test_a_body_that_is_not_utf8_answers_422_naming_the_body(client: TestClient, path: str) -> None:
    response = client.post(
        path, content=b"\xc5\x9e\xff", headers={"content-type": "application/json"}
    )
    assert_problem(response, 422, "body")
    assert "not UTF-8 text at byte 2" in response.text
    assert_catalogue_empty(client)


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity", b'"five"'])
def test_non_finite_or_string_quantities_are_refused(client: TestClient, token: bytes) -> None:
    post_products(client, PRODUCT)
    body = b'{"observations": [{"product_id": "SKU-1", "date": "2024-03-04", "quantity": %s}]}'
    response = client.post(
        "/v1/sales", content=body % token, headers={"content-type": "application/json"}
    )
    assert_problem(response, 422, "observations[0].quantity")
    assert client.get("/v1/products/SKU-1").json()["n_observations"] == 0


def test_sales_of_unknown_products_are_refused_naming_each(client: TestClient) -> None:
    post_products(client, PRODUCT)
    response = post_sales(client, sale(), sale("NOPE-1"), sale("NOPE-2"))
    assert_problem(response, 422, "observations[1].product_id", "observations[2].product_id")
    assert "NOPE-2" in response.text
    assert client.get("/v1/products/SKU-1").json()["n_observations"] == 0


def test_a_sale_before_launch_is_refused(client: TestClient) -> None:
    post_products(client, PRODUCT)
    assert_problem(post_sales(client, sale(date="2024-03-03")), 422, "observations[0].date")
    assert client.get("/v1/products/SKU-1").json()["n_observations"] == 0


def test_a_product_without_launch_date_accepts_any_sale_date(client: TestClient) -> None:
    post_products(client, {"product_id": "NOLAUNCH"})
    assert post_sales(client, sale("NOLAUNCH", "2020-01-01")).status_code == 200


def test_a_product_without_launch_date_reads_its_first_sales_date_as_its_launch(
    client: TestClient,
) -> None:
    # The contract: when launch_date is absent, the first sale's date is used.
    post_products(client, {"product_id": "NOLAUNCH"})
    assert client.get("/v1/products/NOLAUNCH").json()["launch_date"] is None
    post_sales(client, sale("NOLAUNCH", "2020-01-08"), sale("NOLAUNCH", "2020-01-01"))
    read = client.get("/v1/products/NOLAUNCH").json()
    assert read["launch_date"] == read["first_sale_date"] == "2020-01-01"
    listed = client.get("/v1/products").json()["products"]
    assert [p["launch_date"] for p in listed if p["product_id"] == "NOLAUNCH"] == ["2020-01-01"]


def test_duplicate_sales_keys_in_one_batch_are_refused(client: TestClient) -> None:
    post_products(client, PRODUCT)
    assert_problem(post_sales(client, sale(), sale(quantity=9)), 422, "observations[1].date")


def error_fields(response: Any) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


def test_a_batch_422_names_field_errors_and_unknown_ids_together(client: TestClient) -> None:
    post_products(client, PRODUCT)
    response = post_sales(
        client, sale(date="2024-02-30"), sale("NOPE-1"), sale(date="2024-03-03"), sale()
    )
    assert_problem(response, 422)
    # Every invalid item, in item order; the valid one (the last) is not named.
    assert error_fields(response) == [
        "observations[0].date",
        "observations[1].product_id",
        "observations[2].date",
    ]
    assert "NOPE-1" in response.text and "before the launch" in response.text
    assert client.get("/v1/products/SKU-1").json()["n_observations"] == 0


def test_a_batch_422_names_field_errors_and_duplicates_together(client: TestClient) -> None:
    bad = {"product_id": "SKU-2", "launch_date": "2024-02-30"}
    response = post_products(client, PRODUCT, PRODUCT, bad)
    assert_problem(response, 422)
    assert error_fields(response) == ["products[1].product_id", "products[2].launch_date"]
    assert_catalogue_empty(client)


def test_a_duplicate_after_an_invalid_item_names_the_first_by_its_place_in_the_batch(
    client: TestClient,
) -> None:
    bad = {"product_id": "SKU-2", "launch_date": "2024-02-30"}
    response = post_products(client, bad, PRODUCT, PRODUCT)
    assert error_fields(response) == ["products[0].launch_date", "products[2].product_id"]
    assert "duplicate of products[1].product_id" in response.json()["errors"][1]["message"]
    assert_catalogue_empty(client)


def test_a_batch_with_field_errors_only_answers_as_before(client: TestClient) -> None:
    post_products(client, PRODUCT)
    response = post_sales(client, sale(date="2024-02-30"), sale())
    assert_problem(response, 422)
    assert response.json()["detail"] == "invalid fields: observations[0].date"
    assert error_fields(response) == ["observations[0].date"]


def test_an_invalid_batch_from_a_key_without_the_write_role_is_403_and_checks_nothing(
    auth_client: TestClient,
) -> None:
    response = auth_client.post(
        "/v1/sales",
        json={"observations": [sale(date="2024-02-30"), sale("NOPE-1")]},
        headers={"X-API-Key": KEYS["read"]},
    )
    assert_problem(response, 403)
    assert "NOPE-1" not in response.text


def test_an_over_limit_batch_with_a_field_error_is_refused_writing_nothing(
    make_settings: Callable[..., Settings],
) -> None:
    with TestClient(create_app(make_settings(max_batch_items=3))) as small:
        products = [{"product_id": f"P{i}"} for i in range(4)] + [{"product_id": ""}]
        response = post_products(small, *products)
        assert_problem(response, 422, "products[4].product_id")
        # The contract's limit is in `detail` whatever else is wrong with the batch.
        assert "the limit is 3" in response.json()["detail"]
        assert "products" in [e["field"] for e in response.json()["errors"]]
        assert_catalogue_empty(small)


def test_an_oversized_body_answers_413(make_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(make_settings(max_body_bytes=2048))) as small:
        products = [{"product_id": f"P{i}", "attributes": {"note": "x" * 50}} for i in range(100)]
        response = post_products(small, *products)
        assert_problem(response, 413)
        assert_catalogue_empty(small)


def test_too_many_items_answer_422_with_the_limit(make_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(make_settings(max_batch_items=3))) as small:
        response = post_products(small, *({"product_id": f"P{i}"} for i in range(4)))
        assert_problem(response, 422)
        assert "3" in response.json()["detail"]
        assert_catalogue_empty(small)


def test_listing_pages_through_the_catalogue_with_a_cursor(client: TestClient) -> None:
    post_products(client, *({"product_id": f"P{i:02d}"} for i in range(5)))
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/products", params=params).json()
        seen += [p["product_id"] for p in page["products"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"P{i:02d}" for i in range(5)]


def test_a_garbage_cursor_is_a_422_not_a_500(client: TestClient) -> None:
    assert_problem(client.get("/v1/products", params={"cursor": "%%%"}), 422, "cursor")


def test_deleting_a_product_removes_its_sales(client: TestClient) -> None:
    post_products(client, PRODUCT)
    post_sales(client, sale())
    assert client.delete("/v1/products/SKU-1").status_code == 204
    assert_problem(client.get("/v1/products/SKU-1"), 404)
    assert_problem(client.get("/v1/products/SKU-1/sales"), 404)
    assert_problem(client.delete("/v1/products/SKU-1"), 404)


def test_sales_can_be_filtered_by_date(client: TestClient) -> None:
    post_products(client, PRODUCT)
    post_sales(client, *(sale(date=f"2024-03-{d:02d}") for d in (4, 11, 18)))
    got = client.get(
        "/v1/products/SKU-1/sales", params={"start": "2024-03-05", "end": "2024-03-18"}
    )
    assert [o["date"] for o in got.json()["observations"]] == ["2024-03-11", "2024-03-18"]


VISUELLE = visuelle_dir()


@pytest.mark.slow
@pytest.mark.skipif(not VISUELLE.exists(), reason="no VISUELLE data (LAUNCHCAST_VISUELLE_DIR)")
def test_visuelle_imports_completely_over_the_api(client: TestClient, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the CLI test covers PostgreSQL; one backend is enough over HTTP")
    products = pd.read_csv(VISUELLE / "products.csv", dtype=str)
    sales = pd.read_csv(VISUELLE / "sales.csv", dtype={"product_id": str})
    product_items = [
        {
            "product_id": row.pop("product_id"),
            "launch_date": row.pop("launch_date"),
            "attributes": row,
        }
        for row in products.to_dict("records")
    ]
    inserted = 0
    for start in range(0, len(product_items), 5000):
        inserted += post_products(client, *product_items[start : start + 5000]).json()["inserted"]
    assert inserted == 5080
    observations = sales.to_dict("records")
    inserted = 0
    for start in range(0, len(observations), 10_000):
        response = post_sales(client, *observations[start : start + 10_000])
        assert response.status_code == 200, response.text[:500]
        inserted += response.json()["inserted"]
    assert inserted == 60960
    assert client.get("/v1/products/V1").json()["n_observations"] == 12
