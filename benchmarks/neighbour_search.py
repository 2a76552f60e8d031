"""Neighbour search: time per query at 10k, 100k and 1M catalogue products, exact vs faiss IVF.

Vectors come from the core's AttributeEncoder over synthetic attributes (categorical one-hots and
a standardised price). Recall@k of the index is measured against exact search, tie-aware: a
returned neighbour counts when its similarity reaches the exact k-th similarity. Query times are
the median over `--repeats` passes of single-product queries, as the machine may be shared.

    python -m benchmarks.neighbour_search [--sizes 10000,100000,1000000] [--queries 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.common import write_result
from forecasting.neighbours import AttributeEncoder, NeighbourIndex
from forecasting.synthetic import CATEGORIES, CHANNELS, COLORS, MATERIALS

console = Console()
K = 20


def attributes(n: int, rng: np.random.Generator) -> list[dict[str, object]]:
    category = rng.choice(list(CATEGORIES), size=n)
    color = rng.choice(COLORS, size=n)
    material = rng.choice(MATERIALS, size=n)
    channel = rng.choice(CHANNELS, size=n)
    # A finer attribute (style code) makes neighbourhoods small, as in a real catalogue.
    style = rng.integers(0, 400, size=n)
    price = np.round(rng.lognormal(3.3, 0.45, size=n), 2)
    return [
        {
            "category": str(category[i]),
            "color": str(color[i]),
            "material": str(material[i]),
            "channel": str(channel[i]),
            "style": f"S{style[i]}",
            "price": float(price[i]),
        }
        for i in range(n)
    ]


def timed_query(index: NeighbourIndex, queries: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    started = time.perf_counter()
    idx, sims = index.query(queries, K)
    return (time.perf_counter() - started) / len(queries), idx, sims


def ms_per_single_query(index: NeighbourIndex, queries: np.ndarray, repeats: int) -> float:
    """Median over passes of the mean time of one-product queries, as a request searches."""
    passes = [np.mean([timed_query(index, q[None, :])[0] for q in queries]) for _ in range(repeats)]
    return 1000 * float(np.median(passes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    title = f"neighbour search, k={K}, {args.queries} single-product queries, faiss IVF"
    table = Table(title=title)
    for column in ("catalogue", "exact ms/query", "faiss ms/query", "faiss build s", "recall@k"):
        table.add_column(column, justify="right")
    results = {}
    for size in (int(s) for s in args.sizes.split(",")):
        catalogue = attributes(size, rng)
        encoder = AttributeEncoder.fit(catalogue)
        vectors = encoder.vectors(catalogue)
        queries = encoder.vectors(attributes(args.queries, rng))
        days = np.zeros(size, dtype=np.int64)
        exact = NeighbourIndex(vectors, days, faiss_threshold=size + 1)
        started = time.perf_counter()
        approx = NeighbourIndex(vectors, days, faiss_threshold=0)
        build = time.perf_counter() - started
        exact_ms = ms_per_single_query(exact, queries, args.repeats)
        approx_ms = ms_per_single_query(approx, queries, args.repeats)
        _, _, exact_sims = timed_query(exact, queries)
        _, _, approx_sims = timed_query(approx, queries)
        kth = np.sort(exact_sims, axis=1)[:, 0]
        recall = float(np.mean(approx_sims >= kth[:, None] - 1e-6))
        results[size] = {
            "exact_ms_per_query": exact_ms,
            "faiss_ms_per_query": approx_ms,
            "faiss_build_seconds": build,
            "recall_at_k": recall,
            "dimension": int(vectors.shape[1]),
            "index": approx.backend,
            **{f"ivf_{name}": value for name, value in approx.parameters.items()},
        }
        table.add_row(
            f"{size:,}", f"{exact_ms:.2f}", f"{approx_ms:.2f}", f"{build:.1f}", f"{recall:.3f}"
        )
        console.print(table)
    write_result(
        "neighbour_search",
        {"k": K, "queries": args.queries, "repeats": args.repeats, "results": results},
    )


if __name__ == "__main__":
    main()
