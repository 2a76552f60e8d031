"""Service settings: defaults in configs/default.toml, overrides from LAUNCHCAST_* variables."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from forecasting.config import DEFAULTS_FILE, ForecasterConfig

DEFAULT_CONFIG = DEFAULTS_FILE
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


class Role(StrEnum):
    """API roles; each includes the rights of the ones before it.

    `forecast` sees forecasts only, never another product's sales (API.md, Privacy).
    """

    forecast = "forecast"
    read = "read"
    write = "write"
    admin = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class Settings(ForecasterConfig, BaseSettings):
    """Everything a deployment can tune. Names match the operations contract in API.md.

    The forecasting core's keys (frequency, launch_steps, seed, ...) are declared once, in
    forecasting/config.py, and inherited; every default is in configs/default.toml.
    """

    model_config = SettingsConfigDict(
        env_prefix="LAUNCHCAST_", toml_file=DEFAULT_CONFIG, extra="ignore", frozen=False
    )

    # No defaults here: every value comes from configs/default.toml or the environment.
    database_url: str
    max_horizon: int = Field(ge=1, le=1000)
    max_batch_items: int = Field(ge=1)
    max_body_bytes: int = Field(ge=1024)
    artifact_dir: Path
    api_keys: dict[str, Role]
    model_poll_seconds: float = Field(gt=0)
    forecast_batch_products: int = Field(ge=0)
    forecast_inline_products: int = Field(ge=0)
    header_timeout_seconds: float = Field(gt=0)

    backtest_holdout_fraction: float = Field(gt=0, lt=1)
    promotion_tolerance: float = Field(ge=0)
    retrain_cron: str
    statistical_backtest_series: int = Field(ge=0)
    run_heartbeat_seconds: float = Field(gt=0)
    worker_poll_seconds: float = Field(gt=0)

    @field_validator("api_keys")
    @classmethod
    def _keys_are_hashes(cls, keys: dict[str, Role]) -> dict[str, Role]:
        """Digests as `service.auth.hash_key` writes them: one not in hex could never match a
        key, and one in upper-case hex (as some tools print it) is the same digest."""
        digests: dict[str, Role] = {}
        for digest, role in keys.items():
            hex_part = digest.removeprefix("sha256:").lower()
            if not digest.startswith("sha256:") or not _HEX_DIGEST.fullmatch(hex_part):
                raise ValueError(
                    "api_keys must map 'sha256:<64 hex chars>' to a role; "
                    "create one with `launchcast keys create --role read`"
                )
            digests["sha256:" + hex_part] = role
        return digests

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
        return ForecasterConfig.model_validate(
            {name: getattr(self, name) for name in ForecasterConfig.model_fields}
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
