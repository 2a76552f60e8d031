"""HTTP throughput under wrk: cold-start forecasts against GET /healthz, same server, same run.

Builds a SQLite database with the project's synthetic catalogue and trains a model with the
project's own CLI (`launchcast demo --no-serve`), starts a real `launchcast serve` (uvicorn) in a
subprocess, and drives it with wrk (compiled, from Debian's `wrk` package: `make bench` installs
it) and benchmarks/wrk_rotate.lua, which rotates pre-built request bodies so that consecutive
requests carry different products. For each connection count, in one run and in turn:

- GET /healthz, the reference (what the server does for a trivial request);
- POST /v1/forecasts with one new product (600 distinct products rotated);
- POST /v1/forecasts with 100 new products (30 distinct bodies, 3,000 distinct products).

New products take their attributes from the catalogue's attribute values (category with its
subcategory, colour, material, channel, basic or not), a random price and a launch date in the
year after the catalogue ends, so every product differs. wrk's own limit is checked: /healthz
under wrk must reach at least what a plain client (http.client in threads, keep-alive) gets,
otherwise the reference measures the client, not the server.

    python -m benchmarks.http_wrk [--workers 1,2] [--connections 4,16,64] [--seconds 10]

Writes benchmarks/results/http_wrk.json. Errors are wrk's socket errors plus non-2xx answers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.common import write_result
from forecasting.synthetic import generate_catalogue

console = Console()
HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk_rotate.lua"
PORT = 8765
SEED = 11
HORIZON, QUANTILES = 12, [0.1, 0.5, 0.9]
CATALOGUE_END = dt.date(2026, 6, 29)  # generate_catalogue's default "today"


def launchcast() -> str:
    return str(Path(sys.executable).parent / "launchcast")


def prepare(folder: Path, n_products: int) -> dict[str, str]:
    """A database with the synthetic catalogue and an active model, trained by the CLI (which
    keeps an existing catalogue and active model: a reused work directory trains nothing)."""
    env = {
        **os.environ,
        "LAUNCHCAST_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
        "LAUNCHCAST_ARTIFACT_DIR": str(folder / "artifacts"),
    }
    started = time.perf_counter()
    subprocess.run(
        [launchcast(), "demo", "--products", str(n_products), "--seed", str(SEED), "--no-serve"],
        env=env,
        cwd=folder,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    console.print(
        f"catalogue of {n_products:,} products trained in {time.perf_counter() - started:.0f} s"
    )
    return env


def new_products(n: int, rng: np.random.Generator, n_catalogue: int) -> list[dict[str, Any]]:
    """`n` distinct new products built from the catalogue's attribute values."""
    catalogue, _ = generate_catalogue(n_catalogue, seed=SEED)
    attributes = list(catalogue["attributes"])
    pairs = sorted({(a["category"], a["subcategory"]) for a in attributes})
    values = {
        name: sorted({a[name] for a in attributes}) for name in ("color", "material", "channel")
    }
    products = []
    for i in range(n):
        category, subcategory = pairs[rng.integers(len(pairs))]
        launch = CATALOGUE_END + dt.timedelta(days=int(rng.integers(7, 365)))
        products.append(
            {
                "product_id": f"NEW-{i}",
                "launch_date": launch.isoformat(),
                "attributes": {
                    "category": category,
                    "subcategory": subcategory,
                    **{
                        name: options[rng.integers(len(options))]
                        for name, options in values.items()
                    },
                    "price": round(float(rng.lognormal(3.3, 0.45)), 2),
                    "is_basic": bool(rng.random() < 0.2),
                },
            }
        )
    return products


def write_bodies(path: Path, products: list[dict[str, Any]], per_request: int) -> int:
    """One JSON request body per line, `per_request` products each; returns the line count."""
    lines = [
        json.dumps(
            {"horizon": HORIZON, "quantiles": QUANTILES, "products": products[i : i + per_request]}
        )
        for i in range(0, len(products) - per_request + 1, per_request)
    ]
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def start_server(env: dict[str, str], workers: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [launchcast(), "serve", "--port", str(PORT), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300  # each worker imports the app and loads the model
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the server exited during start-up")
        # Every worker must have loaded the model: ask until several answers say ready.
        if all(get("/readyz")[0] == 200 for _ in range(4 * workers)):
            return server
        time.sleep(0.5)
    server.terminate()
    raise RuntimeError("the server did not become ready within 300 s")


def get(path: str) -> tuple[int, bytes]:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""


def check_forecast(body_line: str) -> str:
    """One forecast through the server: it must answer 200 with a model-made forecast."""
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    conn.request("POST", "/v1/forecasts", body_line, {"Content-Type": "application/json"})
    response = conn.getresponse()
    payload = json.loads(response.read())
    if response.status != 200 or payload["model_version"] is None:
        raise RuntimeError(f"the forecast endpoint answered {response.status}: {payload}")
    return str(payload["forecasts"][0]["method"])


def wrk(path: str, method: str, bodies: Path | None, connections: int, seconds: float) -> dict:
    """One wrk run (one thread: it keeps up with the server, see `plain_client_healthz`)."""
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{PORT}",
        "--",
        path,
        method,
    ]
    if bodies is not None:
        command.append(str(bodies))
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("WRK_JSON "))
    raw = json.loads(line.removeprefix("WRK_JSON "))
    errors = sum(
        raw[key]
        for key in ("connect_errors", "read_errors", "write_errors", "non_2xx_3xx", "timeouts")
    )
    return {
        "requests_per_second": raw["requests"] / (raw["duration_us"] / 1e6),
        "requests": raw["requests"],
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "errors": errors,
        "wrk": raw,
    }


def plain_client_healthz(threads: int, seconds: float) -> float:
    """GET /healthz req/s from Python's http.client in threads, one keep-alive connection each."""
    stop = time.monotonic() + seconds
    counts = [0] * threads

    def loop(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
        while time.monotonic() < stop:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                counts[slot] += 1
        conn.close()

    started = time.monotonic()
    pool = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(counts) / (time.monotonic() - started)


def measure_server(
    env: dict[str, str],
    workers: int,
    bodies: dict[str, Path],
    connections: list[int],
    seconds: float,
) -> dict[str, Any]:
    server = start_server(env, workers)
    try:
        methods = {
            name: check_forecast(path.read_text().splitlines()[0]) for name, path in bodies.items()
        }
        # Warm-up: connections, first predictions, lazy imports in every worker.
        for path in bodies.values():
            wrk("/v1/forecasts", "POST", path, 4, 2)
        wrk("/healthz", "GET", None, 4, 1)
        plain = plain_client_healthz(4, seconds)
        runs: dict[str, Any] = {}
        for c in connections:
            reference = wrk("/healthz", "GET", None, c, seconds)
            row: dict[str, Any] = {"healthz": reference}
            for name, path in bodies.items():
                result = wrk("/v1/forecasts", "POST", path, c, seconds)
                result["ratio_to_healthz"] = (
                    result["requests_per_second"] / reference["requests_per_second"]
                )
                row[name] = result
            runs[f"{c}_connections"] = row
        healthz_4 = runs[f"{connections[0]}_connections"]["healthz"]["requests_per_second"]
        return {
            "workers": workers,
            "first_forecast_method": methods,
            "plain_client_healthz_rps": plain,
            "wrk_not_the_bottleneck": healthz_4 >= plain,
            "runs": runs,
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


def print_table(results: dict[str, Any]) -> None:
    for key, summary in results.items():
        table = Table(title=f"{key}: wrk -t1, {summary['workers']} worker process(es)")
        for column in (
            "conns",
            "endpoint",
            "req/s",
            "products/s",
            "ratio",
            "p50 ms",
            "p99 ms",
            "errors",
        ):
            table.add_column(column, justify="right")
        for conns, row in summary["runs"].items():
            for name, r in row.items():
                products = {"healthz": 0, "single": 1, "batch_100": 100}[name]
                table.add_row(
                    conns.split("_")[0],
                    name,
                    f"{r['requests_per_second']:.0f}",
                    f"{r['requests_per_second'] * products:.0f}" if products else "",
                    f"{r['ratio_to_healthz']:.2f}" if "ratio_to_healthz" in r else "",
                    f"{r['p50_ms']:.1f}",
                    f"{r['p99_ms']:.1f}",
                    str(r["errors"]),
                )
        console.print(table)
        console.print(
            f"plain client (http.client, 4 threads) GET /healthz: "
            f"{summary['plain_client_healthz_rps']:.0f} req/s; wrk not the bottleneck: "
            f"{summary['wrk_not_the_bottleneck']}"
        )


def main() -> None:
    global PORT  # one module constant read by every helper here; a free port beside other runs
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--catalogue", type=int, default=2000)
    parser.add_argument("--workers", default="1,2", help="server worker processes to compare")
    parser.add_argument("--connections", default="4,16,64")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--single-products", type=int, default=600)
    parser.add_argument("--batch-bodies", type=int, default=30)
    parser.add_argument("--port", type=int, default=8765, help="where the server listens")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep (or reuse) the catalogue and model here"
    )
    args = parser.parse_args()
    PORT = args.port
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: `make bench` installs Debian's wrk (apt-get install wrk)")
    connections = [int(c) for c in args.connections.split(",")]
    rng = np.random.default_rng(SEED)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.workdir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        env = prepare(folder, args.catalogue)
        products = new_products(args.single_products + 100 * args.batch_bodies, rng, args.catalogue)
        bodies = {"single": folder / "single.jsonl", "batch_100": folder / "batch_100.jsonl"}
        write_bodies(bodies["single"], products[: args.single_products], 1)
        write_bodies(bodies["batch_100"], products[args.single_products :], 100)
        for workers in (int(w) for w in args.workers.split(",")):
            results[f"workers_{workers}"] = measure_server(
                env, workers, bodies, connections, args.seconds
            )
            save(args, results)  # after each server: a later failure keeps these
    print_table(results)


def save(args: argparse.Namespace, results: dict[str, Any]) -> None:
    write_result(
        "http_wrk",
        {
            "command": "python -m benchmarks.http_wrk " + " ".join(sys.argv[1:]),
            "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[
                0
            ],
            "catalogue_products": args.catalogue,
            "distinct_single_products": args.single_products,
            "distinct_batch_bodies": args.batch_bodies,
            "horizon": HORIZON,
            "quantiles": QUANTILES,
            "seconds_per_run": args.seconds,
            "load_average": os.getloadavg(),
            **results,
        },
    )


if __name__ == "__main__":
    main()
