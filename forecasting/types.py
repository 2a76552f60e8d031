"""The data the forecasting core takes and gives. Plain dataclasses and DataFrames: no HTTP, no SQL.

Frames the core accepts (the service and the training job both build exactly these):

- products: one row per product, columns
  `product_id` (str), `launch_date` (datetime64[ns], may be NaT: then the first sale's date is
  used), `attributes` (object: a flat dict of str | float | int | bool | None per product).
- sales: one row per observation, columns `product_id` (str), `date` (datetime64[ns]),
  `quantity` (float; negative = net returns; a negative *period total* counts as zero in training).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PRODUCT_COLUMNS = ("product_id", "launch_date", "attributes")
SALES_COLUMNS = ("product_id", "date", "quantity")

# The names `method` may take in an answer (plus "statistical:<model>").
METHODS = ("blend", "gbm", "neighbours", "attribute_curve", "global_curve")
# LightGBM regression objectives a model may be trained with (names as LightGBM spells them;
# "quantile" is left out: it needs an alpha, and quantiles come from calibration).
GBM_OBJECTIVES = (
    "l1",
    "regression_l1",
    "l2",
    "regression",
    "huber",
    "fair",
    "poisson",
    "gamma",
    "tweedie",
    "mape",
)


# A period's observed total above this is refused: forecasts scale with the observed level
# (forecasting/levels.py), and beyond it they would no longer be finite numbers. The store
# refuses single quantities beyond it (store/fields.py), so training never sees them.
MAX_PERIOD_QUANTITY = 1e12


@dataclass(frozen=True)
class Analogue:
    """A like item the planner pins: the forecast borrows from it with this relative weight."""

    product_id: str
    weight: float = 1.0


@dataclass(frozen=True)
class ForecastQuery:
    """One product to forecast: new, warming up (a few observed periods) or established."""

    launch_date: dt.date
    attributes: dict[str, Any]
    product_id: str | None = None
    # Observed sales, (date, quantity) pairs, possibly several per step; all on/after launch.
    history: tuple[tuple[dt.date, float], ...] = ()
    # The planner's like items (borrowed from instead of the chosen neighbours, in this order)
    # and the known products never to borrow from.
    analogues: tuple[Analogue, ...] = ()
    exclude_analogues: tuple[str, ...] = ()


@dataclass(frozen=True)
class Neighbour:
    """A known product the forecast borrowed from."""

    product_id: str
    similarity: float  # in [0, 1]
    weight: float  # share of the neighbour forecast, weights sum to 1
    curve: tuple[float, ...] | None = None  # its launch curve, steps 1..horizon (NaN: not reached)


@dataclass(frozen=True)
class Drivers:
    """The forecast's total over the horizon as a baseline plus contributions that sum to it."""

    baseline: float
    contributions: dict[str, float]


@dataclass
class ProductForecast:
    """The answer for one query. Steps are periods since launch (1-based)."""

    product_id: str | None
    method: str
    steps: np.ndarray  # int, consecutive: s+1 .. s+horizon after s observed steps
    start_dates: list[dt.date]
    point: np.ndarray  # the point (the median) per step; finite, >= 0
    quantiles: dict[float, np.ndarray] = field(default_factory=dict)  # monotone in level, >= 0
    neighbours: list[Neighbour] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    drivers: Drivers | None = None
    # Quantiles of the total over the steps, calibrated on totals (the steps' quantiles summed
    # misstate its spread); None where no total band was learnt.
    total_quantiles: dict[float, float] | None = None
