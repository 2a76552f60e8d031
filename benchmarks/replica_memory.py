"""The memory one serving replica needs, at 100,000 and at 1,000,000 catalogue products.

A replica holds the active model: the catalogue of launch curves, the neighbour index (rebuilt
at load from the checksummed codes), the attribute curves and the launch model. Only the first
three grow with the catalogue; the launch model's size is set by its trees. So the 1M-product
artifact is built as follows: the catalogue, neighbour model and curves are fitted on a synthetic
catalogue of `--size` products (13 weekly periods of sales each: the stored curves are
`curve_steps` wide whatever the history), and the launch model, selection and calibration are
taken from a saved model (`--model`, e.g. one saved by `python -m benchmarks.batch_scaling
--save DIR`, fitted on 100,000 products). Fitting LightGBM on a million products is the
training benchmark's business, not this one's.

Each artifact is then served by a fresh process, as a replica would: the real app
(`create_app`, the registry naming the artifact), 200 forecasts of distinct new products
through the HTTP stack (ASGI test client), explain on, so the neighbour index is searched.
Measured from /proc/self/status: the resident set after imports, after the model is loaded and
after serving, and the peak (VmHWM); the artifact's size on disk and the load time.

    python -m benchmarks.replica_memory --model DIR [--size 1000000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks.common import write_result

console = Console()
REQUESTS = 200
MIB = 1024**2


def status_mib() -> dict[str, float]:
    """VmRSS and VmHWM of this process, MiB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024  # kB -> MiB
    return fields


def build_artifact(model_dir: Path, size: int, out: Path) -> dict[str, Any]:
    """The saved model with its catalogue-sized components refitted on `size` products."""
    from forecasting.catalogue import LaunchCatalogue
    from forecasting.curve_model import CurveModel
    from forecasting.model import LaunchForecaster
    from forecasting.neighbour_model import NeighbourModel
    from forecasting.synthetic import generate_catalogue

    model = LaunchForecaster.load(model_dir)
    started = time.perf_counter()
    products, sales = generate_catalogue(size, seed=5, history_periods=13)
    catalogue = LaunchCatalogue(model.config).fit(products, sales)
    del products, sales
    neighbours = NeighbourModel(model.config).fit(catalogue)
    if neighbours.encoder_.categorical != model.neighbours_.encoder_.categorical:
        raise SystemExit("the larger catalogue's attribute levels differ from the model's")
    levels = [len(v) for v in neighbours.encoder_.categorical.values()]
    model.catalogue_ = catalogue
    model.neighbours_ = neighbours
    model.curves_ = CurveModel(model.config).fit(catalogue.curves_, neighbours.codes_, levels)
    model.save(out)
    return {"build_seconds": round(time.perf_counter() - started, 1)}


def serve_and_measure(artifact: Path) -> dict[str, Any]:
    """In this (fresh) process: load `artifact` through the registry, serve, read memory."""
    import datetime as dt

    from fastapi.testclient import TestClient

    from benchmarks.batch_scaling import new_products, serve_artifact
    from forecasting.artifact import artifact_checksum
    from service.app import create_app

    after_imports = status_mib()
    with tempfile.TemporaryDirectory() as tmp:
        settings = serve_artifact(Path(tmp), artifact, artifact_checksum(artifact))
        started = time.perf_counter()
        with TestClient(create_app(settings)) as client:
            loaded_seconds = time.perf_counter() - started
            after_load = status_mib()
            launch = dt.date(2026, 7, 6).isoformat()
            for product in new_products(REQUESTS, seed=17):
                body = {
                    "horizon": 12,
                    "explain": True,
                    "products": [{**product, "launch_date": launch}],
                }
                client.post("/v1/forecasts", json=body).raise_for_status()
            after_serving = status_mib()
    return {
        "rss_after_imports_mib": after_imports["VmRSS"],
        "rss_after_load_mib": after_load["VmRSS"],
        "rss_after_serving_mib": after_serving["VmRSS"],
        "peak_rss_mib": after_serving["VmHWM"],
        "load_seconds": round(loaded_seconds, 1),
        "artifact_mib": sum(f.stat().st_size for f in artifact.iterdir()) / MIB,
    }


def measure_in_fresh_process(artifact: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.replica_memory", "--measure", str(artifact)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a saved model (its launch model is reused)")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:  # the fresh replica process
        print(json.dumps(serve_and_measure(args.measure)))
        return
    if args.model is None:
        parser.error("--model is required")
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        rows = []
        from forecasting.model import LaunchForecaster

        saved = LaunchForecaster.load(args.model)
        rows.append({"products": len(saved.catalogue_), **measure_in_fresh_process(args.model)})
        del saved
        built = Path(tmp) / "model"
        extra = build_artifact(args.model, args.size, built)
        rows.append({"products": args.size, **extra, **measure_in_fresh_process(built)})
    for row in rows:
        console.print(
            f"{row['products']:>9,} products: artifact {row['artifact_mib']:.0f} MiB, loaded in "
            f"{row['load_seconds']} s; RSS after imports {row['rss_after_imports_mib']:.0f} MiB, "
            f"after load {row['rss_after_load_mib']:.0f}, after {REQUESTS} forecasts "
            f"{row['rss_after_serving_mib']:.0f}, peak {row['peak_rss_mib']:.0f} MiB"
        )
    write_result(
        "replica_memory",
        {
            "command": "python -m benchmarks.replica_memory --model DIR --size " + str(args.size),
            "load_average": os.getloadavg(),
            "requests": REQUESTS,
            "replicas": rows,
        },
    )


if __name__ == "__main__":
    main()
