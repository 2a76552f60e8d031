"""Accuracy on VISUELLE as the service is run: retrained every month, each model scoring the
launches of the month after its training.

`benchmarks/visuelle_accuracy.py` trains once per split and scores six or twelve months of
later launches with that one model; the service retrains weekly (`retrain_cron`), so its
forecasts are never more than days older than the catalogue. Here each month of a split's test
period is forecast by a model trained on every launch before that month (the same backtest,
cutoff moved month by month), and the served forecast's WAPE and 10-90% coverage are pooled over
the period. Cold starts only. Run from the repository root of a fresh clone:

    .venv/bin/python benchmarks/visuelle_rolling.py --splits 2018H1 2018H2 --seeds 0 1 2

Writes benchmarks/results/visuelle_rolling.json.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.visuelle_accuracy import (  # noqa: E402
    SPLITS,
    arguments,
    before,
    load,
    parse_override,
    spread,
    write_results,
)
from forecasting.backtest import backtest  # noqa: E402
from forecasting.config import default_config  # noqa: E402
from forecasting.curves import build_launch_curves  # noqa: E402

DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "visuelle_rolling.json"
MIN_LAUNCHES = 5  # a month with fewer launches is not scored


def month_starts(products: pd.DataFrame, split: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """(start, end) of each month of the split's test period."""
    until, cutoff = SPLITS[split]
    last = pd.Timestamp(products["launch_date"].max()) + pd.Timedelta(days=1)
    end = pd.Timestamp(until) if until is not None else last
    starts = list(pd.date_range(pd.Timestamp(cutoff), end, freq="MS", inclusive="left"))
    return list(zip(starts, [*starts[1:], end], strict=True))


def run_split(
    products: pd.DataFrame,
    sales: pd.DataFrame,
    split: str,
    seed: int,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One model per month: its served WAPE and coverage, pooled over the split's months."""
    config = default_config(seed=seed, **(overrides or {}))
    started = time.perf_counter()
    error = total = inside = cells = 0.0
    months = []
    for start, end in month_starts(products, split):
        known, known_sales = before(products, sales, end.date())
        launched = pd.to_datetime(known["launch_date"]) >= start
        if launched.sum() < MIN_LAUNCHES:
            continue
        served = backtest(
            known, known_sales, config, cutoff=start.date(), n_samples=0, warmup_observed=()
        ).metrics["methods"]["served"]
        scored = known[launched]
        actual = build_launch_curves(
            scored, known_sales[known_sales["product_id"].isin(scored["product_id"])], "W", 12
        ).values
        sold, weeks = float(np.nansum(actual)), float(np.isfinite(actual).sum())
        error += served["wape"] / 100 * sold
        total += sold
        inside += served["coverage"] * weeks
        cells += weeks
        months.append(
            {
                "month": str(start.date())[:7],
                "launches": int(launched.sum()),
                "served_wape": served["wape"],
            }
        )
    return {
        "split": split,
        "seed": seed,
        "served_wape": 100 * error / total,
        "coverage": inside / cells,
        "months": months,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> int:
    args = arguments(__doc__, DEFAULT_OUTPUT)
    overrides = dict(parse_override(item) for item in args.set)
    products, sales = load(args.data)
    runs = []
    for split in args.splits:
        for seed in args.seeds:
            run = run_split(products, sales, split, seed, overrides)
            runs.append(run)
            print(
                f"{split} seed {seed}: served WAPE {run['served_wape']:.2f}, coverage "
                f"{run['coverage']:.3f}, {len(run['months'])} monthly models, {run['seconds']}s"
            )
    summary = {}
    for split in args.splits:
        mine = [r for r in runs if r["split"] == split]
        summary[split] = {
            key: spread([r[key] for r in mine]) for key in ("served_wape", "coverage")
        }
        s = summary[split]["served_wape"]
        print(f"{split}: served WAPE {s['mean']:.2f} [{s['min']:.2f}, {s['max']:.2f}]")
    write_results(args, "visuelle_rolling.py", summary, runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
