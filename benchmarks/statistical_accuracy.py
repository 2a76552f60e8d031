"""Established products: the statistical path (per-series model choice) against naive (issue 12).

Runs `training.statistical.evaluate_established` (the job's own backtest: last 12 weeks held out,
the model chosen on the weeks before) on
- the demo synthetic catalogue (2,000 products, seeds 7 (the demo's), 0, 1, 2), and
- VISUELLE. No VISUELLE product has more than 12 weeks of sales (each has exactly 12), so there
  are no established products in it; its long series are the weekly sales of a category, and of
  a category and colour, summed over products by calendar week (Monday). Each aggregate is
  scored at four holdouts (12 weeks ending 2018-07-01, 2019-01-06, 2019-03-31 and 2018-10-07),
  all before the launches of the paper's test split (from 2019-04-17), which this file does not
  hold and which would depress later aggregates.
Also times `forecast_series` (horizon 12, quantiles 0.1/0.5/0.9) per series at 52 and 104 weeks.

    .venv/bin/python benchmarks/statistical_accuracy.py [--data ../shared/data/visuelle]

Prints WAPE of the served forecast vs naive (and SeasonalNaive where a season is seen), the mix of
models served and 10-90% coverage; writes benchmarks/results/statistical_accuracy.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import write_result  # noqa: E402
from forecasting.statistical import forecast_series  # noqa: E402
from forecasting.synthetic import generate_catalogue  # noqa: E402
from training.statistical import evaluate_established  # noqa: E402

HORIZON = 12
LAUNCH_STEPS = 12
# The selection rule (beat Naive by 10% on every backtest origin, a full backtest or Naive) was
# chosen on all of these runs, every demo seed and every VISUELLE holdout (issue 12 item 5): none
# is held out from that choice. Each run's holdout is still after every period its choice saw.
DEMO_SEEDS = (7, 0, 1, 2, 3, 4, 5)
VISUELLE_HOLDOUT_ENDS = (
    dt.date(2018, 7, 1),
    dt.date(2019, 1, 6),
    dt.date(2019, 3, 31),
    dt.date(2018, 10, 7),
)
LEVELS: dict[str, tuple[str, ...]] = {
    "category": ("category",),
    "category_color": ("category", "color"),
}


def visuelle_aggregates(
    data: Path, keys: tuple[str, ...], end: dt.date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One pseudo-product per value of `keys`: its weekly sales (Monday weeks) before `end`."""
    products = pd.read_csv(data / "products.csv")
    sales = pd.read_csv(data / "sales.csv", parse_dates=["date"])
    sales = sales.merge(products[["product_id", *keys]], on="product_id")
    sales["series"] = sales[list(keys)].astype(str).agg("/".join, axis=1)
    sales["week"] = sales["date"].dt.to_period("W-SUN").dt.start_time
    sales = sales[sales["week"] < pd.Timestamp(end)]
    weekly = sales.groupby(["series", "week"])["quantity"].sum().reset_index()
    first = weekly.groupby("series")["week"].min()
    frame_products = pd.DataFrame(
        {
            "product_id": first.index,
            "launch_date": first.to_numpy(),
            "attributes": [{}] * len(first),
        }
    )
    frame_sales = weekly.rename(columns={"series": "product_id", "week": "date"})
    return frame_products, frame_sales[["product_id", "date", "quantity"]]


def demo_runs() -> list[dict[str, Any]]:
    runs = []
    for seed in DEMO_SEEDS:
        products, sales = generate_catalogue(2000, seed=seed)
        started = time.perf_counter()
        result = evaluate_established(products, sales, "W", LAUNCH_STEPS, HORIZON)
        runs.append(
            {"catalogue": f"demo seed {seed}", "seconds": time.perf_counter() - started, **result}
        )
    return runs


def visuelle_runs(data: Path) -> list[dict[str, Any]]:
    runs = []
    for level, keys in LEVELS.items():
        for end in VISUELLE_HOLDOUT_ENDS:
            products, sales = visuelle_aggregates(data, keys, end)
            started = time.perf_counter()
            result = evaluate_established(
                products, sales, "W", LAUNCH_STEPS, HORIZON, max_series=1000
            )
            runs.append(
                {
                    "catalogue": f"VISUELLE {level}, holdout to {end}",
                    "seconds": time.perf_counter() - started,
                    **result,
                }
            )
    return runs


def timing(n_series: int = 30) -> dict[str, float]:
    """Milliseconds per forecast_series call on noisy seasonal weekly series of 52 and 104 weeks."""
    rng = np.random.default_rng(0)
    out = {}
    for length in (52, 104):
        t = np.arange(length)
        series = [
            np.maximum(20 + 8 * np.sin(2 * np.pi * t / 52) + rng.normal(0, 3, length), 0)
            for _ in range(n_series)
        ]
        forecast_series(series[0], HORIZON, "W", (0.1, 0.5, 0.9))  # imports and JIT warm-up
        started = time.perf_counter()
        for y in series:
            forecast_series(y, HORIZON, "W", (0.1, 0.5, 0.9))
        out[f"ms_per_series_{length}"] = 1000 * (time.perf_counter() - started) / n_series
    return out


def _fmt(value: float | None, scale: float = 1.0) -> str:
    return "-" if value is None else f"{scale * value:.1f}"


def print_run(run: dict[str, Any]) -> None:
    seasonal = (
        f"SeasonalNaive {_fmt(run.get('seasonal_naive_wape'))} vs served "
        f"{_fmt(run.get('served_wape_on_seasonal_subset'))} on "
        f"{run.get('seasonal_naive_n_products', 0)} series"
    )
    print(
        f"{run['catalogue']}: {run['n_products']} series, served WAPE {_fmt(run.get('wape'))} "
        f"vs naive {_fmt(run.get('naive_wape'))}; {seasonal}; 10-90% coverage "
        f"{_fmt(run.get('coverage'), 100)}%; mix {run.get('models')}"
    )
    for name, scores in (run.get("per_model") or {}).items():
        print(
            f"    {name:<16} {scores['n_products']:>4} series  WAPE {_fmt(scores['wape']):>6} "
            f"naive {_fmt(scores['naive_wape']):>6}  coverage {_fmt(scores['coverage'], 100)}%"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "visuelle")
    args = parser.parse_args()
    runs = demo_runs()
    if (args.data / "sales.csv").exists():
        runs += visuelle_runs(args.data)
    else:
        print(f"no VISUELLE data at {args.data}: demo catalogue only")
    for run in runs:
        print_run(run)
    speed = timing()
    print(
        f"forecast_series: {speed['ms_per_series_52']:.1f} ms per series at 52 weeks, "
        f"{speed['ms_per_series_104']:.1f} ms at 104 weeks"
    )
    path = write_result("statistical_accuracy", {"runs": runs, "timing": speed})
    print(f"written to {path}")


if __name__ == "__main__":
    main()
