"""Rendering a batch at once writes each product exactly as rendering it product by product."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import orjson

from forecasting.types import ProductForecast
from service.api.render import render
from service.forecasts import Answer
from store.settings import Settings

SETTINGS = Settings(database_url="sqlite://", artifact_dir=Path("/tmp"))


def _result(product_id: str, first_step: int, n_steps: int, scale: float) -> ProductForecast:
    steps = np.arange(first_step, first_step + n_steps)
    point = scale * np.linspace(0.123456, 98765.4321, n_steps)
    return ProductForecast(
        product_id=product_id,
        method="gbm",
        steps=steps,
        start_dates=[dt.date(2026, 7, 6) + dt.timedelta(weeks=int(s) - 1) for s in steps],
        point=point,
        quantiles={0.1: point * 0.5, 0.5: point, 0.9: point * 1.7 + 1e-5},
        warnings=["attribute color is missing; treated as unknown"],
    )


def _forecasts(results: list[ProductForecast]) -> list[object]:
    return orjson.loads(render(Answer("v1", results), SETTINGS, explain=False))["forecasts"]


def test_a_uniform_batch_renders_each_product_as_a_mixed_batch_does() -> None:
    uniform = [_result("A", 1, 12, 1.0), _result("B", 3, 12, 0.37), _result("C", 1, 12, 3e-6)]
    # A product with fewer steps makes the batch take the product-by-product path.
    mixed = [*uniform, _result("D", 1, 5, 1.0)]
    batch = render(Answer("v1", uniform), SETTINGS, explain=False)
    # Byte for byte: the uniform batch's text is the mixed one's up to the fourth product.
    assert render(Answer("v1", mixed), SETTINGS, explain=False).startswith(batch[: -len(b"]}")])
    assert _forecasts(uniform) == _forecasts(mixed)[:3]
    alone = [render(Answer("v1", [r]), SETTINGS, explain=False) for r in uniform]
    assert [orjson.loads(a)["forecasts"][0] for a in alone] == orjson.loads(batch)["forecasts"]
