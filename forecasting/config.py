"""The forecasting core's configuration: names and types here, default values in one file.

Every default lives in `configs/default.toml` (the same file the service's settings read); this
module only declares each key's type and bounds. `default_config(**overrides)` is how tests,
benchmarks and the core's own helpers start from exactly what the service runs.
"""

from __future__ import annotations

import math
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from forecasting.types import GBM_OBJECTIVES

DEFAULTS_FILE = Path(__file__).resolve().parents[1] / "configs" / "default.toml"


class ForecasterConfig(BaseModel):
    """Everything that defines a fitted model besides the data (see configs/default.toml)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    frequency: Literal["D", "W", "M"]
    launch_steps: int = Field(ge=1, le=1000)
    curve_steps: int = Field(ge=1, le=1000)
    warmup_max_observed: int = Field(ge=0)
    warmup_variants: int = Field(ge=0)
    warmup_model_observed: list[int] = Field(default_factory=list)
    warmup_model_max_rows: int = Field(ge=1000)
    warmup_model_rows_per_round: int = Field(ge=1000)
    neighbours_k: int = Field(ge=1)
    similarity_power: float = Field(ge=0)
    neighbour_level_shrink: float = Field(ge=0, le=1)
    attribute_weights: dict[str, float] = Field(default_factory=dict)
    curve_statistic: Literal["median", "mean"]
    gbm_objective: str
    gbm_rounds: int = Field(ge=1)
    gbm_learning_rate: float = Field(gt=0, le=1)
    gbm_num_leaves: int = Field(ge=2)
    gbm_min_data_in_leaf: int = Field(ge=1)
    gbm_max_bin: int = Field(ge=4, le=1024)
    gbm_max_rows_per_round: int = Field(ge=1000)
    cv_folds: int = Field(ge=0)
    cv_window: float = Field(gt=0, lt=1)
    selection_margin: float = Field(ge=0)
    interval_drift: float = Field(ge=0, le=0.2)
    interval_level_bins: int = Field(ge=1, le=20)
    backtest_warmup_observed: list[int]
    min_analogues: int = Field(ge=1)
    private_min_products: int = Field(ge=1)
    num_threads: int = Field(ge=1)
    seed: int

    @field_validator("gbm_objective")
    @classmethod
    def _known_objective(cls, objective: str) -> str:
        # Caught here, before a training run spends minutes and fails in LightGBM's words.
        if objective not in GBM_OBJECTIVES:
            raise ValueError(
                f"unknown LightGBM objective {objective!r}; one of {', '.join(GBM_OBJECTIVES)}"
            )
        return objective

    @field_validator("backtest_warmup_observed")
    @classmethod
    def _positive_observed(cls, observed: list[int]) -> list[int]:
        if any(k < 1 for k in observed):
            raise ValueError("backtest_warmup_observed holds observed period counts >= 1 only")
        return sorted(set(observed))

    @field_validator("attribute_weights")
    @classmethod
    def _finite_weights(cls, weights: dict[str, float]) -> dict[str, float]:
        if any(not (math.isfinite(w) and w >= 0) for w in weights.values()):
            raise ValueError("attribute_weights holds finite weights >= 0 only")
        return weights

    @property
    def freq(self) -> Literal["D", "W", "M"]:
        """The period of the steps (the service's `frequency`)."""
        return self.frequency

    @property
    def private_group(self) -> int:
        """Fewest known products behind each attribute value a forecast-role answer uses:
        `private_min_products`, never fewer than the contract's `min_analogues`."""
        return max(self.min_analogues, self.private_min_products)

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable form (stored in the artifact)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ForecasterConfig:
        """A stored configuration; keys added since it was written take today's defaults."""
        known = {k: v for k, v in data.items() if k in cls.model_fields}
        return default_config(**known)

    def replace(self, **changes: Any) -> ForecasterConfig:
        """A validated copy with some values changed."""
        return type(self).model_validate({**self.model_dump(), **changes})


@lru_cache
def _defaults() -> dict[str, Any]:
    with DEFAULTS_FILE.open("rb") as handle:
        values = tomllib.load(handle)
    return {k: v for k, v in values.items() if k in ForecasterConfig.model_fields}


def default_config(**overrides: Any) -> ForecasterConfig:
    """The service's default configuration (configs/default.toml), with some values changed."""
    return ForecasterConfig.model_validate({**_defaults(), **overrides})
