"""The planner's page at a phone's width and a desktop's, and what Back brings back.

The live server and the browser are test_pages_browser's fixtures (imported, so this module gets
a server of its own). At 375 px wide nothing may push the page sideways: a table wider than the
screen scrolls inside its own box, and a 60-character product id wraps instead of widening it.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.test_forecast_api import CATALOGUE
from tests.test_pages_browser import (
    Offline,
    artifacts,
    browser,
    expect,
    forecast_new_product,
    screenshot,
    server,
)

__all__ = ["artifacts", "browser", "server"]  # fixtures used below by name

# A catalogue id with nowhere to break (no space, no hyphen): 60 characters.
LONG_ID = "SS26_WOMENS_OUTERWEAR_TRENCH_COAT_DOUBLEBREASTED_BEIGE_00042"

# The page's width, the viewport's, and what sticks out past the viewport outside any box that
# scrolls sideways (for the failure message), outermost first.
MEASURE = """() => {
  const width = window.innerWidth;
  const scrolls = (el) => getComputedStyle(el).overflowX !== "visible";
  const held = (el) => {
    for (let up = el.parentElement; up; up = up.parentElement) if (scrolls(up)) return true;
    return false;
  };
  const over = [];
  for (const el of document.body.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    const parent = el.parentElement.getBoundingClientRect();
    if (box.width && box.right > width + 0.5 && box.right > parent.right + 0.5 && !held(el)) {
      const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
        (typeof el.className === "string" && el.className ? "." + el.className : "");
      over.push(`${name} to ${Math.round(box.right)} px`);
    }
  }
  // A table wider than its box must scroll in it, not be cut off.
  const cut = [...document.querySelectorAll("table")]
    .filter((t) => t.offsetParent && t.scrollWidth > t.clientWidth + 1 && !scrolls(t))
    .map((t) => t.id);
  return { page: document.documentElement.scrollWidth, viewport: width, over, cut };
}"""


def assert_no_sideways_scroll(page: Any, when: str) -> None:
    measured: dict[str, Any] = page.evaluate(MEASURE)
    assert measured["page"] <= measured["viewport"] and not measured["cut"], (
        when,
        json.dumps(measured, indent=1),
    )


def post(server: str, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        server + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.fixture(scope="module")
def long_id(server: str) -> str:
    """A catalogue product with a 60-character id: P00001's attributes and sales under it.

    It is not in the model's catalogue (the model was trained before it came), so it can be
    forecast and pinned, but a forecast with it pinned is refused naming it.
    """
    assert len(LONG_ID) == 60
    products, sales = CATALOGUE
    first = products.iloc[0]
    own = sales[sales["product_id"] == first["product_id"]]
    launch = first["launch_date"].date().isoformat()
    product = {"product_id": LONG_ID, "launch_date": launch, "attributes": first["attributes"]}
    post(server, "/v1/products", {"products": [product]})
    observations = [
        {"product_id": LONG_ID, "date": day.date().isoformat(), "quantity": float(quantity)}
        for day, quantity in zip(own["date"], own["quantity"], strict=True)
    ]
    post(server, "/v1/sales", {"observations": observations})
    return LONG_ID


def sized(browser: Any, width: int, height: int) -> Iterator[Offline]:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield Offline(page)
    context.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Offline]:
    yield from sized(browser, 375, 812)


@pytest.fixture
def desktop(browser: Any) -> Iterator[Offline]:
    yield from sized(browser, 1280, 900)


# The forecast chart's viewBox, the smallest height on screen of its tick labels, and how many
# periods its x-axis labels.
CHART_TEXT = """() => {
  const svg = document.querySelector("#forecast-chart svg");
  const ticks = [...svg.querySelectorAll("text.tick")];
  return {
    viewBox: svg.getAttribute("viewBox"),
    smallest: Math.min(...ticks.map((t) => t.getBoundingClientRect().height)),
    periods: ticks.filter((t) => t.getAttribute("text-anchor") === "middle").length,
  };
}"""


def forecast_and_pin(page: Any, long_id: str) -> Any:
    """A new product's forecast, its numbers table open, the long id pinned (not re-forecast)."""
    forecast_new_product(page)
    expect(page.locator("#analogues tbody tr")).not_to_have_count(0)
    page.get_by_text("The numbers as a table").click()
    page.get_by_label("Pin another product").fill(long_id)
    page.get_by_role("button", name="Pin", exact=True).click()
    row = page.locator(f'#analogues tr[data-product-id="{long_id}"]')
    expect(row.locator(".about")).to_contain_text("launched")
    page.get_by_role("button", name="Add to comparison").click()
    expect(page.locator("#compare-table tbody tr")).to_have_count(1)
    return row


def test_at_a_phones_width_nothing_scrolls_the_page_sideways(
    server: str, long_id: str, phone: Offline
) -> None:
    page = phone.page
    page.goto(f"{server}/app")
    expect(page.get_by_label("category", exact=True)).to_be_visible()
    assert_no_sideways_scroll(page, "the empty page (the header's key form)")

    row = forecast_and_pin(page, long_id)
    assert_no_sideways_scroll(page, "a forecast with the long id pinned")
    # The chart is drawn at the phone's width, not 760 wide and scaled to 43%: its tick
    # labels show at their 11 px (about 13 px high), not at 5.
    chart = page.evaluate(CHART_TEXT)
    width = page.locator("#forecast-chart").evaluate("c => c.clientWidth")
    assert chart["viewBox"] == f"0 0 {width} 300" and chart["smallest"] >= 9, (width, chart)
    # The id wraps inside its cell, which the screen shows whole before any scrolling.
    cell = row.locator("td").first
    box = cell.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375, box
    assert cell.evaluate("c => c.scrollWidth <= c.clientWidth")
    screenshot(page, "app-phone-pinned")

    # Re-forecast: the model does not know it, and the message naming it wraps.
    page.get_by_role("button", name="Re-forecast").click()
    problem = page.locator("#problem")
    expect(problem).to_contain_text(long_id)
    assert_no_sideways_scroll(page, "the problem naming the long id")
    assert problem.evaluate("p => p.scrollWidth <= p.clientWidth")

    # The long id as the catalogue product forecast, compared under its id.
    page.get_by_label("a catalogue product").check()
    page.get_by_label("Product id").fill(long_id)
    page.get_by_role("button", name="Forecast", exact=True).click()
    expect(page.locator("#result-summary")).to_contain_text("category=outerwear")
    page.get_by_role("button", name="Add to comparison").click()
    expect(page.locator("#compare-legend")).to_contain_text(long_id)
    assert_no_sideways_scroll(page, "a catalogue forecast of the long id, compared")
    screenshot(page, "app-phone-catalogue")
    assert phone.blocked == [] and phone.failed == []


def test_at_a_desktops_width_the_layout_keeps_its_shape_with_a_long_id(
    server: str, long_id: str, desktop: Offline
) -> None:
    page = desktop.page
    page.goto(f"{server}/app")
    row = forecast_and_pin(page, long_id)
    assert_no_sideways_scroll(page, "a forecast with the long id pinned, at 1280 px")
    # The key form is one line; the analogues and the drivers sit side by side.
    tops = page.locator("#key-form > :is(label, input, button)").evaluate_all(
        "els => els.map((e) => Math.round(e.getBoundingClientRect().top + e.offsetHeight / 2))"
    )
    assert max(tops) - min(tops) <= 2, tops
    analogues, drivers = (page.locator(".columns > section").nth(i).bounding_box() for i in (0, 1))
    assert analogues["x"] + analogues["width"] <= drivers["x"]
    assert analogues["y"] == pytest.approx(drivers["y"], abs=1)
    # The tables are still tables filling their column; the long id wraps in its cell.
    table = page.locator("#analogues")
    assert table.evaluate("t => getComputedStyle(t).display") == "table"
    assert table.bounding_box()["width"] == pytest.approx(analogues["width"], abs=1)
    assert row.locator("td").first.bounding_box()["width"] < analogues["width"] / 2
    # The chart as before: 760 units wide, scaled up to the column, its ticks at 11 px or more.
    chart = page.evaluate(CHART_TEXT)
    assert chart["viewBox"] == "0 0 760 300" and chart["smallest"] >= 13, chart
    assert chart["periods"] == 12, chart  # every one of the 12 periods labelled
    # Narrowed to a phone's width, the chart is drawn again at that width.
    page.set_viewport_size({"width": 375, "height": 900})
    svg = page.locator("#forecast-chart svg")
    expect(svg).not_to_have_attribute("viewBox", "0 0 760 300")
    chart = page.evaluate(CHART_TEXT)
    assert chart["smallest"] >= 9, chart
    assert_no_sideways_scroll(page, "the desktop's page narrowed to 375 px")
    assert desktop.blocked == [] and desktop.failed == []


def test_back_does_not_bring_stale_values_into_the_form(server: str, desktop: Offline) -> None:
    page = desktop.page
    page.goto(f"{server}/app")
    forecast_new_product(page)
    expect(page.locator("#order")).to_contain_text("90% service level")
    page.get_by_label("Service level").select_option("0.8")
    expect(page.locator("#order")).to_contain_text("80% service level")
    page.locator("#horizon").fill("20")
    page.get_by_label("First periods of sales").fill("40, 55")
    page.evaluate("window.sameDocument = true")  # survives only a back-forward cache restore
    # Leaving with a request in flight aborts it (net::ERR_ABORTED), which `failed` would count.
    page.wait_for_load_state("networkidle")
    page.get_by_role("link", name="Swagger UI").click()
    page.wait_for_url("**/docs")
    expect(page.locator(".opblock")).not_to_have_count(0)
    page.wait_for_load_state("networkidle")  # Swagger UI's favicon too, or Back aborts it
    page.go_back()
    page.wait_for_url("**/app")
    expect(page.get_by_label("category", exact=True)).to_be_visible()
    if page.evaluate("window.sameDocument === true"):
        # The very page came back (bfcache): what it shows is what its form says.
        expect(page.locator("#order")).to_contain_text("80% service level")
        assert page.get_by_label("Service level").input_value() == "0.8"
    else:
        # A fresh page: no forecast shown, and every control at its default.
        expect(page.locator("#result")).to_be_hidden()
        values = {
            "service level": page.get_by_label("Service level").input_value(),
            "horizon": page.locator("#horizon").input_value(),
            "history": page.get_by_label("First periods of sales").input_value(),
            "category": page.get_by_label("category", exact=True).input_value(),
            "color": page.get_by_label("color", exact=True).input_value(),
            "mode": page.locator('input[name="mode"]:checked').get_attribute("value"),
        }
        assert values == {
            "service level": "0.9",
            "horizon": "12",
            "history": "",
            "category": "",
            "color": "",
            "mode": "new",
        }
    assert desktop.blocked == [] and desktop.failed == []
