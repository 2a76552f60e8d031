"""The degraded path: launch curves only, no LightGBM, fitted in seconds.

`CurveBaseline` answers with the attribute-level curve when the query has a known categorical
attribute value, else with the global curve, always with a warning saying the answer is degraded.
Quantiles come from the spread of training curves around the curve they are compared with
(multiplicative, per step), so they stay monotone and non-negative.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecasting.curves import AttributeCurves, attribute_curves, build_launch_curves
from forecasting.model import (
    CALIBRATION_LEVELS,
    ForecasterConfig,
    LaunchForecaster,
    check_request,
)
from forecasting.neighbours import AttributeEncoder
from forecasting.periods import step_starts
from forecasting.types import ForecastQuery, ProductForecast

DEGRADED_WARNING = "no trained model is loaded: answered from launch curves only"


class CurveBaseline:
    """Attribute and global launch curves with the same `predict` as LaunchForecaster."""

    def __init__(self, config: ForecasterConfig | None = None) -> None:
        """Create an unfitted baseline (uses freq, launch_steps, curve_steps, curve_statistic)."""
        self.config = config or ForecasterConfig()

    def fit(self, products: pd.DataFrame, sales: pd.DataFrame) -> CurveBaseline:
        """Compute the curves from known products and their sales.

        Raises:
            EmptyCatalogue: too few products with sales.
        """
        cfg = self.config
        curves = build_launch_curves(
            products, sales, cfg.freq, max(cfg.launch_steps, cfg.curve_steps)
        )
        self.encoder_ = AttributeEncoder.fit(curves.attributes)
        self.curves_: AttributeCurves = attribute_curves(
            curves, list(self.encoder_.categorical), cfg.curve_statistic
        )
        ratios = curves.values / np.maximum(self.curves_.global_[None, :], 1e-9)
        with np.errstate(all="ignore"):
            self.spread_ = np.nanquantile(ratios[:, : cfg.launch_steps], CALIBRATION_LEVELS)
        # The forecast reuses the launch forecaster's history parsing, warnings and tail.
        self._helper = LaunchForecaster(cfg)
        self._helper.encoder_ = self.encoder_
        self._helper.global_curve_ = self.curves_.global_
        self._helper.curves_ = curves.values
        return self

    def predict(
        self,
        queries: Sequence[ForecastQuery],
        horizon: int,
        quantiles: Sequence[float] = (),
        explain: bool = False,
    ) -> list[ProductForecast]:
        """Forecast steps s+1..s+horizon per query from curves (see LaunchForecaster.predict)."""
        check_request(horizon, quantiles)
        helper = self._helper
        parsed = helper._parse(queries)
        n_curve = len(self.curves_.global_)
        out = []
        for i, query in enumerate(queries):
            s = int(parsed.n_observed[i])
            curve = self.curves_.curve_for(query.attributes or {})
            warnings = [DEGRADED_WARNING, *parsed.warnings[i]]
            method = "attribute_curve"
            if curve is None:
                curve, method = self.curves_.global_, "global_curve"
            steps = np.arange(s + 1, s + horizon + 1)
            observed = parsed.observed[i, :s]
            expected = curve[: min(s, n_curve)].sum()
            scale = (observed.sum() + 1.0) / (expected + 1.0) if s else 1.0
            full = np.concatenate([curve, np.full(max(0, s + horizon - n_curve), curve[-1])])
            point = np.maximum(full[steps - 1] * scale, 0.0)
            levels = sorted(quantiles)
            qs: dict[float, np.ndarray] = {}
            if levels:
                factors = np.interp(levels, CALIBRATION_LEVELS, self.spread_)
                stacked = np.sort(np.maximum(point[:, None] * factors[None, :], 0.0), axis=1)
                qs = {q: stacked[:, j] for j, q in enumerate(levels)}
            out.append(
                ProductForecast(
                    product_id=query.product_id,
                    method=method,
                    steps=steps,
                    start_dates=step_starts(query.launch_date, steps, self.config.freq),
                    point=np.nan_to_num(point),
                    quantiles=qs,
                    warnings=warnings,
                )
            )
        return out
