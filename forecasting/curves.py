"""Launch curves: each product's sales as period totals per step since its own launch.

A launch curve is a row of a (products x steps) matrix. Steps a product could not have reached yet
(they start after the last date in the sales data) are NaN, steps it reached without a sale are 0,
and a negative period total (net returns) counts as 0; how many were clipped is reported.
The global curve and the attribute-level curves are computed from the curves they are given only,
so calling them on training products alone keeps test products out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecasting.errors import EmptyCatalogue
from forecasting.periods import Frequency, steps_of

MIN_PRODUCTS = 3


@dataclass
class LaunchCurves:
    """Curves of a catalogue, aligned on steps since launch.

    Attributes:
        product_ids: Product ids, one per row.
        launch_dates: Launch dates (datetime64[ns]), one per row.
        attributes: Attribute dicts, one per row.
        values: (n_products, n_steps) period totals; NaN where the step was not reached yet.
        n_clipped: How many negative period totals were set to 0.
        n_skipped: Products without any sale (left out).
    """

    product_ids: np.ndarray
    launch_dates: np.ndarray
    attributes: list[dict[str, Any]]
    values: np.ndarray
    n_clipped: int
    n_skipped: int

    def __len__(self) -> int:
        return len(self.product_ids)


def resolve_launch_dates(products: pd.DataFrame, sales: pd.DataFrame) -> pd.Series:
    """Launch date per product; a missing one is the product's first sale date."""
    launch = pd.to_datetime(products["launch_date"]).astype("datetime64[ns]")
    if products.empty or not launch.isna().any():
        return launch
    first_sale = pd.to_datetime(sales["date"]).groupby(sales["product_id"]).min()
    fallback = pd.to_datetime(products["product_id"].map(first_sale)).astype("datetime64[ns]")
    return launch.fillna(fallback)


def build_launch_curves(
    products: pd.DataFrame, sales: pd.DataFrame, freq: Frequency, n_steps: int
) -> LaunchCurves:
    """Period totals per step since launch for every product that has sales.

    Args:
        products: Frame with product_id, launch_date, attributes (see forecasting/types.py).
        sales: Frame with product_id, date, quantity.
        freq: "D", "W" or "M".
        n_steps: How many steps since launch to keep.

    Returns:
        The curves; products without sales are skipped and counted.

    Raises:
        EmptyCatalogue: fewer than 3 products have sales.
    """
    products = products.drop_duplicates("product_id", keep="last").reset_index(drop=True)
    sales = sales[sales["product_id"].isin(products["product_id"])]
    launch = resolve_launch_dates(products, sales)
    products = products.assign(launch_date=launch)
    has_sales = products["product_id"].isin(sales["product_id"]).to_numpy()
    if not has_sales.any() or has_sales.sum() < MIN_PRODUCTS:
        raise EmptyCatalogue(
            f"need at least {MIN_PRODUCTS} products with sales to learn launch curves, "
            f"got {int(has_sales.sum())} (of {len(products)} products)"
        )
    known = products[has_sales & products["launch_date"].notna().to_numpy()]
    known = known.sort_values(["launch_date", "product_id"], kind="stable").reset_index(drop=True)
    row_of = pd.Series(np.arange(len(known)), index=known["product_id"].to_numpy())
    rows = row_of.reindex(sales["product_id"].to_numpy()).to_numpy()
    sale_launch = known["launch_date"].to_numpy()[rows]
    steps = steps_of(
        pd.Series(sale_launch), pd.Series(pd.to_datetime(sales["date"]).to_numpy()), freq
    )
    keep = (steps >= 1) & (steps <= n_steps)
    totals = np.zeros((len(known), n_steps))
    np.add.at(totals, (rows[keep], steps[keep] - 1), sales["quantity"].to_numpy(float)[keep])
    n_clipped = int((totals < 0).sum())
    totals = np.maximum(totals, 0.0)
    data_end = pd.to_datetime(sales["date"]).max()
    reached = _steps_reached(known["launch_date"], data_end, freq)
    totals[np.arange(n_steps)[None, :] >= reached[:, None]] = np.nan
    return LaunchCurves(
        product_ids=known["product_id"].astype(str).to_numpy(),
        launch_dates=known["launch_date"].to_numpy(dtype="datetime64[ns]"),
        attributes=[dict(a) if isinstance(a, Mapping) else {} for a in known["attributes"]],
        values=totals,
        n_clipped=n_clipped,
        n_skipped=int((~has_sales).sum()),
    )


def _steps_reached(launch: pd.Series, data_end: pd.Timestamp, freq: Frequency) -> np.ndarray:
    """How many steps each product had started by the last date of the data."""
    end = pd.Series(np.full(len(launch), data_end, dtype="datetime64[ns]"))
    return np.maximum(steps_of(launch.reset_index(drop=True), end, freq), 0)


def global_curve(values: np.ndarray, statistic: str = "median") -> np.ndarray:
    """The typical launch curve: per-step median (default) or mean over reached steps.

    Steps no product reached carry the last known value forward (a flat tail).
    """
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            curve = np.nanmedian(values, axis=0) if statistic == "median" else np.nanmean(values, 0)
    return _fill_forward(np.asarray(curve, dtype=float))


def _fill_forward(curve: np.ndarray) -> np.ndarray:
    """Replace NaN by the previous finite value (0 when none)."""
    out = curve.copy()
    last = 0.0
    for i, value in enumerate(out):
        if np.isfinite(value):
            last = value
        else:
            out[i] = last
    return out


def category_key(value: Any) -> str:
    """How an attribute value is keyed as a category (numbers are keyed by their text)."""
    return str(value)
