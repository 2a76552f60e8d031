"""Service settings: defaults in configs/default.toml, overrides from LAUNCHCAST_* variables."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, NonNegativeFloat, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from forecasting.types import GBM_OBJECTIVES

if TYPE_CHECKING:
    from forecasting.model import ForecasterConfig

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.toml"


class Role(StrEnum):
    """API roles; each includes the rights of the ones before it."""

    read = "read"
    write = "write"
    admin = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class Settings(BaseSettings):
    """Everything a deployment can tune. Names match the operations contract in API.md."""

    model_config = SettingsConfigDict(
        env_prefix="LAUNCHCAST_", toml_file=DEFAULT_CONFIG, extra="ignore"
    )

    database_url: str = "sqlite:///launchcast.db"
    frequency: Literal["D", "W", "M"] = "W"
    max_horizon: int = Field(104, ge=1, le=1000)
    max_batch_items: int = Field(10_000, ge=1)
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    artifact_dir: Path = Path("artifacts")
    api_keys: dict[str, Role] = Field(default_factory=dict)
    model_poll_seconds: float = Field(2.0, gt=0)
    forecast_batch_products: int = Field(64, ge=0)

    seed: int = 42
    backtest_holdout_fraction: float = Field(0.2, gt=0, lt=1)
    launch_steps: int = Field(12, ge=1, le=1000)
    warmup_max_observed: int = Field(6, ge=0)
    promotion_tolerance: float = Field(0.02, ge=0)
    retrain_cron: str = "0 3 * * 1"
    gbm_rounds: int = Field(400, ge=1)
    gbm_extra_objectives: tuple[str, ...] = ("tweedie",)
    blend_folds: int = Field(4, ge=0)
    statistical_backtest_series: int = Field(400, ge=0)
    neighbours_k: int = Field(20, ge=1)
    attribute_weight_grid: tuple[NonNegativeFloat, ...] = ()
    run_heartbeat_seconds: float = Field(30.0, gt=0)
    worker_poll_seconds: float = Field(2.0, gt=0)

    @field_validator("gbm_extra_objectives")
    @classmethod
    def _known_objectives(cls, objectives: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [o for o in objectives if o not in GBM_OBJECTIVES]
        if unknown:
            raise ValueError(
                f"unknown LightGBM objective {unknown[0]!r}; one of {', '.join(GBM_OBJECTIVES)}"
            )
        return objectives

    @field_validator("api_keys")
    @classmethod
    def _keys_are_hashes(cls, keys: dict[str, Role]) -> dict[str, Role]:
        for digest in keys:
            hex_part = digest.removeprefix("sha256:")
            if not digest.startswith("sha256:") or len(hex_part) != 64:
                raise ValueError(
                    "api_keys must map 'sha256:<64 hex chars>' to a role; "
                    "create one with `launchcast keys create --role read`"
                )
        return keys

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: explicit arguments, then the environment, then configs/default.toml.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    def forecaster_config(self) -> ForecasterConfig:
        """The forecasting core's configuration: one mapping for training and serving."""
        from forecasting.model import ForecasterConfig  # LightGBM loads only when needed

        return ForecasterConfig(
            freq=self.frequency,
            launch_steps=self.launch_steps,
            warmup_max_observed=self.warmup_max_observed,
            num_boost_round=self.gbm_rounds,
            extra_objectives=self.gbm_extra_objectives,
            blend_folds=self.blend_folds,
            k=self.neighbours_k,
            attribute_weight_grid=self.attribute_weight_grid,
            seed=self.seed,
        )

    def check_safe_to_serve(self, host: str) -> None:
        """Refuse to serve without API keys anywhere but on a loopback address."""
        if self.api_keys or _is_loopback(host):
            return
        raise ValueError(
            f"refusing to listen on {host} without API keys: set LAUNCHCAST_API_KEYS "
            "(see `launchcast keys create`) or listen on 127.0.0.1"
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests call `get_settings.cache_clear()` after changing env."""
    return Settings()
