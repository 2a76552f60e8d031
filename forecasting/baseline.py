"""The degraded path: launch curves only, no LightGBM, fitted in seconds.

`CurveBaseline` answers with the attribute-level curve when the query has a known categorical
attribute value, else with the global curve, always with a warning saying the answer is degraded.
It is the launch forecaster's own curve components without cross-validation: quantiles come from
the spread of the training curves around the global curve, per step (multiplicative, so they
stay monotone and non-negative).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecasting.calibration import ConformalCalibrator
from forecasting.catalogue import LaunchCatalogue
from forecasting.config import ForecasterConfig, default_config
from forecasting.curve_model import CurveModel
from forecasting.model import check_request
from forecasting.neighbours import AttributeEncoder
from forecasting.periods import step_starts
from forecasting.private import CrossFittedCurves
from forecasting.queries import parse_queries
from forecasting.types import ForecastQuery, ProductForecast

DEGRADED_WARNING = "no trained model is loaded: answered from launch curves only"


class CurveBaseline:
    """Attribute and global launch curves with the same `predict` as LaunchForecaster.

    Fitted state: `catalogue_`, `encoder_`, `curves_`, `private_` (the forecast role's),
    `calibrator_`.
    """

    def __init__(self, config: ForecasterConfig | None = None) -> None:
        self.config = config or default_config()

    def fit(self, products: pd.DataFrame, sales: pd.DataFrame) -> CurveBaseline:
        """Compute the curves from known products and their sales.

        Raises:
            EmptyCatalogue: too few products with sales.
        """
        cfg = self.config
        self.catalogue_ = LaunchCatalogue(cfg).fit(products, sales)
        self.encoder_ = AttributeEncoder.fit(self.catalogue_.attributes_)
        codes = self.encoder_.codes(self.catalogue_.attributes_)
        levels = [len(v) for v in self.encoder_.categorical.values()]
        self.curves_ = CurveModel(cfg).fit(self.catalogue_.curves_, codes, levels)
        self.private_ = CrossFittedCurves(cfg).fit(
            self.catalogue_.curves_, codes, self.encoder_.categorical
        )
        L = cfg.launch_steps
        curves = self.catalogue_.launch_curves
        point = np.broadcast_to(self.curves_.global_[None, :L], curves.shape)
        seen = np.isfinite(curves)
        steps = np.broadcast_to(np.arange(1, L + 1)[None, :], curves.shape)
        self.calibrator_ = ConformalCalibrator().fit(
            curves[seen], point[seen], steps[seen], np.zeros(int(seen.sum()), dtype=np.int64), L
        )
        return self

    def predict(
        self,
        queries: Sequence[ForecastQuery],
        horizon: int,
        quantiles: Sequence[float] = (),
        explain: bool = False,
        details: frozenset[str] | set[str] = frozenset(),
        private: bool = False,
    ) -> list[ProductForecast]:
        """Forecast steps s+1..s+horizon per query from curves (see LaunchForecaster.predict)."""
        check_request(horizon, quantiles)
        cfg = self.config
        parsed = parse_queries(queries, self.encoder_, self.catalogue_, cfg.freq, cfg.launch_steps)
        n_curve = len(self.curves_.global_)
        s = parsed.n_observed
        if private:  # from the half of the catalogue the query's description is not in
            curve, known, _ = self.private_.curve(parsed.codes, cfg.private_group)
        else:
            attribute = self.curves_.attribute_curve(parsed.codes)
            known = np.isfinite(attribute).all(axis=1)
            curve = np.where(known[:, None], attribute, self.curves_.global_[None, :])
        expected = np.where(np.arange(n_curve)[None, :] < s[:, None], curve, 0.0).sum(axis=1)
        scale = np.where(s > 0, (parsed.observed_total + 1.0) / (expected + 1.0), 1.0)
        steps = s[:, None] + 1 + np.arange(horizon)[None, :]
        point = np.maximum(
            curve[np.arange(len(queries))[:, None], np.minimum(steps, n_curve) - 1], 0.0
        )
        point = np.nan_to_num(point * scale[:, None])
        bands = self.calibrator_.predict(
            point, steps, np.zeros(len(queries), dtype=np.int64), quantiles
        )
        return [
            ProductForecast(
                product_id=query.product_id,
                method="attribute_curve" if known[i] else "global_curve",
                steps=steps[i],
                start_dates=step_starts(query.launch_date, steps[i], cfg.freq),
                point=point[i],
                quantiles={q: band[i] for q, band in bands.items()},
                warnings=[DEGRADED_WARNING, *parsed.warnings[i]],
            )
            for i, query in enumerate(queries)
        ]
