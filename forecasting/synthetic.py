"""A seeded synthetic catalogue for the demo and the tests (no network, no real data).

Launch curves depend on the attributes and the launch month, so a model can learn them: category
and channel set the level, price lowers it, subcategory sets the shape (fast fashion peaks early
and fades, basics ramp up and last), the launch month adds seasonality. On top: multiplicative
noise, slow intermittent sellers, long-lived products with a year or more of history, and a few
net returns.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

CATEGORIES: dict[str, tuple[str, ...]] = {
    "dresses": ("maxi", "midi", "mini"),
    "tops": ("t-shirt", "blouse", "tank"),
    "trousers": ("jeans", "chinos", "culottes"),
    "outerwear": ("coat", "jacket", "parka"),
    "knitwear": ("cardigan", "sweater"),
}
CATEGORY_LEVEL = {"dresses": 1.0, "tops": 1.6, "trousers": 1.2, "outerwear": 0.7, "knitwear": 0.8}
# Winter goods sell best launched in autumn, summer goods in spring (month -> multiplier).
CATEGORY_SEASON_PEAK = {
    "dresses": 5,
    "tops": 6,
    "trousers": 3,
    "outerwear": 10,
    "knitwear": 11,
}
COLORS = ("black", "white", "blue", "red", "green", "beige", "grey", "pink", "yellow")
COLOR_LEVEL = dict(zip(COLORS, (1.3, 1.2, 1.1, 0.9, 0.8, 1.0, 0.9, 0.8, 0.6), strict=True))
MATERIALS = ("cotton", "linen", "polyester", "wool", "denim", "viscose")
CHANNELS = ("online", "store", "both")
CHANNEL_LEVEL = {"online": 0.7, "store": 1.0, "both": 1.5}


def generate_catalogue(
    n_products: int = 3000,
    seed: int = 0,
    end: dt.date = dt.date(2026, 6, 29),
    years: float = 3.0,
    history_periods: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate products and weekly sales in the core frame format (see forecasting/types.py).

    Args:
        n_products: How many products to launch.
        seed: Random seed; the same seed gives the same catalogue.
        end: The last date with sales ("today"): recent launches have only a few weeks.
        years: Launches are spread over this many years before `end`.
        history_periods: At most this many weekly sales rows per product (the training-scale
            benchmark uses 52); None keeps every week of each product's life (up to 129).

    Returns:
        (products, sales): products with product_id, launch_date, attributes;
        sales with product_id, date, quantity (one row per product and week).
    """
    rng = np.random.default_rng(seed)
    n = n_products
    category = rng.choice(list(CATEGORIES), size=n)
    subcategory = np.array([rng.choice(CATEGORIES[c]) for c in category])
    color = rng.choice(COLORS, size=n)
    material = rng.choice(MATERIALS, size=n)
    channel = rng.choice(CHANNELS, size=n, p=[0.3, 0.4, 0.3])
    is_basic = rng.random(n) < 0.2
    price = np.round(rng.lognormal(mean=3.3, sigma=0.45, size=n), 2)
    span_days = int(years * 365)
    launch = pd.Timestamp(end) - pd.to_timedelta(rng.integers(0, span_days, size=n), unit="D")
    launch = pd.DatetimeIndex(launch).normalize()

    level = _level(category, color, channel, price, launch.month.to_numpy(), rng)
    intermittent = rng.random(n) < 0.08
    level = np.where(intermittent, rng.uniform(0.2, 1.5, size=n), level)
    life = np.where(
        rng.random(n) < 0.12, rng.integers(52, 130, size=n), rng.integers(12, 27, size=n)
    )
    life = np.where(is_basic, np.maximum(life, 40), life)
    if history_periods is not None:
        if history_periods < 1:
            raise ValueError(f"history_periods must be at least 1, not {history_periods}")
        # Capped after the product draws, so the products are the same as without the cap.
        life = np.minimum(life, history_periods)

    products = pd.DataFrame(
        {
            "product_id": [f"P{i:05d}" for i in range(1, n + 1)],
            "launch_date": launch,
            "attributes": [
                {
                    "category": str(category[i]),
                    "subcategory": str(subcategory[i]),
                    "color": str(color[i]),
                    "material": str(material[i]),
                    "channel": str(channel[i]),
                    "price": float(price[i]),
                    "is_basic": bool(is_basic[i]),
                }
                for i in range(n)
            ],
        }
    )
    sales = _weekly_sales(products, level, life, subcategory, is_basic, intermittent, end, rng)
    return products, sales


def _level(
    category: np.ndarray,
    color: np.ndarray,
    channel: np.ndarray,
    price: np.ndarray,
    launch_month: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Expected weekly units at the peak, from the attributes and the launch month."""
    base = np.array([CATEGORY_LEVEL[c] for c in category])
    base *= np.array([COLOR_LEVEL[c] for c in color])
    base *= np.array([CHANNEL_LEVEL[c] for c in channel])
    base *= (30.0 / price) ** 0.6
    peak = np.array([CATEGORY_SEASON_PEAK[c] for c in category])
    distance = np.minimum(np.abs(launch_month - peak), 12 - np.abs(launch_month - peak))
    base *= 1.0 + 0.6 * np.cos(np.pi * distance / 6.0)
    return np.asarray(40.0 * base * rng.lognormal(0.0, 0.35, size=len(category)))


def _shape_params(subcategory: np.ndarray, is_basic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Peak week and weekly decay of each product's launch curve."""
    names = sorted({name for names in CATEGORIES.values() for name in names})
    peak_by_sub = {name: 1.0 + (i % 4) for i, name in enumerate(names)}
    decay_by_sub = {name: 0.08 + 0.03 * (i % 3) for i, name in enumerate(names)}
    peak = np.array([peak_by_sub[s] for s in subcategory])
    decay = np.array([decay_by_sub[s] for s in subcategory])
    return np.where(is_basic, 2.0, peak), np.where(is_basic, 0.02, decay)


def _weekly_sales(
    products: pd.DataFrame,
    level: np.ndarray,
    life: np.ndarray,
    subcategory: np.ndarray,
    is_basic: np.ndarray,
    intermittent: np.ndarray,
    end: dt.date,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One row per product and week from launch to the end of its life or to `end`."""
    observed = ((pd.Timestamp(end) - products.launch_date).dt.days // 7 + 1).to_numpy()
    n_weeks = np.clip(np.minimum(life, observed), 0, None).astype(int)
    row_product = np.repeat(np.arange(len(products)), n_weeks)
    week = np.concatenate([np.arange(1, k + 1) for k in n_weeks])
    peak, decay = _shape_params(subcategory, is_basic)
    shape = np.minimum(1.0, week / peak[row_product]) * np.exp(
        -decay[row_product] * np.maximum(week - peak[row_product], 0)
    )
    mean = level[row_product] * shape * rng.lognormal(0.0, 0.25, size=len(week))
    # Slow sellers: a flat, low, mostly-zero rate instead of a launch curve.
    mean = np.where(intermittent[row_product], level[row_product] * 0.4, mean)
    quantity = rng.poisson(mean).astype(float)
    returns = rng.random(len(week)) < 0.004
    quantity[returns] = -rng.integers(1, 4, size=int(returns.sum()))
    launch = products.launch_date.to_numpy()[row_product]
    return pd.DataFrame(
        {
            "product_id": products.product_id.to_numpy()[row_product],
            "date": launch + pd.to_timedelta(7 * (week - 1), unit="D").to_numpy(),
            "quantity": quantity,
        }
    )
