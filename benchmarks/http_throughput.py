"""HTTP throughput: single-product cold-start forecasts vs a trivial JSON endpoint, same server.

Starts the real app under uvicorn on 127.0.0.1 (SQLite in a temp dir, a synthetic catalogue,
a trained model), then drives both endpoints with the same httpx client and concurrency, in one
run. Reports requests/second, their ratio, and p50/p99 latency.

    python -m benchmarks.http_throughput [--requests 2000] [--concurrency 4]

It runs the server twice: as deployed (small concurrent requests share predict calls, see
service/batching.py) and with that batching off, so both figures are on record.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.common import write_result
from forecasting.synthetic import generate_catalogue
from store.ingest import import_frames
from store.migrations import upgrade
from store.session import get_sessionmaker
from store.settings import Settings
from training.job import run_training

console = Console()
PORT = 8765
BODY = {
    "horizon": 12,
    "quantiles": [0.1, 0.5, 0.9],
    "products": [
        {
            "product_id": "NEW-1",
            "launch_date": "2026-07-06",
            "attributes": {"category": "tops", "color": "red", "material": "cotton", "price": 25.0},
        }
    ],
}


def prepare(folder: Path, n_products: int) -> dict[str, str]:
    """A database with a catalogue and an active model; the server's environment."""
    url = f"sqlite:///{folder / 'bench.db'}"
    upgrade(url)
    with get_sessionmaker(url)() as session:
        import_frames(session, *generate_catalogue(n_products, seed=11))
        session.commit()
    settings = Settings(database_url=url, artifact_dir=folder / "artifacts", gbm_rounds=100)
    run_training(settings)
    return {
        **os.environ,
        "LAUNCHCAST_DATABASE_URL": url,
        "LAUNCHCAST_ARTIFACT_DIR": str(folder / "artifacts"),
    }


async def drive(
    client: httpx.AsyncClient, method: str, path: str, body: Any, total: int, concurrency: int
) -> tuple[float, np.ndarray]:
    latencies: list[float] = []
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            response = await client.request(method, path, json=body)
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, np.array(latencies)


async def measure(total: int, concurrency: int) -> dict[str, dict[str, float]]:
    base = f"http://127.0.0.1:{PORT}"
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        # Warm up both paths (connections, first predictions), then measure them alternately.
        await drive(client, "POST", "/v1/forecasts", BODY, 50, concurrency)
        await drive(client, "GET", "/healthz", None, 50, concurrency)
        results: dict[str, list[tuple[float, np.ndarray]]] = {"trivial": [], "forecast": []}
        for _ in range(2):
            results["trivial"].append(
                await drive(client, "GET", "/healthz", None, total // 2, concurrency)
            )
            results["forecast"].append(
                await drive(client, "POST", "/v1/forecasts", BODY, total // 2, concurrency)
            )
        metrics = (await client.get("/metrics")).text
    summary: dict[str, dict[str, float]] = {"batching": requests_per_predict(metrics)}
    for name, runs in results.items():
        seconds = sum(r[0] for r in runs)
        latencies = np.concatenate([r[1] for r in runs])
        summary[name] = {
            "requests_per_second": len(latencies) / seconds,
            "p50_ms": float(np.percentile(latencies, 50) * 1000),
            "p99_ms": float(np.percentile(latencies, 99) * 1000),
        }
    return summary


def requests_per_predict(metrics: str) -> dict[str, float]:
    """Predict calls and the forecast requests they answered, from the server's /metrics."""
    values = {}
    for line in metrics.splitlines():
        for suffix in ("count", "sum"):
            if line.startswith(f"launchcast_forecast_requests_per_predict_{suffix} "):
                values[suffix] = float(line.split()[-1])
    calls, answered = values.get("count", 0.0), values.get("sum", 0.0)
    return {"predict_calls": calls, "mean_requests_per_call": answered / calls if calls else 0.0}


def wait_until_ready(process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited during start-up")
        try:
            if httpx.get(f"http://127.0.0.1:{PORT}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the server did not become ready within 60 s")


def serve_and_measure(
    env: dict[str, str], batch_products: int, total: int, concurrency: int
) -> dict[str, dict[str, float]]:
    """Start the server with this batching setting, drive both endpoints, stop it."""
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "launchcast"), "serve", "--port", str(PORT)],
        env={**env, "LAUNCHCAST_FORECAST_BATCH_PRODUCTS": str(batch_products)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_ready(server)
        return asyncio.run(measure(total, concurrency))
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--catalogue", type=int, default=3000)
    args = parser.parse_args()
    runs: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = prepare(Path(tmp), args.catalogue)
        # The default (concurrent small requests share predict calls), then batching off: each
        # run has its own /healthz reference, measured alternately with the forecasts.
        for name, batch_products in (("batching_on", 64), ("batching_off", 0)):
            runs[name] = serve_and_measure(env, batch_products, args.requests, args.concurrency)
    table = Table(
        title=f"HTTP, {args.requests} requests per endpoint, concurrency {args.concurrency}"
    )
    for column in ("server", "endpoint", "req/s", "p50 ms", "p99 ms", "ratio"):
        table.add_column(column)
    for name, summary in runs.items():
        ratio = (
            summary["forecast"]["requests_per_second"] / summary["trivial"]["requests_per_second"]
        )
        summary["ratio"] = {"forecast_over_trivial": ratio}
        for key, label in (
            ("trivial", "GET /healthz"),
            ("forecast", "POST /v1/forecasts (1 product)"),
        ):
            s = summary[key]
            table.add_row(
                name.replace("_", " "),
                label,
                f"{s['requests_per_second']:.0f}",
                f"{s['p50_ms']:.1f}",
                f"{s['p99_ms']:.1f}",
                f"{ratio:.2f}" if key == "forecast" else "",
            )
    console.print(table)
    for name, summary in runs.items():
        mean = summary["batching"]["mean_requests_per_call"]
        shared = f"{mean:.2f} requests per predict call" if mean else "one request per call"
        console.print(f"{name.replace('_', ' ')}: {shared}")
    console.print("target: forecast / trivial throughput >= 0.5 (the default server: batching on)")
    write_result("http_throughput", {**runs, **vars(args)})


if __name__ == "__main__":
    main()
