"""The forecast role's privacy attack over several random splits, and its accuracy cost (issue 13).

tests/test_planner_api.py runs the attack once, on one random half A of the planner catalogue
(split seed 13), through HTTP. This runs the same attack through the core, for several split
seeds and several `private_min_products`, in two designs:

- `smaller` (the test's): the model that never saw A is trained on the catalogue without A, so
  it also learnt from fewer products (192 instead of 360);
- `matched`: A is replaced by as many fresh products from the same generator (another seed), so
  both models learnt from 360 products and only A's membership differs.

Both use the test's margin rule: two bootstrap standard deviations of the paired difference
(forecast-role answers do not depend on the model's seed, so the seed spread is 0).

A third design, `--folds K`, asks about one product at a time rather than half the catalogue:
every product with a full curve is attacked, and its "unseen" answer comes from a model trained
without the tenth (K = 10) of them it was drawn into, so each unseen model differs from the
served one by ~5% of its products. Less is removed, so less noise hides a lean: this is the
finer attack.

Every design attacks two answers: the forecast role's (`cross-fitted`: curves fitted on the half
of the catalogue that a query's description does not hash to, forecasting/private.py) and the one
it gave before (`pooled`: attribute curves over the whole catalogue), with the same floor.

Accuracy: VISUELLE 2018 H2 (products launched before 2019; train < 2018-07-01, score the
launches of 2018 H2, 12 weeks, no history), cold forecast-role answers against the model's own
attribute_curve method and the global curve.

    .venv/bin/python benchmarks/privacy_attack.py [--splits 13 1 2 ... 18] [--min-products 10 100]
        [--folds 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.visuelle_accuracy import before, load  # noqa: E402
from forecasting.catalogue import LaunchCatalogue  # noqa: E402
from forecasting.config import default_config  # noqa: E402
from forecasting.metrics import wape as wape_percent  # noqa: E402
from forecasting.model import LaunchForecaster  # noqa: E402
from forecasting.synthetic import generate_catalogue  # noqa: E402
from forecasting.types import ForecastQuery  # noqa: E402
from tests.test_planner_api import (  # noqa: E402
    HORIZON,
    core_reconstruction,
    full_curve_ids,
    paired_bootstrap_sd,
    planner_catalogue,
    pooled_reconstruction,
    training_ids,
    truth,
    wape,
)

OUTPUT = ROOT / "benchmarks" / "results" / "privacy_attack.json"
FRESH_SEED = 12


def halves(split_seed: int) -> list[str]:
    """Half A of the products with a full launch curve, as the test draws it."""
    ids = full_curve_ids(training_ids())
    shuffled = [str(p) for p in np.random.default_rng(split_seed).permutation(ids)]
    return sorted(shuffled[: len(shuffled) // 2])


def fresh(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """n products from the planner catalogue's recipe at another seed, ids F00001..."""
    products, sales = generate_catalogue(n, seed=FRESH_SEED)
    finish = np.random.default_rng(FRESH_SEED).choice(["matte", "gloss"], size=n)
    attributes = [{**a, "finish": f} for a, f in zip(products["attributes"], finish, strict=True)]
    gloss = set(products["product_id"][finish == "gloss"])
    sales = sales.assign(
        quantity=np.where(sales["product_id"].isin(gloss), 2.0, 1.0) * sales["quantity"]
    )
    rename = {p: "F" + p[1:] for p in products["product_id"]}
    products = products.assign(
        product_id=products["product_id"].map(rename),
        attributes=pd.Series(attributes, index=products.index),
    )
    return products, sales.assign(product_id=sales["product_id"].map(rename))


def fit(products: pd.DataFrame, sales: pd.DataFrame) -> LaunchForecaster:
    """The test's model configuration."""
    config = default_config(gbm_rounds=30, seed=0, neighbours_k=10)
    return LaunchForecaster(config).fit(
        products, sales[sales["product_id"].isin(products["product_id"])]
    )


ANSWERS = ("cross-fitted", "pooled")  # the forecast role's answer today, and before


def answers(model: LaunchForecaster, ids: list[str], min_products: int, answer: str) -> np.ndarray:
    """The attack's reconstruction of `ids` through the forecast role's answer (`cross-fitted`)
    or through attribute curves pooled over the whole catalogue (`pooled`, its answer before)."""
    if answer == "pooled":
        return pooled_reconstruction(model, ids, max(min_products, model.config.min_analogues))
    model.config = model.config.replace(private_min_products=min_products)
    return core_reconstruction(model, ids)


def attack(splits: list[int], min_products: list[int]) -> list[dict[str, Any]]:
    products, sales = planner_catalogue()
    seen = fit(products, sales)
    extra_products, extra_sales = fresh(len(products))
    rows = []
    for split in splits:
        a = halves(split)
        kept = products[~products["product_id"].isin(a)]
        added = extra_products.iloc[: len(a)]
        unseen = {
            "smaller": fit(kept, sales),
            "matched": fit(
                pd.concat([kept, added], ignore_index=True),
                pd.concat([sales, extra_sales], ignore_index=True),
            ),
        }
        actual = truth(a)
        for n in min_products:
            for answer in ANSWERS:
                seen_a = answers(seen, a, n, answer)
                for design, model in unseen.items():
                    unseen_a = answers(model, a, n, answer)
                    rows.append(compare(split, design, n, answer, actual, seen_a, unseen_a))
    return rows


def compare(
    split: int,
    design: str,
    min_products: int,
    answer: str,
    actual: np.ndarray,
    seen: np.ndarray,
    unseen: np.ndarray,
) -> dict[str, Any]:
    """One attack's figures (the test's margin rule), printed as they come."""
    seen_wape, unseen_wape = wape(actual, seen), wape(actual, unseen)
    margin = 2 * paired_bootstrap_sd(actual, seen, unseen)
    row = {
        "split_seed": split,
        "design": design,
        "private_min_products": min_products,
        "answer": answer,
        "seen": seen_wape,
        "unseen": unseen_wape,
        "gap": unseen_wape - seen_wape,
        "margin": margin,
        "leans": unseen_wape - seen_wape > margin,
    }
    print(
        f"split {split:2d} {design:8s} min {min_products:3d} {answer:12s}: seen {seen_wape:.4f} "
        f"unseen {unseen_wape:.4f} gap {row['gap']:+.4f} margin {margin:.4f}"
        f"{'  LEANS' if row['leans'] else ''}",
        flush=True,
    )
    return row


def attack_by_folds(splits: list[int], min_products: list[int], k: int) -> list[dict[str, Any]]:
    """The `--folds` design: each attacked product's unseen answer from the model that left out
    its fold (1/k of the attacked products), its seen answer from the whole catalogue's."""
    products, sales = planner_catalogue()
    everyone = set(products["product_id"])
    seen = fit(products, sales)
    ids = full_curve_ids(training_ids())
    rows = []
    for split in splits:
        shuffled = [str(p) for p in np.random.default_rng(split).permutation(ids)]
        folds = [sorted(shuffled[i::k]) for i in range(k)]
        without = [
            fit(products[products["product_id"].isin(everyone - set(f))], sales) for f in folds
        ]
        attacked = [p for f in folds for p in f]
        actual = truth(attacked)
        for n in min_products:
            for answer in ANSWERS:
                seen_answers = answers(seen, attacked, n, answer)
                unseen_answers = np.concatenate(
                    [answers(m, f, n, answer) for m, f in zip(without, folds, strict=True)]
                )
                rows.append(
                    compare(split, f"folds {k}", n, answer, actual, seen_answers, unseen_answers)
                )
    return rows


def accuracy(data: Path, min_products: list[int]) -> dict[str, float]:
    """WAPE (%) of cold forecast-role answers on VISUELLE 2018 H2, and of two references."""
    products, sales = before(*load(data), dt.date(2019, 1, 1))
    cutoff = pd.Timestamp("2018-07-01")
    train = products[products["launch_date"] < cutoff]
    test = products[products["launch_date"] >= cutoff]
    model = fit(train, sales)
    scored = LaunchCatalogue(default_config()).fit(
        test, sales[sales["product_id"].isin(test["product_id"])]
    )
    actual = scored.launch_curves
    queries = [
        ForecastQuery(launch_date=dt.date(1970, 1, 1) + dt.timedelta(days=int(day)), attributes=a)
        for day, a in zip(scored.launch_days_, scored.attributes_, strict=True)
    ]
    components = model.predict_components(queries)
    out = {m: wape_percent(actual, components[m]) for m in ("attribute_curve", "global_curve")}
    for n in min_products:
        model.config = model.config.replace(private_min_products=n)
        private = np.array([f.point for f in model.predict(queries, HORIZON, private=True)])
        out[f"private_min_products_{n}"] = wape_percent(actual, private)
    for name, value in out.items():
        print(f"VISUELLE 2018 H2 ({len(queries)} launches): {name} WAPE {value:.2f}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--splits", type=int, nargs="+", default=[13, *range(1, 13), *range(14, 19)]
    )
    parser.add_argument("--min-products", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "visuelle")
    parser.add_argument(
        "--folds", type=int, default=10, help="K of the finer design (0: leave it out)"
    )
    args = parser.parse_args()
    rows = attack(args.splits, args.min_products)
    designs = ["smaller", "matched"]
    if args.folds:
        rows += attack_by_folds(args.splits, args.min_products, args.folds)
        designs.append(f"folds {args.folds}")
    summary = {
        f"{design} min {n} {answer}": sum(
            r["leans"]
            for r in rows
            if (r["design"], r["private_min_products"], r["answer"]) == (design, n, answer)
        )
        for design in designs
        for n in args.min_products
        for answer in ANSWERS
    }
    print("splits where the attack tells the lean from noise:", summary, f"of {len(args.splits)}")
    payload = {
        "command": "python benchmarks/privacy_attack.py --splits "
        + " ".join(map(str, args.splits))
        + " --min-products "
        + " ".join(map(str, args.min_products))
        + f" --folds {args.folds}",
        "attack": rows,
        "leaning_splits": summary,
        "visuelle_2018h2_wape": accuracy(args.data, args.min_products),
    }
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
