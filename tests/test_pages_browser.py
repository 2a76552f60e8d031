"""The pages in a real headless Chromium with the network off: /docs, /redoc and /app.

One browser for the module and one live server (uvicorn in a thread, a small trained model on
SQLite); every request that leaves 127.0.0.1 is aborted and recorded, so a page that needs the
internet fails here. Screenshots go to tests/artifacts/screenshots/ (not committed); with
LAUNCHCAST_README_SCREENSHOT=1 the forecast one also replaces docs/app.png (the README's).
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn

from service.app import create_app
from store import migrations, registry
from store.ingest import import_frames
from store.session import get_sessionmaker
from store.settings import Settings
from tests.conftest import new_database
from tests.test_forecast_api import CATALOGUE, artifacts, register

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

__all__ = ["artifacts"]  # fixtures used below by name

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).parent / "artifacts" / "screenshots"
README_SCREENSHOT = Path(__file__).parent.parent / "docs" / "app.png"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

if not CHROMIUM.exists():
    # CI installs it (`make install`); say so rather than pass silently anywhere else.
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: run `make install` (it installs chromium)")
    pytest.skip(f"{CHROMIUM} is missing: `make install` installs it", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# The part of a training run's metrics the page reads (training/job.py records them all).
BACKTEST = {
    "n_test": 401,
    "launch_steps": 12,
    "served_method": "gbm",
    "methods": {
        "served": {
            "wape": 50.7,
            "coverage": 0.822,
            "bias": -38.4,
            "total_coverage": 0.853,
            "total_service_levels": {"0.8": 0.781, "0.9": 0.874, "0.95": 0.926},
        },
        # What answers once the planner pins or excludes analogues (the served gbm ignores them).
        "neighbours": {
            "wape": 61.2,
            "coverage": 0.71,
            "bias": -12.0,
            "total_coverage": 0.74,
            "total_service_levels": {"0.8": 0.702, "0.9": 0.812, "0.95": 0.861},
        },
    },
    # The statistical path's backtest (established products, their last 12 weeks held out).
    "statistical": {
        "n_products": 82,
        "horizon": 12,
        "wape": 31.5,
        "naive_wape": 36.0,
        "coverage": 0.79,
    },
    "warmup": {
        str(k): {
            "observed_steps": k,
            "scored_steps": [k + 1, 12],
            "cold_wape": 53.0 + k,
            # a bias within 5% goes unsaid; no total coverage (an older model's metrics)
            "warm": {"wape": 40.0 - k, "coverage": 0.80 - k / 100, "bias": -3.0},
        }
        for k in (1, 2, 4)
    },
}


@pytest.fixture(scope="module")
def server(
    artifacts: dict[str, tuple[Path, str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A live service on a free port: the synthetic catalogue and model v1, no API keys."""
    tmp = tmp_path_factory.mktemp("browser")
    url, drop = new_database("sqlite", tmp)
    migrations.upgrade(url)
    with get_sessionmaker(url)() as session:
        import_frames(session, *CATALOGUE)
        session.commit()
    register(url, "v1", *artifacts["v1"], active=True)
    with get_sessionmaker(url)() as session:  # the backtest figures a training run records
        version = registry.get_version(session, "v1")
        assert version is not None
        version.metrics = BACKTEST
        session.commit()
    app = create_app(Settings(database_url=url, artifact_dir=tmp / "artifacts"))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    started = threading.Event()
    # uvicorn sets `started` once it listens; wait on it without a fixed sleep.
    for _ in range(600):
        if server.started or not thread.is_alive():
            break
        started.wait(0.05)
    assert server.started, "the live server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    drop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


class Offline:
    """A page whose requests beyond this machine are aborted and remembered."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.blocked: list[str] = []  # tried to reach beyond this machine
        self.failed: list[str] = []  # anything else that went wrong
        page.route("**/*", self._route)
        page.on("requestfailed", self._failed)
        page.on("pageerror", lambda error: self.failed.append(f"script error: {error}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        # An error the console reports (a style attribute the page's CSP refuses, say), but not
        # a request's: those are requestfailed's, or answers a test asked for (a 404, a 422).
        text = message.text
        if message.type != "error" or text.startswith("Failed to load resource"):
            return
        if text.startswith("Loading the ") and "Content Security Policy" in text:
            return  # a load the CSP refused: requestfailed judges it
        self.failed.append(f"console error: {text}")

    def _failed(self, request: Any) -> None:
        # Refused by the page's Content-Security-Policy: the browser never asked the network
        # (ReDoc's footer logo on a CDN; ReDoc hides it). Anything else is a failure.
        if (request.failure or "") not in ("csp", "net::ERR_BLOCKED_BY_CSP"):
            self.failed.append(f"{request.url}: {request.failure}")

    def _route(self, route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort("internetdisconnected")


@pytest.fixture
def offline(browser: Any) -> Iterator[Offline]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield Offline(page)
    context.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_swagger_ui_renders_the_operations_offline(server: str, offline: Offline) -> None:
    page = offline.page
    page.goto(f"{server}/docs")
    expect(page.get_by_text("/v1/forecasts").first).to_be_visible()
    expect(page.locator(".opblock")).not_to_have_count(0)
    screenshot(page, "docs")
    assert offline.blocked == [] and offline.failed == []


def test_redoc_renders_the_operations_offline(server: str, offline: Offline) -> None:
    page = offline.page
    page.goto(f"{server}/redoc")
    expect(
        page.get_by_role(
            "heading", name="Forecast a batch of products (new, warming up or established)"
        )
    ).to_be_visible()
    screenshot(page, "redoc")
    assert offline.blocked == [] and offline.failed == []


# An element's text colour against the first background behind it (WCAG contrast ratio), and
# its font size beside the body's.
LEGIBILITY = """(el) => {
  const lum = (css) => {
    const [r, g, b] = css.match(/[\\d.]+/g).slice(0, 3).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  let back = el;
  while (back.parentElement && getComputedStyle(back).backgroundColor === "rgba(0, 0, 0, 0)") {
    back = back.parentElement;
  }
  const [hi, lo] = [lum(getComputedStyle(el).color), lum(getComputedStyle(back).backgroundColor)]
    .sort((a, b) => b - a);
  const size = (e) => parseFloat(getComputedStyle(e).fontSize);
  return { contrast: (hi + 0.05) / (lo + 0.05), size: size(el), body: size(document.body) };
}"""


def assert_small_and_legible(locator: Any) -> None:
    """Small text (smaller than the body's) with a contrast of at least 4.5:1 (WCAG AA)."""
    measured = locator.evaluate(LEGIBILITY)
    assert measured["contrast"] >= 4.5 and measured["size"] < measured["body"], measured


def forecast_new_product(page: Any, color: str = "red") -> None:
    page.get_by_label("category", exact=True).select_option("tops")
    page.get_by_label("color", exact=True).select_option(color)
    page.get_by_label("Launch date").fill("2026-08-03")
    page.get_by_role("button", name="Forecast", exact=True).click()


def forecast_line(page: Any) -> Any:
    return page.locator("#forecast-chart [data-series=forecast] path.line")


def test_the_planners_page_loads_offline_and_draws_a_forecast(
    server: str, offline: Offline
) -> None:
    page = offline.page
    page.goto(f"{server}/app")
    expect(page.get_by_label("category", exact=True)).to_be_visible()
    forecast_new_product(page)
    expect(page.get_by_role("img", name="Forecast chart: category=tops")).to_be_visible()
    expect(forecast_line(page)).to_have_count(1)
    expect(page.locator("#forecast-chart [data-series=band] path")).to_have_count(1)
    expect(page.get_by_role("button", name="Download CSV")).to_be_enabled()
    # The forecast and its band set the y-axis, not one analogue's peak (here one analogue
    # peaks at 231 units, the band's top is 131): the band's top is in the upper 40% of the
    # plot (y 14 to 260 in the chart's 300-high viewBox; 132 when the analogue set the axis),
    # and the legend says which analogue lines are cut at the top.
    band_top = page.evaluate(
        "document.querySelector('#forecast-chart [data-series=band] path').getBBox().y"
    )
    assert band_top < 14 + 0.4 * (260 - 14), band_top
    expect(page.locator("#forecast-legend")).to_contain_text("above the scale")
    marks = page.locator("#forecast-chart .clip-mark")
    expect(marks).not_to_have_count(0)
    # The marks take the analogues' colour from app.css (a style attribute is refused by the
    # page's CSP: Offline fails the test on the console error), and the note is small text.
    assert marks.first.get_attribute("style") is None
    assert marks.first.evaluate("m => getComputedStyle(m).fill") == "rgb(109, 116, 130)"
    assert_small_and_legible(page.locator("#forecast-legend .clip-note"))
    # The drivers name the attributes the planner left unset as such.
    labels = page.locator("#drivers .bar-label")
    expect(labels.filter(has_text="material (not set)")).to_have_count(1)
    expect(labels.filter(has_text="color (not set)")).to_have_count(0)
    # How far to trust it: the active model's backtest, in a sentence.
    expect(page.locator("#trust")).to_contain_text("How far to trust it")
    expect(page.locator("#trust")).to_contain_text(
        "on 401 products launched after the ones it learnt from, gbm forecasts were off by "
        "50.7% of their sales over 12 weeks (WAPE)"
    )
    # ... how far its points sum from what sold, and how often its band held weeks and totals.
    expect(page.locator("#trust")).to_contain_text(
        "summed, they came to 38% less than was sold; its 10\u201390% band held 82% of the "
        "actual weeks, and its band for a product's total held 85% of the totals."
    )
    # The summary gives the total over the periods shown, with the total's own band.
    expect(page.locator("#result-summary")).to_contain_text(
        re.compile(r"units over periods 1 to 12 \(10\u201390%: [\d,.]+ to [\d,.]+\), method gbm\.")
    )
    # ... and the warnings list them on one line, not one warning each.
    warnings = page.locator("#result-summary .warnings li")
    expect(warnings.filter(has_text="not set, so treated as unknown:")).to_have_count(1)
    expect(warnings.filter(has_text="material")).to_have_count(1)
    expect(warnings.filter(has_text="is missing")).to_have_count(0)
    timing = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0].toJSON())")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "app-navigation-timing.json").write_text(timing)
    shot = screenshot(page, "app-forecast")
    if os.environ.get("LAUNCHCAST_README_SCREENSHOT"):  # refresh docs/app.png on request only
        README_SCREENSHOT.write_bytes(shot.read_bytes())
    assert json.loads(timing)["loadEventEnd"] > 0
    assert offline.blocked == [] and offline.failed == []


def test_a_forecast_that_saw_its_first_weeks_is_trusted_as_the_backtests_warm_ups_were(
    server: str, offline: Offline
) -> None:
    page = offline.page
    page.goto(f"{server}/app")
    page.get_by_label("First periods of sales").fill("40, 55, 61")
    forecast_new_product(page)
    # Three weeks seen: the backtest's warm-ups after 2 (the most it scored, not beyond 3).
    expect(page.locator("#trust")).to_contain_text(
        "forecast with their first 2 weeks seen, were off by 38% of their sales in weeks 3\u201312 "
        "(WAPE; 55% forecast before launch); its 10\u201390% band held 78% of the actual weeks."
    )
    # The order line has no backtest figure where the metrics hold none (these warm-ups').
    expect(page.locator("#order")).to_contain_text("at a 90% service level, order")
    expect(page.locator("#order")).not_to_contain_text("In the backtest")
    # Twelve weeks seen (the backtest's launch_steps): the service still forecasts a launch
    # (gbm), so the trust line quotes the warm-ups, not the established products' figures.
    history = ", ".join(str(40 - n) for n in range(12))
    page.get_by_label("First periods of sales").fill(history)
    page.get_by_role("button", name="Forecast", exact=True).click()
    expect(page.locator("#result-summary")).to_contain_text("periods 13 to 24")
    expect(page.locator("#trust")).to_contain_text("forecast with their first 4 weeks seen")
    expect(page.locator("#trust")).to_contain_text(
        "These figures are for weeks 5\u201312 only; this forecast covers weeks 13\u201324."
    )
    expect(page.locator("#trust")).not_to_contain_text("established")
    page.get_by_label("First periods of sales").fill("")
    page.get_by_role("button", name="Forecast", exact=True).click()
    expect(page.locator("#trust")).to_contain_text("gbm forecasts were off by 50.7%")
    assert offline.blocked == [] and offline.failed == []


def test_the_order_for_a_service_level_is_the_totals_quantile_at_that_level(
    server: str, offline: Offline
) -> None:
    page = offline.page
    page.goto(f"{server}/app")
    order = page.locator("#order")
    # A service level chosen while the first forecast is on its way: the order line, once the
    # forecast shows, is for that level (the first answer, held here until then, lacks it).
    held: list[Any] = []
    page.route("**/v1/forecasts", lambda route: route.fallback() if held else held.append(route))
    forecast_new_product(page)
    while not held:
        page.wait_for_timeout(20)
    page.get_by_label("Service level").select_option("0.8")
    held[0].fallback()
    expect(order).to_contain_text("To cover the total demand at an 80% service level")
    expect(order).to_contain_text("covered 78% of the launches' totals over weeks 1\u201312.")
    page.unroute("**/v1/forecasts")
    page.get_by_label("Service level").select_option("0.9")
    # 90%: the total's 90% quantile, the upper end of its 10-90% band.
    expect(order).to_contain_text(
        re.compile(r"To cover the total demand at a 90% service level, order [\d,.]+ units")
    )
    expect(order).to_contain_text("covered 87% of the launches' totals over weeks 1\u201312.")
    summary = page.locator("#result-summary").inner_text()
    upper = re.search(r"10\u201390%: [\d,.]+ to ([\d,.]+)\)", summary)
    at_90 = re.search(r"order ([\d,.]+) units", order.inner_text())
    assert upper and at_90 and upper.group(1) == at_90.group(1)
    # A higher service level asks the service again and orders more.
    page.get_by_label("Service level").select_option("0.95")
    expect(order).to_contain_text("at a 95% service level")
    expect(order).to_contain_text("covered 93% of the launches' totals over weeks 1\u201312.")
    at_95 = re.search(r"order ([\d,.]+) units", order.inner_text())
    assert at_95 and float(at_95.group(1).replace(",", "")) > float(at_90.group(1).replace(",", ""))
    assert offline.blocked == [] and offline.failed == []


def test_an_established_product_is_told_why_it_gets_no_order_quantity(
    server: str, offline: Offline
) -> None:
    sales = CATALOGUE[1]
    longest = str(sales.groupby("product_id").size().idxmax())
    page = offline.page
    page.goto(f"{server}/app")
    page.get_by_label("a catalogue product").check()
    page.get_by_label("Product id").fill(longest)
    page.get_by_label("use its sales so far").check()
    page.get_by_role("button", name="Forecast", exact=True).click()
    # The statistical path's first answer can take seconds on a loaded machine: the action
    # timeout (20 s), not expect's 5 s default.
    expect(page.locator("#result-summary")).to_contain_text("method statistical:", timeout=20_000)
    expect(page.locator("#order")).to_contain_text(
        "No order quantity for an established product yet"
    )
    # No drivers because its own sales history answered, not because of the key or the model.
    drivers = page.locator("#drivers-summary")
    expect(drivers).to_contain_text("its own sales history")
    expect(drivers).not_to_contain_text("this key or this model")
    expect(page.locator("#analogues tbody")).to_contain_text("borrows from no analogues")
    expect(page.locator("#trust")).to_contain_text(
        "on 82 established products with their last 12 weeks held out, forecasts were off by 31.5%"
    )
    assert offline.blocked == [] and offline.failed == []


def test_comparing_two_variants_shows_two_lines(server: str, offline: Offline) -> None:
    page = offline.page
    page.goto(f"{server}/app")
    forecast_new_product(page, color="red")
    expect(forecast_line(page)).to_have_count(1)
    page.get_by_role("button", name="Add to comparison").click()
    lines = page.locator("#compare-chart path.line")
    expect(lines).to_have_count(1)
    # The same forecast again would draw exactly over its line: refused, naming the variant.
    page.get_by_role("button", name="Add to comparison").click()
    expect(page.locator("#status")).to_contain_text("same forecast as variant 1")
    expect(page.locator("#compare-table tbody tr")).to_have_count(1)
    first = forecast_line(page).get_attribute("d")
    forecast_new_product(page, color="black")
    expect(forecast_line(page)).not_to_have_attribute("d", first or "")
    page.get_by_role("button", name="Add to comparison").click()
    expect(lines).to_have_count(2)
    expect(page.get_by_role("img", name="Variants compared: 2 forecasts")).to_be_visible()
    # The same product over 20 weeks: the names say which horizon is which.
    second = forecast_line(page).get_attribute("d")
    page.locator("#horizon").fill("20")
    page.get_by_role("button", name="Forecast", exact=True).click()
    expect(forecast_line(page)).not_to_have_attribute("d", second or "")
    page.get_by_role("button", name="Add to comparison").click()
    expect(lines).to_have_count(3)
    expect(page.get_by_label("name of variant 2")).to_have_value(re.compile(r"; 12 weeks$"))
    third = page.get_by_label("name of variant 3")
    expect(third).to_have_value(re.compile(r"; 20 weeks$"))
    expect(page.locator("#compare-legend")).to_contain_text("20 weeks")
    # Each total says which weeks it sums.
    expect(page.get_by_role("columnheader", name="Weeks")).to_be_visible()
    spans = page.locator("#compare-table tbody td.periods")
    expect(spans).to_have_text(["1\u201312", "1\u201312", "1\u201320"])
    # The name box shows the whole name, horizon included (and hovering shows it too).
    assert third.evaluate("i => i.scrollWidth <= i.clientWidth"), third.input_value()
    expect(third).to_have_attribute("title", third.input_value())
    screenshot(page, "app-variants")
    # By keyboard: renaming and tabbing on lands on the row's Remove button, and removing a
    # variant leaves the focus on the Remove button now in its place.
    third.press("End")
    third.press_sequentially(", blue")
    third.press("Tab")
    expect(page.get_by_role("button", name="Remove variant 3")).to_be_focused()
    expect(page.locator("#compare-legend")).to_contain_text("20 weeks, blue")
    page.get_by_role("button", name="Remove variant 2").focus()
    page.keyboard.press("Enter")
    expect(lines).to_have_count(2)
    expect(page.get_by_role("button", name="Remove variant 2")).to_be_focused()
    expect(page.get_by_label("name of variant 2")).to_have_value(re.compile(r"20 weeks, blue$"))
    assert offline.blocked == [] and offline.failed == []


def test_excluding_an_analogue_changes_the_forecast(server: str, offline: Offline) -> None:
    page = offline.page
    page.goto(f"{server}/app")
    forecast_new_product(page)
    rows = page.locator("#analogues tbody tr")
    expect(rows).not_to_have_count(0)
    # Each analogue says what it is, so the planner can judge it before pinning or excluding.
    expect(rows.nth(0).locator(".about")).to_contain_text("launched 20")
    first, second = (rows.nth(i).get_attribute("data-product-id") for i in (0, 1))
    # The planner keeps two like items, then drops one of them. (An exclusion alone changes
    # only the neighbour forecast: the served gbm method ignores it, see test_planner_api.)
    page.get_by_role("button", name=f"Pin {first}").click()
    page.get_by_role("button", name=f"Pin {second}").click()
    page.get_by_role("button", name="Re-forecast").click()
    expect(page.get_by_role("cell", name=f"{second} (pinned)")).to_be_visible()
    before = forecast_line(page).get_attribute("d")
    page.get_by_role("button", name=f"Exclude {second}").click()
    expect(page.get_by_role("button", name=f"Include {second}")).to_have_attribute(
        "aria-pressed", "true"
    )
    page.get_by_role("button", name="Re-forecast").click()
    expect(page.get_by_role("cell", name=f"{second} (excluded)")).to_be_visible()
    expect(forecast_line(page)).not_to_have_attribute("d", before or "")
    screenshot(page, "app-excluded")
    # Another kind of product clears the pins and exclusions, and the table shown says so.
    page.get_by_label("a catalogue product").check()
    expect(page.get_by_role("button", name=f"Include {second}")).to_have_count(0)
    expect(page.get_by_role("button", name=f"Unpin {first}")).to_have_count(0)
    expect(page.get_by_role("button", name=f"Pin {first}")).to_have_count(1)
    assert offline.blocked == [] and offline.failed == []


def test_a_failed_forecast_hides_the_previous_one_and_horizon_0_is_named_not_defaulted(
    server: str, offline: Offline
) -> None:
    page = offline.page
    page.goto(f"{server}/app")
    forecast_new_product(page)
    result = page.locator("#result")
    expect(result).to_be_visible()
    # 0 periods used to become 12 without a word; it goes to the API, whose 422 names horizon.
    page.locator("#horizon").fill("0")
    page.get_by_role("button", name="Forecast", exact=True).click()
    expect(page.locator("#problem")).to_contain_text("horizon")
    # The old forecast is not this request's answer: no order or comparison may be read off it.
    expect(result).to_be_hidden()
    page.locator("#horizon").fill("12")
    page.get_by_role("button", name="Forecast", exact=True).click()
    expect(result).to_be_visible()
    expect(page.locator("#problem")).to_be_hidden()
    assert offline.blocked == [] and offline.failed == []


def without_neighbours_scores(route: Any) -> None:
    """The active model's metrics with no scores for the neighbours method."""
    response = route.fetch()
    body = response.json()
    del body["metrics"]["methods"]["neighbours"]
    route.fulfill(response=response, json=body)


def without_red(route: Any) -> None:
    """The active model's attributes with no "red" among the colours."""
    response = route.fetch()
    body = response.json()
    for attribute in body["attributes"]:
        if attribute["name"] == "color":
            attribute["values"] = [v for v in attribute["values"] if v["value"] != "red"]
    route.fulfill(response=response, json=body)


def test_trust_and_order_quote_the_backtest_of_the_method_that_answered_over_its_weeks(
    server: str, offline: Offline
) -> None:
    page = offline.page
    page.goto(f"{server}/app")
    forecast_new_product(page)
    trust, order = page.locator("#trust"), page.locator("#order")
    expect(trust).to_contain_text("gbm forecasts were off by 50.7%")
    first = page.locator("#analogues tbody tr").nth(0).get_attribute("data-product-id")
    # A pin makes the neighbours method answer: its backtest is quoted, not the served gbm's.
    page.get_by_role("button", name=f"Pin {first}").click()
    page.get_by_role("button", name="Re-forecast").click()
    expect(page.locator("#result-summary")).to_contain_text("method neighbours.")
    expect(trust).to_contain_text(
        "neighbours forecasts were off by 61.2% of their sales over 12 weeks (WAPE); summed, "
        "they came to 12% less than was sold; its 10\u201390% band held 71% of the actual weeks"
    )
    expect(trust).not_to_contain_text("gbm")
    expect(order).to_contain_text(
        "such an order covered 81% of the launches' totals over weeks 1\u201312."
    )
    # 20 weeks asked: the figures are the backtest's first 12 weeks, and both lines say so.
    page.locator("#horizon").fill("20")
    page.get_by_role("button", name="Re-forecast").click()
    expect(trust).to_contain_text("off by 61.2% of their sales over their first 12 weeks (WAPE)")
    expect(trust).to_contain_text(
        "These figures are for weeks 1\u201312 only; this forecast covers weeks 1\u201320."
    )
    expect(order).to_contain_text("over weeks 1\u201312 only; this order is for weeks 1\u201320.")
    # Metrics without the neighbours' scores (reloaded by "Use key"): said plainly, and no
    # other method's figure stands in for them. The attribute fields, drawn anew, keep what the
    # planner had entered, but a value the model no longer offers (red, here) is said cleared.
    page.locator("#attr-price").fill("5000")
    page.route("**/v1/models/active", without_neighbours_scores)
    page.route("**/v1/attributes", without_red)
    page.get_by_role("button", name="Use key").click()
    expect(trust).to_contain_text("this model's backtest has no figure for neighbours forecasts")
    expect(trust).not_to_contain_text("50.7%")
    expect(order).to_contain_text("no figure for how often")
    expect(order).not_to_contain_text("In the backtest")
    expect(page.get_by_label("category", exact=True)).to_have_value("tops")
    expect(page.locator("#attr-price")).to_have_value("5000")
    expect(page.locator("#attr-price-warning")).to_contain_text("outside the catalogue's range")
    expect(page.get_by_label("color", exact=True)).to_have_value("")
    expect(page.locator("#status")).to_contain_text("so cleared: color \u201cred\u201d")
    assert offline.blocked == [] and offline.failed == []


def test_implausible_inputs_are_refused_or_flagged_before_sending(
    server: str, offline: Offline
) -> None:
    page = offline.page
    page.goto(f"{server}/app")
    history = page.get_by_label("First periods of sales")
    # Negative early sales: refused, naming the field, and nothing is sent.
    history.fill("40, -4, 61")
    forecast_new_product(page)
    problem = page.locator("#problem")
    expect(problem).to_contain_text("First periods of sales")
    expect(problem).to_contain_text("negative")
    expect(page.locator("#result")).to_be_hidden()
    # A decimal comma: "1,5" goes as two periods (a comma separates them); the field says so.
    history.fill("1,5")
    expect(page.locator("#history-warning")).to_contain_text("two periods, 1 and 5")
    assert_small_and_legible(page.locator("#history-warning"))
    # ... and goes once corrected; a list typed without spaces is no decimal and is not flagged.
    history.fill("1.5")
    expect(page.locator("#history-warning")).to_be_hidden()
    history.fill("40,55,61")
    expect(page.locator("#history-warning")).to_be_hidden()
    history.fill("1,5")
    # A price far beyond the catalogue's: flagged beside the field as it is typed.
    price = page.locator("#attr-price")
    price.fill("5000")
    expect(page.locator("#attr-price-warning")).to_contain_text("outside the catalogue's range")
    price.fill("30")
    expect(page.locator("#attr-price-warning")).to_be_hidden()
    price.fill("5000")
    page.get_by_role("button", name="Forecast", exact=True).click()
    # Warnings, not refusals: the forecast goes, and its warnings repeat them.
    expect(page.locator("#result")).to_be_visible()
    expect(problem).to_be_hidden()
    warnings = page.locator("#result-summary .warnings li")
    expect(warnings.filter(has_text="price 5000 is outside")).to_have_count(1)
    expect(warnings.filter(has_text="1 and 5")).to_have_count(1)
    assert offline.blocked == [] and offline.failed == []


def test_steering_analogues_keeps_the_focus_and_refuses_pins_the_api_would(
    server: str, offline: Offline
) -> None:
    page = offline.page
    page.goto(f"{server}/app")
    forecast_new_product(page)
    rows = page.locator("#analogues tbody tr")
    expect(rows).not_to_have_count(0)
    first = rows.nth(0).get_attribute("data-product-id")
    # By keyboard: each toggle leaves the focus on its counterpart in the same row.
    page.get_by_role("button", name=f"Pin {first}").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name=f"Unpin {first}")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name=f"Pin {first}")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name=f"Exclude {first}")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name=f"Include {first}")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name=f"Exclude {first}")).to_be_focused()
    # A pinned product outside the neighbours loses its row when unpinned: the focus stays
    # in the table.
    shown = set(rows.evaluate_all("rows => rows.map((r) => r.dataset.productId)"))
    other = next(p for p in CATALOGUE[0]["product_id"] if p not in shown)
    page.get_by_label("Pin another product").fill(other)
    page.get_by_role("button", name="Pin", exact=True).click()
    page.get_by_role("button", name=f"Unpin {other}").click()
    expect(page.get_by_role("button", name=f"Pin {other}")).to_have_count(0)
    assert page.evaluate("!!document.activeElement.closest('#analogues')")
    # An id the catalogue lacks is refused at once, by name, and not pinned.
    page.get_by_label("Pin another product").fill("NO-SUCH-SKU")
    page.get_by_role("button", name="Pin", exact=True).click()
    pin_problem = page.locator("#pin-problem")
    expect(pin_problem).to_contain_text("NO-SUCH-SKU")
    assert_small_and_legible(pin_problem)
    expect(page.locator("#analogues tr[data-product-id='NO-SUCH-SKU']")).to_have_count(0)
    # The message goes once the id it named is edited.
    page.get_by_label("Pin another product").fill("NO-SUCH-SK")
    expect(pin_problem).to_be_hidden()
    page.get_by_label("Pin another product").fill("")
    # A weight of 0 is refused naming the weight (the API takes weights above 0 only), not
    # sent as 1; the table stays, so the weight can be corrected.
    page.get_by_role("button", name=f"Pin {first}").click()
    weight = page.get_by_label(f"weight of {first}")
    weight.fill("0")
    weight.press("Tab")
    page.get_by_role("button", name="Re-forecast").click()
    problem = page.locator("#problem")
    expect(problem).to_contain_text(f"weight of {first}")
    expect(problem).to_contain_text("more than 0")
    expect(weight).to_be_visible()
    # The problem goes once its cause does, before any re-forecast: the weight corrected ...
    weight.fill("2")
    weight.press("Tab")
    expect(problem).to_be_hidden()
    # ... or the product unpinned.
    weight.fill("0")
    weight.press("Tab")
    page.get_by_role("button", name="Re-forecast").click()
    expect(problem).to_contain_text(f"weight of {first}")
    page.get_by_role("button", name=f"Unpin {first}").click()
    expect(problem).to_be_hidden()
    page.get_by_role("button", name=f"Pin {first}").click()
    page.get_by_role("button", name="Re-forecast").click()
    expect(page.get_by_role("cell", name=f"{first} (pinned)")).to_be_visible()
    expect(problem).to_be_hidden()
    # A pin only the API can judge (launched after the product): its 422 names it, and the
    # table stays so the planner can unpin it.
    latest = str(CATALOGUE[0].sort_values("launch_date")["product_id"].iloc[-1])
    page.get_by_role("button", name=f"Unpin {first}").click()
    page.get_by_label("Launch date").fill("2023-07-03")
    page.get_by_label("Pin another product").fill(latest)
    page.get_by_role("button", name="Pin", exact=True).click()
    # Pinning asks the service whether the id exists first: wait for the row.
    expect(page.get_by_role("button", name=f"Unpin {latest}")).to_be_visible()
    page.get_by_role("button", name="Re-forecast").click()
    expect(problem).to_contain_text(f"'{latest}'")
    page.get_by_role("button", name=f"Unpin {latest}").click()
    expect(problem).to_be_hidden()  # what it named is no longer asked for
    page.get_by_role("button", name="Re-forecast").click()
    expect(problem).to_be_hidden()
    expect(page.locator("#result-summary")).to_contain_text("launch 2023-07-03")
    assert offline.blocked == [] and offline.failed == []


def test_failures_are_titled_for_what_failed_and_a_silent_service_is_named(
    server: str, offline: Offline
) -> None:
    page = offline.page
    # The service does not answer as the page loads (no key is needed here): the attributes
    # box says so, not "Enter the key", and offers to try again.
    page.route("**/v1/attributes", lambda route: route.abort("connectionrefused"))
    page.goto(f"{server}/app")
    fields = page.locator("#attribute-fields")
    expect(fields).to_contain_text("The service did not answer")
    expect(fields).not_to_contain_text("Enter the key")
    screenshot(page, "app-service-silent")
    page.unroute("**/v1/attributes")
    fields.get_by_role("button", name="Retry").click()
    expect(page.get_by_label("category", exact=True)).to_be_visible()
    expect(page.get_by_label("category", exact=True)).to_be_focused()
    problem = page.locator("#problem")
    expect(problem).to_be_hidden()
    # The service stops answering: not the browser's "Failed to fetch" but what it means.
    page.route("**/v1/forecasts", lambda route: route.abort("connectionrefused"))
    forecast_new_product(page)
    expect(problem).to_contain_text(
        "Could not forecast: the service did not answer (is it running?)"
    )
    expect(problem).not_to_contain_text("Failed to fetch")
    page.unroute("**/v1/forecasts")
    # "Use key" loads the model's attributes: a failure there is titled for that.
    page.route(
        "**/v1/attributes",
        lambda route: route.fulfill(status=500, json={"detail": "database unavailable"}),
    )
    page.get_by_role("button", name="Use key").click()
    expect(problem).to_contain_text("Could not load the model's attributes: database unavailable")
    expect(problem).not_to_contain_text("Could not forecast")
    # The fields already drawn stay (they were the active model's a moment ago).
    expect(page.get_by_label("category", exact=True)).to_have_value("tops")
    assert offline.blocked == []
    # The requests the test refused, and only those, failed.
    assert offline.failed and all(
        "CONNECTION_REFUSED" in failure
        and ("/v1/attributes" in failure or "/v1/forecasts" in failure)
        for failure in offline.failed
    ), offline.failed
