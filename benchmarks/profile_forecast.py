"""Where one forecast request's time goes: py-spy on the real server, plus stage timings.

1. In-process stage timings of one-product requests (600 distinct products rotated), each stage
   called as the service calls it: JSON parsing + request validation, the thread hop (one
   `run_in_threadpool` round trip), resolving the queries, the model's predict, sanitising and
   rendering.
2. py-spy (a sampling profiler, a dev dependency) records the real `launchcast serve` process
   while wrk sends it one-product forecasts (benchmarks/http_wrk.py's bodies, 4 connections);
   each sample is charged to the innermost frame that belongs to a known stage (validation,
   thread hop, neighbour search, feature building, tree evaluation, blending, rendering, ...).
   Samples with a pandas frame on the stack are counted separately (pandas in the hot path).

    python -m benchmarks.profile_forecast [--workdir DIR] [--seconds 15] [--label before]

Writes benchmarks/results/profile_forecast_<label>.txt (the summary) and .json. py-spy needs
ptrace rights (root, or CAP_SYS_PTRACE in a container).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from fastapi.concurrency import run_in_threadpool

from benchmarks import http_wrk
from benchmarks.common import RESULTS, write_result
from service.api.forecast_schemas import ForecastRequest
from service.api.render import render
from service.forecasts import RequestedProduct, forecast, resolve_queries, sanitise_all
from service.model_store import ModelStore
from store.settings import Settings

# (stage, predicate on "function (file:line)" frames), tried from the innermost frame outwards:
# the first frame that matches names the stage. Order matters only within one frame.
STAGES: list[tuple[str, Callable[[str], bool]]] = [
    ("neighbour search", lambda f: "forecasting/attribute_index.py" in f),
    ("neighbour curves", lambda f: "forecasting/neighbour_model.py" in f),
    ("tree evaluation (LightGBM)", lambda f: "lightgbm" in f),
    ("feature building", lambda f: "forecasting/features.py" in f or "forecasting/gbm.py" in f),
    ("blending / method selection", lambda f: "forecasting/blend.py" in f or "selection.py" in f),
    ("quantiles (calibration)", lambda f: "forecasting/calibration.py" in f or "_quantile" in f),
    ("query parsing (core)", lambda f: "forecasting/queries.py" in f),
    ("calendar", lambda f: "forecasting/periods.py" in f),
    ("model predict (other core code)", lambda f: "forecasting/" in f),
    ("sanitise", lambda f: ("service/forecasts.py" in f and "sanitise" in f) or "_all_sound" in f),
    (
        "rendering (JSON)",
        lambda f: (
            "service/api/render.py" in f
            and ("render" in f or "_product" in f or "_points" in f or "_rounded" in f)
        ),
    ),
    ("batching / resolve", lambda f: "service/batching.py" in f or "service/forecasts.py" in f),
    (
        "request validation (pydantic)",
        lambda f: "pydantic" in f or "fastapi/_compat" in f or "_validate" in f,
    ),
    ("fastapi routing / dependencies", lambda f: "fastapi/" in f),
    ("metrics / middleware", lambda f: "service/middleware.py" in f or "prometheus" in f),
    ("starlette", lambda f: "starlette/" in f),
    (
        "thread hop (anyio, thread pool)",
        lambda f: "anyio/" in f or "concurrent/futures" in f or "threading.py" in f,
    ),
    ("HTTP protocol (uvicorn, httptools)", lambda f: "uvicorn/" in f or "httptools" in f),
    ("event loop (asyncio, uvloop)", lambda f: "asyncio/" in f or "uvloop" in f),
]


# Innermost frames where the process waits rather than computes: py-spy's idle detection misses
# these (uvloop polls in C under Runner.run; the thread pool's workers wait on a Condition).
IDLE_FRAMES = ("Condition.wait ", "Runner.run ", "Event.wait ", "WorkerThread.run ")


def categorise(raw: str) -> tuple[Counter[str], int, int]:
    """Samples per stage from py-spy's raw (collapsed) output; also the total and pandas ones."""
    stages: Counter[str] = Counter()
    total = pandas = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        if any("pandas/" in f for f in frames):
            pandas += count
        stage = "other"
        if any(frames[-1].startswith(idle) for idle in IDLE_FRAMES):
            stages["(idle: a thread waiting, the event loop polling)"] += count
            continue
        for frame in reversed(frames):
            hit = next((name for name, match in STAGES if match(frame)), None)
            if hit is not None:
                stage = hit
                break
        stages[stage] += count
    return stages, total, pandas


def hottest_functions(raw: str, top: int = 25) -> list[tuple[str, int]]:
    """Own samples per innermost frame (where the CPU actually was)."""
    own: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if stack:
            own[stack.split(";")[-1]] += int(count_text)
    return own.most_common(top)


def stage_timings(settings: Settings, bodies: list[str], repeats: int) -> dict[str, float]:
    """Median over passes of each stage's mean time per one-product request, in ms."""
    store = ModelStore(settings)
    store.refresh()
    served = store.model
    if served is None:
        raise RuntimeError("no active model in the work directory")
    parsed = [ForecastRequest.model_validate_json(b) for b in bodies]
    requested = [
        [RequestedProduct(p.product_id, p.launch_date, p.attributes, None) for p in r.products]
        for r in parsed
    ]
    queries = [resolve_queries(None, r) for r in requested]
    first = parsed[0]
    answers = [forecast(store, q, first.horizon, first.quantiles, False) for q in queries]

    async def hops() -> None:
        for _ in bodies:
            await run_in_threadpool(lambda: None)

    stages: dict[str, Callable[[], object]] = {
        "json + validation": lambda: [
            ForecastRequest.model_validate(json.loads(b)) for b in bodies
        ],
        "thread hop (run_in_threadpool round trip)": lambda: asyncio.run(hops()),
        "resolve queries": lambda: [resolve_queries(None, r) for r in requested],
        "model predict": lambda: [
            served.forecaster.predict(q, first.horizon, first.quantiles, False) for q in queries
        ],
        "sanitise": lambda: [
            sanitise_all(served.forecaster.predict(q, first.horizon, first.quantiles, False))
            for q in queries[:1]
        ],
        "render": lambda: [render(a, settings, False) for a in answers],
    }
    out = {}
    for name, run in stages.items():
        run()  # warm
        passes = []
        for _ in range(repeats):
            started = time.perf_counter()
            run()
            passes.append((time.perf_counter() - started) / len(bodies))
        out[name] = 1000 * float(np.median(passes))
    # "sanitise" above ran predict once too: report sanitise alone.
    sanitise_only = []
    results = served.forecaster.predict(queries[0], first.horizon, first.quantiles, False)
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(200):
            sanitise_all(results)
        sanitise_only.append((time.perf_counter() - started) / 200)
    out["sanitise"] = 1000 * float(np.median(sanitise_only))
    return out


def record_server(env: dict[str, str], bodies: Path, seconds: float, rate: int) -> str:
    """py-spy's raw samples of the serving process under wrk load."""
    server = http_wrk.start_server(env, 1)
    try:
        http_wrk.wrk("/v1/forecasts", "POST", bodies, 4, 2)  # warm-up
        with tempfile.NamedTemporaryFile(suffix=".txt", delete=False) as out:
            path = Path(out.name)
        spy = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--pid",
                str(server.pid),
                "--rate",
                str(rate),
                "--duration",
                str(int(seconds) + 1),
                "--format",
                "raw",
                "--output",
                str(path),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        load = http_wrk.wrk("/v1/forecasts", "POST", bodies, 4, seconds)
        spy.wait(timeout=seconds + 60)
        raw = path.read_text()
        path.unlink()
        print(f"under py-spy: {load['requests_per_second']:.0f} req/s, p50 {load['p50_ms']:.1f} ms")
        return raw
    finally:
        server.terminate()
        server.wait(timeout=30)


def summary_text(
    label: str,
    timings: dict[str, float],
    stages: Counter[str],
    total: int,
    pandas: int,
    hot: list[tuple[str, int]],
) -> str:
    lines = [
        f"# forecast path profile ({label}): one-product POST /v1/forecasts",
        f"# load average during the run: {os.getloadavg()}",
        "",
        "## in-process stage timings, ms per one-product request (median of passes)",
    ]
    lines += [f"{ms:9.3f}  {name}" for name, ms in timings.items()]
    lines += ["", f"## py-spy samples of the server process under wrk (4 connections): {total}"]
    busy = total - stages.get("(idle: a thread waiting, the event loop polling)", 0)
    lines += [f"# busy samples (not idle): {busy}; shares below are of all samples"]
    lines += [f"{100 * n / total:6.1f} %  {name}" for name, n in stages.most_common()]
    lines += [f"{100 * pandas / max(total, 1):6.1f} %  (samples with pandas on the stack)"]
    lines += ["", "## hottest innermost frames (own samples)"]
    lines += [f"{100 * n / total:6.1f} %  {frame}" for frame, n in hot]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="reuse http_wrk's catalogue+model"
    )
    parser.add_argument("--catalogue", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--label", default="current")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: `make bench` installs Debian's wrk (apt-get install wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.workdir or Path(tmp)
        env = http_wrk.prepare(folder, args.catalogue)
        bodies = folder / "single.jsonl"
        products = http_wrk.new_products(600, np.random.default_rng(http_wrk.SEED), args.catalogue)
        http_wrk.write_bodies(bodies, products, 1)
        settings = Settings(
            database_url=env["LAUNCHCAST_DATABASE_URL"],
            artifact_dir=Path(env["LAUNCHCAST_ARTIFACT_DIR"]),
        )
        timings = stage_timings(settings, bodies.read_text().splitlines(), args.repeats)
        raw = record_server(env, bodies, args.seconds, args.rate)
    stages, total, pandas = categorise(raw)
    hot = hottest_functions(raw)
    text = summary_text(args.label, timings, stages, total, pandas, hot)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"profile_forecast_{args.label}.txt").write_text(text)
    write_result(
        f"profile_forecast_{args.label}",
        {
            "command": "python -m benchmarks.profile_forecast " + " ".join(sys.argv[1:]),
            "stage_ms_per_request": timings,
            "pyspy_samples": total,
            "pyspy_stage_share": {k: v / total for k, v in stages.items()},
            "pandas_share": pandas / max(total, 1),
            "load_average": os.getloadavg(),
        },
    )


if __name__ == "__main__":
    main()
