"""Batching pays: 1,000 new products in one request vs single-product requests, 100k catalogue.

A model is fitted on a synthetic catalogue of 100,000 products (the neighbour index then holds
100k products), served by the real app in-process; both request shapes go
through the same HTTP stack (ASGI test client), alternately, in one run.

    python -m benchmarks.batch_scaling [--catalogue 100000] [--batch 1000] [--model DIR]

`--save DIR` keeps the fitted model for a later `--model DIR` (the fit takes minutes at 100k;
the neighbour index is rebuilt on load, so a saved model measures the current index code). The
same ratio is also measured for the core alone (LaunchForecaster.predict, no HTTP), which tells
the service's share of a single request from the model's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from rich.console import Console

from benchmarks.common import write_result
from forecasting.config import default_config
from forecasting.model import LaunchForecaster
from forecasting.synthetic import generate_catalogue
from forecasting.types import ForecastQuery
from service.app import create_app
from store import registry
from store.migrations import upgrade
from store.session import get_sessionmaker
from store.settings import Settings

console = Console()
ROUNDS = 5  # of single-product requests, each followed by BATCHES_PER_ROUND batches
BATCHES_PER_ROUND = 2


def new_products(n: int, seed: int) -> list[dict[str, Any]]:
    products, _ = generate_catalogue(n, seed=seed)
    return [
        {"product_id": f"NEW-{i}", "launch_date": "2026-07-06", "attributes": attrs}
        for i, attrs in enumerate(products["attributes"])
    ]


def fitted_model(n_catalogue: int, saved: Path | None, save: Path | None) -> LaunchForecaster:
    if (
        saved is not None
    ):  # a model this script fitted and saved before (a LaunchForecaster artifact directory)
        model = LaunchForecaster.load(saved)
        console.print(f"loaded {saved}: {len(model.catalogue_.product_ids_):,} catalogue products")
    else:
        console.print(f"fitting a model on {n_catalogue:,} products (once)...")
        started = time.perf_counter()
        model = LaunchForecaster(default_config(gbm_rounds=100)).fit(
            *generate_catalogue(n_catalogue, seed=3)
        )
        console.print(f"fitted in {time.perf_counter() - started:.0f} s")
        if save is not None:
            model.save(save)
    return model


def serve_model(folder: Path, model: LaunchForecaster) -> Settings:
    """A registry with `model` active, as a replica would find it."""
    checksum = model.save(folder / "model")
    return serve_artifact(folder, folder / "model", checksum)


def serve_artifact(folder: Path, artifact: Path, checksum: str) -> Settings:
    """Settings of a SQLite registry in `folder` whose active version is `artifact`."""
    url = f"sqlite:///{folder / 'bench.db'}"
    upgrade(url)
    with get_sessionmaker(url)() as session:
        registry.register(
            session, version="bench", artifact_path=str(artifact), checksum=checksum, frequency="W"
        )
        registry.activate(session, "bench")
        session.commit()
    return Settings(database_url=url, artifact_dir=folder, max_batch_items=10_000)


def core_ratio(
    model: LaunchForecaster, batch: list[dict[str, Any]], singles: int
) -> dict[str, float]:
    """The same comparison on LaunchForecaster.predict alone (no validation, HTTP, rendering)."""
    queries = [
        ForecastQuery(
            launch_date=dt.date.fromisoformat(p["launch_date"]),
            attributes=p["attributes"],
            product_id=p["product_id"],
        )
        for p in batch
    ]
    model.predict(queries[:5], 12, [0.1, 0.5, 0.9])
    single_times, batch_times = [], []
    for _ in range(3):
        started = time.perf_counter()
        for query in queries[:singles]:
            model.predict([query], 12, [0.1, 0.5, 0.9])
        single_times.append((time.perf_counter() - started) / singles)
        started = time.perf_counter()
        model.predict(queries, 12, [0.1, 0.5, 0.9])
        batch_times.append((time.perf_counter() - started) / len(queries))
    single, per_product = float(np.median(single_times)), float(np.median(batch_times))
    return {
        "single_predict_ms": 1000 * single,
        "batch_per_product_ms": 1000 * per_product,
        "per_product_over_single": per_product / single,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--catalogue", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--singles", type=int, default=200)
    parser.add_argument(
        "--model", type=Path, default=None, help="serve this saved model instead of fitting one"
    )
    parser.add_argument("--save", type=Path, default=None, help="keep the fitted model here")
    args = parser.parse_args()
    batch = new_products(args.batch, seed=99)
    model = fitted_model(args.catalogue, args.model, args.save)
    core = core_ratio(model, batch, args.singles)
    with tempfile.TemporaryDirectory() as tmp:
        settings = serve_model(Path(tmp), model)
        with TestClient(create_app(settings)) as client:
            body = {"horizon": 12, "quantiles": [0.1, 0.5, 0.9]}
            client.post("/v1/forecasts", json={**body, "products": batch[:5]}).raise_for_status()
            single_times, batch_times = [], []
            # Alternating rounds; the medians of 5 single-product rounds and 10 batches (with
            # 3 batches, one collector pause moved the median by a quarter).
            for _ in range(ROUNDS):
                started = time.perf_counter()
                for product in batch[: args.singles]:
                    client.post("/v1/forecasts", json={**body, "products": [product]})
                single_times.append((time.perf_counter() - started) / args.singles)
                for _ in range(BATCHES_PER_ROUND):
                    started = time.perf_counter()
                    response = client.post("/v1/forecasts", json={**body, "products": batch})
                    response.raise_for_status()
                    batch_times.append((time.perf_counter() - started) / len(batch))
    single, per_product = float(np.median(single_times)), float(np.median(batch_times))
    ratio = per_product / single
    console.print(
        f"single-product request: {1000 * single:.2f} ms; in a batch of {len(batch)}: "
        f"{1000 * per_product:.3f} ms per product; ratio [bold]1/{1 / ratio:.0f}[/] "
        "(target: at most 1/50)"
    )
    console.print(
        f"core alone (LaunchForecaster.predict): single {core['single_predict_ms']:.2f} ms, "
        f"{core['batch_per_product_ms']:.3f} ms per product in the batch, "
        f"ratio 1/{1 / core['per_product_over_single']:.0f}"
    )
    write_result(
        "batch_scaling",
        {
            "command": "python -m benchmarks.batch_scaling " + " ".join(sys.argv[1:]),
            "load_average": os.getloadavg(),
            "neighbour_index": model.neighbours_.index_.backend,
            "neighbour_index_parameters": model.neighbours_.index_.parameters,
            "core": core,
            "catalogue": args.catalogue,
            "batch": len(batch),
            "single_request_ms": 1000 * single,
            "batch_per_product_ms": 1000 * per_product,
            "per_product_over_single": ratio,
            "single_round_ms": [1000 * t for t in single_times],
            "batch_per_product_ms_each": [1000 * t for t in batch_times],
        },
    )


if __name__ == "__main__":
    main()
