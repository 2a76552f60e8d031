"""Accuracy on VISUELLE, split by launch date (issue 3): every method, warm-up, interval coverage.

Each split trains once on the launches before its cutoff and scores the launches after it, 12
weekly steps: 2018H1 and 2018H2 (the development periods: products launched before the end of
the half-year, trained on those before its start) and 2019 (trained before 2019-01-01; run once
per decision, see the README on what it has seen). Run from the repository root of a fresh clone
(the data sits next to the repository):

    .venv/bin/python benchmarks/visuelle_accuracy.py --splits 2018H1 2018H2 --seeds 0 1 2

`--set KEY=VALUE` tries a configuration change. Prints each run (served method, WAPE per method,
coverage, warm-up ratio) and a summary per split, and writes
benchmarks/results/visuelle_accuracy.json. Only the product attributes season, category, color,
fabric and extra are used (what the service would be given); google_trends.csv is not.
`benchmarks/visuelle_rolling.py` scores the same periods with a model retrained every month.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecasting.backtest import backtest  # noqa: E402
from forecasting.config import default_config  # noqa: E402
from forecasting.curves import build_launch_curves  # noqa: E402
from forecasting.metrics import wape  # noqa: E402

ATTRIBUTES = ("season", "category", "color", "fabric", "extra")
CUTOFF = dt.date(2019, 1, 1)
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "visuelle_accuracy.json"


def load(data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """VISUELLE products and sales in the core frame format."""
    raw = pd.read_csv(data / "products.csv", parse_dates=["launch_date"])
    products = pd.DataFrame(
        {
            "product_id": raw["product_id"].astype(str),
            "launch_date": raw["launch_date"],
            "attributes": raw[list(ATTRIBUTES)].to_dict("records"),
        }
    )
    sales = pd.read_csv(data / "sales.csv", parse_dates=["date"])
    sales["product_id"] = sales["product_id"].astype(str)
    return products, sales


def before(
    products: pd.DataFrame, sales: pd.DataFrame, day: dt.date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Only the products launched before `day`, and their sales."""
    kept = products[products["launch_date"] < pd.Timestamp(day)]
    return kept, sales[sales["product_id"].isin(kept["product_id"])]


def reference_figures(
    products: pd.DataFrame, sales: pd.DataFrame, cutoff: dt.date
) -> dict[str, float]:
    """The issue's reference baselines, to check the scoring: global mean curve, paper kNN."""
    launch = pd.to_datetime(products["launch_date"])
    train, test = products[launch < pd.Timestamp(cutoff)], products[launch >= pd.Timestamp(cutoff)]
    tr = build_launch_curves(train, sales[sales["product_id"].isin(train["product_id"])], "W", 12)
    te = build_launch_curves(test, sales[sales["product_id"].isin(test["product_id"])], "W", 12)
    global_mean = np.nanmean(tr.values, axis=0)
    # kNN as in the paper's baseline: the k = 11 training products with the fewest
    # category/color/fabric mismatches (ties in training order), mean of their curves.
    names = ("category", "color", "fabric")
    a = np.array([[attrs[k] for k in names] for attrs in tr.attributes])
    b = np.array([[attrs[k] for k in names] for attrs in te.attributes])
    mismatches = (b[:, None, :] != a[None, :, :]).sum(axis=2)
    nearest = np.argsort(mismatches, axis=1, kind="stable")[:, :11]
    knn = tr.values[nearest].mean(axis=1)
    return {
        "global_mean_curve_wape": wape(te.values, np.tile(global_mean, (len(te), 1))),
        "paper_knn_k11_wape": wape(te.values, knn),
    }


SPLITS = {
    # name: (products launched before, train launches before) -> scored in between
    "2018H1": (dt.date(2018, 7, 1), dt.date(2018, 1, 1)),
    "2018H2": (dt.date(2019, 1, 1), dt.date(2018, 7, 1)),
    "2019": (None, CUTOFF),
}


def run_split(
    products: pd.DataFrame,
    sales: pd.DataFrame,
    split: str,
    seed: int,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One backtest with the service's own configuration at this seed (and `overrides`, for
    trying a change: `--set key=value`)."""
    until, cutoff = SPLITS[split]
    if until is not None:
        products, sales = before(products, sales, until)
    config = default_config(seed=seed, **(overrides or {}))
    started = time.perf_counter()
    result = backtest(products, sales, config, cutoff=cutoff)
    metrics = result.metrics
    served = metrics["methods"]["served"]
    warm = metrics["warmup"].get("2", {})
    return {
        "split": split,
        "seed": seed,
        "seconds": round(time.perf_counter() - started, 1),
        "n_train": metrics["n_train"],
        "n_test": metrics["n_test"],
        "served_method": metrics["served_method"],
        "served_wape": served["wape"],
        "served_bias": served["bias"],
        "coverage": served["coverage"],
        # the band summed over the 12 weeks against each product's 12-week total
        "total_coverage": served.get("total_coverage"),
        # how often an order of the total's quantile at each service level covered the total
        "total_service_levels": served.get("total_service_levels"),
        "warmup_ratio": warm.get("ratio"),
        "warmup_naive_wape": warm.get("naive_wape"),
        "methods": {m: s["wape"] for m, s in metrics["methods"].items()},
        "fva": metrics["fva"],
        "decisions": metrics["cross_validation"]["decisions"],
        "models_fitted": metrics["models_fitted"],
        "rounds": metrics["cross_validation"]["rounds"],
        "warmup_rounds": metrics["cross_validation"].get("warmup_rounds"),
        "warm_wape": warm.get("warm", {}).get("wape"),
        "warm_coverage": warm.get("warm", {}).get("coverage"),
        # every observed count the configuration's backtest scores (the figure is 2)
        "warmup_by_observed": {
            k: {
                "ratio": w.get("ratio"),
                "wape": w.get("warm", {}).get("wape"),
                "coverage": w.get("warm", {}).get("coverage"),
                "total_coverage": w.get("warm", {}).get("total_coverage"),
                "total_service_levels": w.get("warm", {}).get("total_service_levels"),
            }
            for k, w in metrics["warmup"].items()
        },
        "stages": {s["stage"]: s["seconds"] for s in metrics["stages"]},
        "references": reference_figures(products, sales, cutoff),
    }


def parse_override(item: str) -> tuple[str, Any]:
    """ "key=value" -> (key, value), the value read as JSON where it is (else a string)."""
    key, _, value = item.partition("=")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def spread(values: list[float]) -> dict[str, float]:
    """Mean, min and max of one figure over the seeds."""
    return {
        "mean": float(np.mean(values)),
        "min": float(np.min(values)),
        "max": float(np.max(values)),
    }


def write_results(
    args: argparse.Namespace, script: str, summary: dict[str, Any], runs: list[dict[str, Any]]
) -> None:
    """The figures, with the command that reproduces them, to `args.output`."""
    command = (
        f"python benchmarks/{script} --splits {' '.join(args.splits)} "
        f"--seeds {' '.join(map(str, args.seeds))}" + "".join(f" --set {s}" for s in args.set)
    )
    payload = {"command": command, "summary": summary, "runs": runs}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.output}")


def arguments(doc: str | None, output: Path) -> argparse.Namespace:
    """The options both VISUELLE benchmarks take: data, output, seeds, splits, --set."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "visuelle",
        help="the VISUELLE folder (products.csv, sales.csv); default: beside the checkout",
    )
    parser.add_argument("--output", type=Path, default=output)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--splits",
        nargs="+",
        choices=list(SPLITS),
        default=["2018H1", "2018H2"],
        help="development periods by default; 2019 once per decision",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="try a configuration change (a JSON value), e.g. --set gbm_num_leaves=63",
    )
    args = parser.parse_args()
    missing = [name for name in ("products.csv", "sales.csv") if not (args.data / name).is_file()]
    if missing:
        # A clone elsewhere has no VISUELLE beside it: say where to point, not a traceback.
        parser.error(f"--data: {args.data} has no {' or '.join(missing)}; pass the VISUELLE folder")
    return args


def run_every(
    args: argparse.Namespace,
    run: Callable[..., dict[str, Any]],
    describe: Callable[[dict[str, Any]], str],
) -> list[dict[str, Any]]:
    """`run(products, sales, split, seed, overrides)` for every split and seed asked for, one
    printed line (`describe`) per run, as they finish."""
    overrides = dict(parse_override(item) for item in args.set)
    products, sales = load(args.data)
    runs = []
    for split in args.splits:
        for seed in args.seeds:
            runs.append(run(products, sales, split, seed, overrides))
            print(f"{split} seed {seed}: {describe(runs[-1])}")
    return runs


def spreads(runs: list[dict[str, Any]], split: str, keys: Sequence[str]) -> dict[str, Any]:
    """`spread` of each figure over the split's seeds."""
    mine = [r for r in runs if r["split"] == split]
    return {key: spread([r[key] for r in mine]) for key in keys}


def _describe(run: dict[str, Any]) -> str:
    methods = " ".join(f"{m} {w:.1f}" for m, w in run["methods"].items())
    return (
        f"served {run['served_method']} WAPE {run['served_wape']:.1f} "
        f"bias {run['served_bias']:+.1f}% coverage {run['coverage']:.3f} warm-up ratio "
        f"{run['warmup_ratio']:.3f} | {methods} | {run['seconds']}s, {run['models_fitted']} models"
    )


def main() -> int:
    args = arguments(__doc__, DEFAULT_OUTPUT)
    runs = run_every(args, run_split, _describe)
    summary = {}
    for split in args.splits:
        mine = [r for r in runs if r["split"] == split]
        keys = ("served_wape", "coverage", "total_coverage", "warmup_ratio", "warm_coverage")
        summary[split] = spreads(runs, split, keys)
        summary[split]["warmup_by_observed"] = {
            k: {
                key: float(np.mean([r["warmup_by_observed"][k][key] for r in mine]))
                for key in ("ratio", "coverage", "total_coverage")
            }
            for k in mine[0]["warmup_by_observed"]
        }
        summary[split]["total_service_levels"] = {
            level: float(np.mean([r["total_service_levels"][level] for r in mine]))
            for level in mine[0]["total_service_levels"]
        }
        s = summary[split]
        print(
            f"{split}: served WAPE {s['served_wape']['mean']:.2f} "
            f"[{s['served_wape']['min']:.2f}, {s['served_wape']['max']:.2f}], coverage "
            f"{s['coverage']['mean']:.3f} (12-week totals {s['total_coverage']['mean']:.3f}), "
            f"warm-up ratio {s['warmup_ratio']['mean']:.3f} "
            f"(coverage {s['warm_coverage']['mean']:.3f}) over seeds {args.seeds}"
        )
        print(
            "  12-week totals at or below the total's quantile, per service level: "
            + ", ".join(f"{q}: {v:.3f}" for q, v in s["total_service_levels"].items())
        )
        print(
            "  warm-up by periods observed: "
            + ", ".join(
                f"{k}: ratio {w['ratio']:.3f} coverage {w['coverage']:.3f} "
                f"(totals {w['total_coverage']:.3f})"
                for k, w in s["warmup_by_observed"].items()
            )
        )
    write_results(args, "visuelle_accuracy.py", summary, runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
