"""Training data: the catalogue from the database, checked and summarised."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from forecasting.errors import EmptyCatalogue
from store.repositories.catalogue import catalogue_counts, read_catalogue

# Fewer products with sales than this cannot be split into a training and a test part.
MIN_PRODUCTS = 20


@dataclass
class TrainingData:
    products: pd.DataFrame
    sales: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    # Rows the job could not use and left out (never a reason to fail the run): products whose
    # launch date is out of range or no date; observations likewise, with a non-finite quantity,
    # or of a quarantined product.
    quarantined: dict[str, int] = field(default_factory=lambda: {"products": 0, "sales": 0})


def load_training_data(session: Session) -> TrainingData:
    """Products with at least one sale, their sales, and a summary of what was left out."""
    products, sales = read_catalogue(session)
    sales = sales[np.isfinite(sales["quantity"].to_numpy())].reset_index(drop=True)
    n_products, n_sales = catalogue_counts(session)
    quarantined = {"products": n_products - len(products), "sales": n_sales - len(sales)}
    with_sales = products["product_id"].isin(set(sales["product_id"]))
    skipped = products.loc[~with_sales, "product_id"].astype(str).tolist()
    products = products[with_sales].reset_index(drop=True)
    if len(products) < MIN_PRODUCTS:
        raise EmptyCatalogue(
            f"the catalogue has {len(products)} products with sales; training needs at least "
            f"{MIN_PRODUCTS} (import some with `launchcast import` or POST /v1/sales)"
        )
    summary = {
        "n_products": len(products),
        "n_observations": len(sales),
        "n_products_without_sales": len(skipped),
        "products_without_sales_sample": skipped[:20],
        "first_launch": _day(products["launch_date"].min()),
        "last_launch": _day(products["launch_date"].max()),
        "last_sale": _day(sales["date"].max()),
        "n_negative_observations": int((sales["quantity"] < 0).sum()),
        "data_hash": data_hash(products, sales),
        "quarantined": quarantined,
    }
    return TrainingData(products, sales, summary, quarantined)


def data_hash(products: pd.DataFrame, sales: pd.DataFrame) -> str:
    """A stable digest of the training data: same catalogue, same hash."""
    digest = hashlib.sha256()
    ordered = products.sort_values("product_id")
    for pid, launch, attrs in zip(
        ordered["product_id"], ordered["launch_date"], ordered["attributes"], strict=True
    ):
        digest.update(f"{pid}|{launch}|{sorted(attrs.items())}\n".encode())
    ordered_sales = sales.sort_values(["product_id", "date"])
    digest.update(
        pd.util.hash_pandas_object(ordered_sales[["product_id", "date", "quantity"]], index=False)
        .to_numpy()
        .tobytes()
    )
    return "sha256:" + digest.hexdigest()


def _day(value: Any) -> str | None:
    return None if pd.isna(value) else str(pd.Timestamp(value).date())
