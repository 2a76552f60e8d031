"""Accuracy on VISUELLE as the service is run: retrained every month, each model scoring the
launches of the month after its training.

`benchmarks/visuelle_accuracy.py` trains once per split and scores six or twelve months of
later launches with that one model; the service retrains weekly (`retrain_cron`), so its
forecasts are never more than days older than the catalogue. Here each month of a split's test
period is forecast by a model trained on every launch before that month (the same backtest,
cutoff moved month by month), and the served forecast's WAPE and 10-90% coverage are pooled over
the period. Beside each month's figure stands the one model trained before the period, scored on
the same month's launches, so the plot shows what retraining buys as that model ages. Each
month's model also scores its launches' warm-ups (after each count of periods in
`backtest_warmup_observed`), whose 10-90% coverage is pooled over the period: how the warm-up
bands hold when the folds they were calibrated on are never more than a month old. Run from the
repository root of a fresh clone:

    .venv/bin/python benchmarks/visuelle_rolling.py --splits 2018H1 2018H2 --seeds 0 1 2

Writes benchmarks/results/visuelle_rolling.json and visuelle_rolling.png.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")  # headless: the PNG is the only output
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.visuelle_accuracy import (  # noqa: E402
    SPLITS,
    arguments,
    before,
    run_every,
    spreads,
    write_results,
)
from forecasting.backtest import backtest, launch_queries  # noqa: E402
from forecasting.config import ForecasterConfig, default_config  # noqa: E402
from forecasting.curves import build_launch_curves  # noqa: E402
from forecasting.metrics import wape  # noqa: E402
from forecasting.model import LaunchForecaster  # noqa: E402

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
    one_model = period_model(products, sales, split, config)
    error = one_model_error = total = inside = cells = 0.0
    warm_inside = dict.fromkeys(config.backtest_warmup_observed, 0.0)
    warm_cells = dict.fromkeys(config.backtest_warmup_observed, 0.0)
    months = []
    for start, end in month_starts(products, split):
        known, known_sales = before(products, sales, end.date())
        launched = pd.to_datetime(known["launch_date"]) >= start
        if launched.sum() < MIN_LAUNCHES:
            continue
        metrics = backtest(known, known_sales, config, cutoff=start.date(), n_samples=0).metrics
        served = metrics["methods"]["served"]
        for count, scores in metrics["warmup"].items():
            warm = scores["warm"]
            if warm.get("coverage") is not None and warm["n"]:
                warm_inside[int(count)] += warm["coverage"] * warm["n"]
                warm_cells[int(count)] += warm["n"]
        scored = known[launched]
        curves = build_launch_curves(
            scored,
            known_sales[known_sales["product_id"].isin(scored["product_id"])],
            config.freq,
            config.launch_steps,
        )
        actual = curves.values
        sold, weeks = float(np.nansum(actual)), float(np.isfinite(actual).sum())
        one_model_wape = wape(
            actual, one_model.predict_components(launch_queries(curves))["served"]
        )
        error += served["wape"] / 100 * sold
        one_model_error += one_model_wape / 100 * sold
        total += sold
        inside += served["coverage"] * weeks
        cells += weeks
        months.append(
            {
                "month": str(start.date())[:7],
                "launches": int(launched.sum()),
                "served_wape": served["wape"],
                "one_model_wape": one_model_wape,
            }
        )
    return {
        "split": split,
        "seed": seed,
        "served_wape": 100 * error / total,
        "one_model_wape": 100 * one_model_error / total,
        "coverage": inside / cells,
        "warmup_coverage": {
            str(k): warm_inside[k] / warm_cells[k] for k in warm_inside if warm_cells[k]
        },
        "months": months,
        "seconds": round(time.perf_counter() - started, 1),
    }


def period_model(
    products: pd.DataFrame, sales: pd.DataFrame, split: str, config: ForecasterConfig
) -> LaunchForecaster:
    """The one model `benchmarks/visuelle_accuracy.py` scores the split with: trained on every
    launch before the period."""
    until, cutoff = SPLITS[split]
    if until is not None:
        products, sales = before(products, sales, until)
    model = backtest(products, sales, config, cutoff=cutoff, n_samples=0, warmup_observed=()).model
    assert model is not None  # a backtest always returns its model
    return model


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    """Per split, each month's served WAPE: retrained monthly against the one model trained
    before the period (mean over the seeds, their range shaded)."""
    splits = list(dict.fromkeys(run["split"] for run in runs))
    fig, axes = plt.subplots(1, len(splits), figsize=(4.6 * len(splits), 3.8), squeeze=False)
    for ax, split in zip(axes[0], splits, strict=True):
        mine = [run for run in runs if run["split"] == split]
        months = [m["month"] for m in mine[0]["months"]]
        x = np.arange(len(months))
        for key, label, color in (
            ("one_model_wape", "one model for the period", "tab:grey"),
            ("served_wape", "retrained every month", "tab:blue"),
        ):
            values = np.array([[m.get(key, np.nan) for m in run["months"]] for run in mine])
            if np.isnan(values).all():
                continue
            ax.plot(x, values.mean(axis=0), marker="o", color=color, label=label)
            ax.fill_between(x, values.min(axis=0), values.max(axis=0), color=color, alpha=0.2)
        ax.set_xticks(x, months, rotation=45, ha="right", fontsize=8)
        ax.set_title(f"VISUELLE {split}: cold-start WAPE by launch month", fontsize=10)
        ax.set_ylabel("served WAPE, 12 weeks")
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _describe(run: dict[str, Any]) -> str:
    warm = ", ".join(f"{k}: {v:.3f}" for k, v in run["warmup_coverage"].items())
    return (
        f"served WAPE {run['served_wape']:.2f} (one model for the period: "
        f"{run['one_model_wape']:.2f}), coverage {run['coverage']:.3f}, warm-ups {warm}, "
        f"{len(run['months'])} monthly models, {run['seconds']}s"
    )


def summarise(runs: list[dict[str, Any]], splits: list[str]) -> dict[str, Any]:
    """Per split: mean and spread over the seeds, and the warm-up coverage per count."""
    summary = {}
    for split in splits:
        summary[split] = spreads(runs, split, ("served_wape", "one_model_wape", "coverage"))
        mine = [run for run in runs if run["split"] == split]
        summary[split]["warmup_coverage"] = {
            k: float(np.mean([run["warmup_coverage"][k] for run in mine]))
            for k in mine[0]["warmup_coverage"]
        }
    return summary


def main() -> int:
    args = arguments(__doc__, DEFAULT_OUTPUT)
    runs = run_every(args, run_split, _describe)
    summary = summarise(runs, args.splits)
    for split, figures in summary.items():
        s = figures["served_wape"]
        print(
            f"{split}: served WAPE {s['mean']:.2f} [{s['min']:.2f}, {s['max']:.2f}], warm-up "
            "coverage " + ", ".join(f"{k}: {v:.3f}" for k, v in figures["warmup_coverage"].items())
        )
    write_results(args, "visuelle_rolling.py", summary, runs)
    plot(runs, args.output.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
