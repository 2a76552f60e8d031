"""The catalogue of known launch curves: what every other component learns from."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import numpy as np
import pandas as pd

from forecasting.artifact import ArtifactReader, ArtifactWriter
from forecasting.config import ForecasterConfig
from forecasting.curves import build_launch_curves
from forecasting.features import to_days


class LaunchCatalogue:
    """Known products' launch curves, launch days and attributes, in launch order.

    Fitted state: `product_ids_`, `launch_days_` (int64 days since 1970-01-01), `curves_`
    ((n, max(launch_steps, curve_steps)), NaN where a step was not reached yet), `attributes_`,
    `n_clipped_`, `n_skipped_`, `data_hash_`, `last_sale_` (the newest sale's date: how far
    the sales it learnt from reach, None without sales).
    """

    def __init__(self, config: ForecasterConfig) -> None:
        self.config = config

    def fit(self, products: pd.DataFrame, sales: pd.DataFrame) -> LaunchCatalogue:
        """Align every product's sales on steps since its launch.

        Raises:
            EmptyCatalogue: fewer than 3 products have sales.
        """
        cfg = self.config
        curves = build_launch_curves(
            products, sales, cfg.freq, max(cfg.launch_steps, cfg.curve_steps)
        )
        self.product_ids_ = curves.product_ids.astype(str)
        self.launch_days_ = to_days(curves.launch_dates)
        self.curves_ = curves.values
        self.attributes_: list[dict[str, Any]] = curves.attributes
        self.n_clipped_ = int(curves.n_clipped)
        self.n_skipped_ = int(curves.n_skipped)
        self.data_hash_ = _data_hash(
            self.product_ids_, self.launch_days_, self.curves_, curves.attributes
        )
        newest = pd.to_datetime(sales["date"]).max() if len(sales) else pd.NaT
        self.last_sale_: dt.date | None = None if pd.isna(newest) else newest.date()
        self._index()
        return self

    def __len__(self) -> int:
        return len(self.product_ids_)

    def _index(self) -> None:
        self.row_of_ = {pid: i for i, pid in enumerate(self.product_ids_)}

    def row(self, product_id: str | None) -> int:
        """The row of a known product, -1 when unknown."""
        return self.row_of_.get(product_id or "", -1)

    @property
    def launch_curves(self) -> np.ndarray:
        """(n, launch_steps) curves over the steps the launch model covers."""
        return self.curves_[:, : self.config.launch_steps]

    def summary(self) -> dict[str, Any]:
        """What the catalogue held (for the artifact's metadata)."""
        days = self.launch_days_.astype("datetime64[D]")
        return {
            "n_products": len(self),
            "n_clipped": self.n_clipped_,
            "n_skipped": self.n_skipped_,
            "training_data_sha256": self.data_hash_,
            "first_launch": str(days.min()) if len(days) else None,
            "last_launch": str(days.max()) if len(days) else None,
            "last_sale": self.last_sale_.isoformat() if self.last_sale_ else None,
        }

    def save(self, writer: ArtifactWriter) -> None:
        writer.array("product_ids", self.product_ids_.astype(str))
        writer.array("launch_days", self.launch_days_)
        writer.array("curves", self.curves_)
        writer.json("catalogue", {"summary": self.summary()})

    @classmethod
    def load(cls, reader: ArtifactReader, config: ForecasterConfig) -> LaunchCatalogue:
        self = cls(config)
        self.product_ids_ = reader.array("product_ids").astype(str)
        self.launch_days_ = reader.array("launch_days")
        self.curves_ = reader.array("curves")
        summary = reader.json("catalogue")["summary"]
        self.attributes_ = []  # the neighbour model keeps the encoded attributes
        self.n_clipped_ = int(summary["n_clipped"])
        self.n_skipped_ = int(summary["n_skipped"])
        self.data_hash_ = str(summary["training_data_sha256"])
        last_sale = summary.get("last_sale")  # absent from artifacts written before it
        self.last_sale_ = dt.date.fromisoformat(last_sale) if last_sale else None
        self._index()
        return self


def _data_hash(
    ids: np.ndarray, days: np.ndarray, curves: np.ndarray, attributes: list[dict[str, Any]]
) -> str:
    digest = hashlib.sha256()
    digest.update("\n".join(ids.astype(str)).encode())
    digest.update(days.tobytes())
    digest.update(np.nan_to_num(curves, nan=-1.0).tobytes())
    digest.update(json.dumps(attributes, sort_keys=True, default=str).encode())
    return "sha256:" + digest.hexdigest()
