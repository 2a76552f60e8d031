"""Neighbour search at 1,000,000 products: per-query latency, recall@20, build time, memory.

The catalogue comes from the core's AttributeEncoder over synthetic attributes shaped like a real
catalogue's (category, colour, material, channel, a 400-level style code, price): 5 categorical
attributes and one numeric, 424 dimensions as dense vectors. Measured on the same products:

- AttributeIndex (what NeighbourModel serves with: exact search over mask tables), one product per
  call as a request searches, and all queries in one call (batched); new products searched among
  all products, and known products among earlier launches without themselves (as training's
  folds search);
- with `--faiss`: the faiss IVF-Flat index NeighbourModel used before (about sqrt(n) lists,
  `--probes`), on the dense float32 vectors, for comparison.

The reference is exact: AttributeIndex's brute-force scan (float64 cosine over every product,
tested against a dense float64 search in tests/core/test_neighbours.py). Recall@20 is tie-aware:
a returned product counts when its exact similarity, rounded to 5 decimals as the index rounds,
reaches the exact 20th best. Latency: median over `--repeats` passes of the mean wall time per
query, with the CPU time per query beside it (what a query costs when the machine is shared), and
the 50th/99th percentile of single-query wall times. Memory: the index's arrays, and the process's
resident set before and after building it.

    python -m benchmarks.neighbour_search [--size 1000000] [--queries 200] [--faiss]
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from rich.console import Console

from benchmarks.common import write_result
from forecasting.attribute_index import AttributeIndex
from forecasting.neighbours import SIMILARITY_DECIMALS, AttributeEncoder
from forecasting.synthetic import CATEGORIES, CHANNELS, COLORS, MATERIALS

console = Console()
K = 20
TARGET_MS, TARGET_RECALL = 1.0, 0.99


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


def rss_mib() -> float:
    """Resident set of this process now."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Queries:
    """A query sample: codes, numerics, and per query the row to exclude and the launch day
    before which products qualify (None: every product)."""

    def __init__(
        self,
        codes: np.ndarray,
        numerics: np.ndarray,
        exclude: np.ndarray | None = None,
        before: np.ndarray | None = None,
    ) -> None:
        self.codes, self.numerics, self.exclude, self.before = codes, numerics, exclude, before

    def __len__(self) -> int:
        return len(self.codes)

    def part(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        rows = slice(i, i + 1)
        return (
            self.codes[rows],
            self.numerics[rows],
            None if self.exclude is None else self.exclude[rows],
            None if self.before is None else self.before[rows],
        )


def exact(index: AttributeIndex, queries: Queries) -> tuple[np.ndarray, np.ndarray]:
    """Brute force per query (the reference): rows and rounded similarities."""
    q_codes, q_num, q_inv = index._query_parts(queries.codes, queries.numerics)
    idx = np.full((len(queries), K), -1)
    sims = np.zeros((len(queries), K))
    for i in range(len(queries)):
        skip = -1 if queries.exclude is None else int(index.slot_of[queries.exclude[i]])
        before = None if queries.before is None else int(queries.before[i])
        rows, found = index._scan(q_codes[i], q_num[i], float(q_inv[i]), K, skip, before)
        idx[i, : len(rows)], sims[i, : len(rows)] = rows, found
    return idx, sims


def recall(index: AttributeIndex, queries: Queries, truth: np.ndarray, idx: np.ndarray) -> float:
    """Tie-aware recall@K: a returned row counts once when its exact similarity (rounded)
    reaches the exact K-th best; rows the filters rule out never count."""
    found = 0
    wanted = 0
    for i, row in enumerate(idx):
        want = int((truth[i] > -1).sum())
        kth = truth[i][want - 1] if want else np.inf
        rows = np.unique(row[row >= 0])
        if queries.exclude is not None:
            rows = rows[rows != queries.exclude[i]]
        if queries.before is not None:
            rows = rows[index.launch_days[index.slot_of[rows]] < queries.before[i]]
        sims = np.round(
            index.similarity(rows, queries.codes[i], queries.numerics[i]), SIMILARITY_DECIMALS
        )
        found += min(int((sims >= kth).sum()), want)
        wanted += want
    return found / max(wanted, 1)


def timings(search: Callable[..., Any], queries: Queries, repeats: int) -> dict[str, float]:
    """Single-query wall and CPU ms (median pass), percentiles, and the batched ms per query."""
    walls, cpus, each = [], [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(len(queries)):
            started = time.perf_counter()
            search(*queries.part(i))
            each.append(time.perf_counter() - started)
        walls.append((time.perf_counter() - wall) / len(queries))
        cpus.append((time.process_time() - cpu) / len(queries))
    batched = []
    for _ in range(repeats):
        started = time.perf_counter()
        search(queries.codes, queries.numerics, queries.exclude, queries.before)
        batched.append((time.perf_counter() - started) / len(queries))
    return {
        "ms_per_query": 1000 * float(np.median(walls)),
        "cpu_ms_per_query": 1000 * float(np.median(cpus)),
        "p50_ms": 1000 * float(np.percentile(each, 50)),
        "p99_ms": 1000 * float(np.percentile(each, 99)),
        "batched_ms_per_query": 1000 * float(np.median(batched)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200, help="sample for recall and timing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--faiss", action="store_true", help="also measure faiss IVF-Flat")
    parser.add_argument("--probes", default="16", help="IVF lists probed (with --faiss)")
    args = parser.parse_args()
    load_at_start = os.getloadavg()
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    catalogue = attributes(args.size, rng)
    encoder = AttributeEncoder.fit(catalogue)
    codes, numerics = encoder.codes(catalogue), encoder.numerics(catalogue)
    new = attributes(args.queries, rng)
    new_codes, new_numerics = encoder.codes(new), encoder.numerics(new)
    del catalogue, new
    gc.collect()
    n = len(codes)
    # Launch days over five years; known products are searched among earlier ones.
    days = np.sort(rng.integers(18_000, 18_000 + 5 * 365, size=n))
    console.print(f"{n:,} products encoded in {time.perf_counter() - started:.0f} s")
    distinct = {
        "categorical_tuples": len(np.unique(codes, axis=0)),
        "attribute_vectors": len(np.unique(np.c_[codes, numerics], axis=0)),
    }
    console.print(f"distinct: {distinct}")

    rss_before = rss_mib()
    wall, cpu = time.perf_counter(), time.process_time()
    index = AttributeIndex(encoder, codes, numerics, days)
    build = {"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu}
    memory = {
        "index_mib": index.nbytes / 2**20,
        "rss_before_index_mib": rss_before,
        "rss_after_index_mib": rss_mib(),
    }
    console.print(f"AttributeIndex {index.parameters}: build {build}, memory {memory}")

    known = np.sort(rng.choice(n, size=args.queries, replace=False))
    samples = {
        "new products, all products qualify": Queries(new_codes, new_numerics),
        "known products, earlier launches, not itself": Queries(
            codes[known], numerics[known], known, days[known]
        ),
    }
    rows: list[dict[str, Any]] = []
    for name, queries in samples.items():
        started = time.perf_counter()
        truth_idx, truth = exact(index, queries)
        truth = np.where(truth_idx >= 0, truth, -np.inf)
        per_query = 1000 * (time.perf_counter() - started) / len(queries)
        console.print(f"{name}: brute force {per_query:.0f} ms/query")

        def search(c: np.ndarray, x: np.ndarray, e: Any, b: Any) -> np.ndarray:
            return index.query(c, x, K, exclude=e, launched_before=b)[0]

        idx = search(queries.codes, queries.numerics, queries.exclude, queries.before)
        row: dict[str, Any] = {
            "option": f"AttributeIndex ({name})",
            "setting": " ".join(f"{k}={v}" for k, v in index.parameters.items()),
            "recall_at_20": recall(index, queries, truth, idx),
            "identical_to_brute_force": bool((idx == truth_idx).all()),
            **timings(search, queries, args.repeats),
            "build_seconds": round(build["seconds"], 1),
            "index_mib": round(memory["index_mib"], 1),
            "load_average": os.getloadavg(),
        }
        rows.append(row)
        console.print(row)

    if args.faiss:
        rows += faiss_rows(encoder, codes, numerics, index, samples, args)

    for row in rows:
        row["meets_target"] = bool(
            row["cpu_ms_per_query"] <= TARGET_MS and row["recall_at_20"] >= TARGET_RECALL
        )
    write_result(
        "neighbour_search",
        {
            "command": "python -m benchmarks.neighbour_search " + " ".join(sys.argv[1:]),
            "size": n,
            "dimension": encoder.dimension,
            "k": K,
            "queries": args.queries,
            "repeats": args.repeats,
            "distinct": distinct,
            "attribute_index_build": build,
            "attribute_index_memory": memory,
            "load_average_at_start": load_at_start,
            "load_average_at_end": os.getloadavg(),
            "results": rows,
        },
    )


def faiss_rows(
    encoder: AttributeEncoder,
    codes: np.ndarray,
    numerics: np.ndarray,
    index: AttributeIndex,
    samples: dict[str, Queries],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    """The previous design, faiss IVF-Flat over dense float32 vectors (new products only)."""
    import faiss

    faiss.omp_set_num_threads(1)  # one thread per query, as a 2-core serving box runs it
    vectors = encoder.vectors_from(codes, numerics)
    n, d = vectors.shape
    queries = samples["new products, all products qualify"]
    q = encoder.vectors_from(queries.codes, queries.numerics)
    truth_idx, truth = exact(index, queries)
    truth = np.where(truth_idx >= 0, truth, -np.inf)
    faiss.omp_set_num_threads(os.cpu_count() or 1)  # a training run builds on every core
    started = time.perf_counter()
    ivf = faiss.IndexIVFFlat(
        faiss.IndexFlatIP(d), d, round(math.sqrt(n)), faiss.METRIC_INNER_PRODUCT
    )
    ivf.cp.max_points_per_centroid = 64
    ivf.cp.seed = 0
    ivf.train(vectors)
    ivf.add(vectors)
    build = time.perf_counter() - started
    faiss.omp_set_num_threads(1)
    mib = (faiss.serialize_index(ivf).nbytes + vectors.nbytes) / 2**20
    rows = []
    for probes in (int(p) for p in args.probes.split(",")):
        ivf.nprobe = probes

        def search(c: np.ndarray, x: np.ndarray, e: Any, b: Any) -> np.ndarray:
            # A request encoded its vector, then searched (the batch reuses the encoded ones).
            v = q[: len(c)] if len(c) > 1 else encoder.vectors_from(c, x)
            return ivf.search(v, K)[1]

        idx = search(queries.codes, queries.numerics, None, None)
        row: dict[str, Any] = {
            "option": "faiss IVF-Flat (previous NeighbourIndex), new products",
            "setting": f"lists={ivf.nlist} probes={probes}",
            "recall_at_20": recall(index, queries, truth, idx),
            **timings(search, queries, args.repeats),
            "build_seconds": round(build, 1),
            "index_mib": round(mib, 1),
            "load_average": os.getloadavg(),
        }
        rows.append(row)
        console.print(row)
    return rows


if __name__ == "__main__":
    main()
