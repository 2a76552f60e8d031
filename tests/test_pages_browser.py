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
        }
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
    page.get_by_label("First periods of sales").fill("")
    page.get_by_role("button", name="Forecast", exact=True).click()
    expect(page.locator("#trust")).to_contain_text("gbm forecasts were off by 50.7%")
    assert offline.blocked == [] and offline.failed == []


def test_the_order_for_a_service_level_is_the_totals_quantile_at_that_level(
    server: str, offline: Offline
) -> None:
    page = offline.page
    page.goto(f"{server}/app")
    forecast_new_product(page)
    order = page.locator("#order")
    # 90% by default: the total's 90% quantile, the upper end of its 10-90% band.
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
    expect(page.locator("#result-summary")).to_contain_text("method statistical:")
    expect(page.locator("#order")).to_contain_text(
        "No order quantity for an established product yet"
    )
    assert offline.blocked == [] and offline.failed == []


def test_comparing_two_variants_shows_two_lines(server: str, offline: Offline) -> None:
    page = offline.page
    page.goto(f"{server}/app")
    forecast_new_product(page, color="red")
    expect(forecast_line(page)).to_have_count(1)
    page.get_by_role("button", name="Add to comparison").click()
    first = forecast_line(page).get_attribute("d")
    forecast_new_product(page, color="black")
    expect(forecast_line(page)).not_to_have_attribute("d", first or "")
    page.get_by_role("button", name="Add to comparison").click()
    lines = page.locator("#compare-chart path.line")
    expect(lines).to_have_count(2)
    expect(page.get_by_role("img", name="Variants compared: 2 forecasts")).to_be_visible()
    screenshot(page, "app-variants")
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
