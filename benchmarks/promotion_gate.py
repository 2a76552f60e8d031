"""The promotion gate on VISUELLE retrains: how often each way of comparing two versions would
have held a retrain back.

Every few months from 2018-03 to 2019-11 a version is trained as `launchcast train` trains it
(the newest `backtest_holdout_fraction` of launches held out; only launches whose 12 weeks
are complete by then), and the gate compares it with the version before: by the raw served WAPE
(each on its own holdout) and by the served WAPE over the global curve's on the same holdout
(`store.registry.relative_wape`, what the gate reads). Each version runs the same code on more
data, so a version held back is a false alarm. Run from the repository root of a fresh clone:

    .venv/bin/python benchmarks/promotion_gate.py --months-apart 2 --seed 0

Writes benchmarks/results/promotion_gate.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.visuelle_accuracy import load  # noqa: E402
from forecasting.backtest import backtest  # noqa: E402
from forecasting.config import default_config  # noqa: E402
from store.registry import decide_promotion, relative_wape  # noqa: E402

FIRST, LAST = dt.date(2018, 1, 1), dt.date(2019, 11, 1)
COMPLETE_DAYS = 84  # a launch's 12 weeks are all known this long after it


def version_scores(products: pd.DataFrame, sales: pd.DataFrame, day: dt.date, seed: int) -> Any:
    """The backtest figures the gate reads, of a version trained on `day`."""
    known = products[products["launch_date"] < pd.Timestamp(day - dt.timedelta(COMPLETE_DAYS))]
    result = backtest(
        known,
        sales[sales["product_id"].isin(known["product_id"])],
        default_config(seed=seed),
    )
    methods = result.metrics["methods"]
    return {
        "day": str(day),
        "cutoff": result.metrics["cutoff"],
        "n_test": result.metrics["n_test"],
        "served_method": result.metrics["served_method"],
        "methods": {name: {"wape": methods[name]["wape"]} for name in ("served", "global_curve")},
    }


def raw_only(version: dict[str, Any]) -> dict[str, Any]:
    return {"methods": {"served": version["methods"]["served"]}}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "visuelle")
    parser.add_argument("--months-apart", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerances", type=float, nargs="+", default=[0.02, 0.03, 0.05])
    parser.add_argument(
        "--output", type=Path, default=ROOT / "benchmarks" / "results" / "promotion_gate.json"
    )
    args = parser.parse_args()
    products, sales = load(args.data)
    versions = []
    day = FIRST
    while day <= LAST:
        versions.append(version_scores(products, sales, day, args.seed))
        ratio = relative_wape(versions[-1])
        print(
            f"{day}: served WAPE {versions[-1]['methods']['served']['wape']:.2f}, {ratio:.3f} "
            "of the global curve's",
            flush=True,
        )
        day = (pd.Timestamp(day) + pd.DateOffset(months=args.months_apart)).date()
    held: dict[str, dict[str, list[str]]] = {}
    for tolerance in args.tolerances:
        held[str(tolerance)] = {"raw": [], "relative": []}
        for old, new in itertools.pairwise(versions):
            if not decide_promotion(raw_only(new), raw_only(old), tolerance).promote:
                held[str(tolerance)]["raw"].append(new["day"])
            if not decide_promotion(new, old, tolerance).promote:
                held[str(tolerance)]["relative"].append(new["day"])
        counts = {way: len(days) for way, days in held[str(tolerance)].items()}
        print(f"tolerance {tolerance:.0%}: held back of {len(versions) - 1} retrains: {counts}")
    args.output.write_text(
        json.dumps({"command": " ".join(sys.argv), "versions": versions, "held": held}, indent=1)
        + "\n"
    )
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
