"""Settings: environment overrides, safe defaults, refusal of unsafe deployments."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from cli.main import app
from service.auth import hash_key, role_of
from store.settings import Role, Settings, get_settings


def test_environment_variables_override_the_toml_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAUNCHCAST_FREQUENCY", "M")
    monkeypatch.setenv("LAUNCHCAST_MAX_HORIZON", "52")
    settings = Settings()
    assert settings.frequency == "M"
    assert settings.max_horizon == 52


def test_an_invalid_frequency_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAUNCHCAST_FREQUENCY", "Q")
    with pytest.raises(ValidationError, match="frequency"):
        Settings()


def test_an_unknown_objective_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LAUNCHCAST_GBM_OBJECTIVE", "tweedy")
    with pytest.raises(ValidationError, match="gbm_objective") as error:
        Settings()
    assert "tweedy" in str(error.value)


def test_the_backtests_warm_up_counts_are_read_from_the_environment_and_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LAUNCHCAST_BACKTEST_WARMUP_OBSERVED", "[4, 1, 4]")
    assert Settings().backtest_warmup_observed == [1, 4]
    monkeypatch.setenv("LAUNCHCAST_BACKTEST_WARMUP_OBSERVED", "[0, 2]")
    with pytest.raises(ValidationError, match="backtest_warmup_observed"):
        Settings()


def test_the_service_and_the_core_read_the_same_defaults() -> None:
    from forecasting.config import default_config

    assert Settings().forecaster_config() == default_config()


def test_api_keys_must_be_stored_as_digests() -> None:
    with pytest.raises(ValidationError, match="sha256"):
        Settings(api_keys={"plain-text-key": Role.admin})


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "example.org"])
def test_serving_without_keys_is_refused_off_loopback(host: str) -> None:
    with pytest.raises(ValueError, match="without API keys"):
        Settings().check_safe_to_serve(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_serving_without_keys_is_allowed_on_loopback(host: str) -> None:
    Settings().check_safe_to_serve(host)


def test_serving_with_keys_is_allowed_anywhere() -> None:
    Settings(api_keys={hash_key("k"): Role.read}).check_safe_to_serve("0.0.0.0")


def test_key_lookup_finds_the_role_of_a_known_key_only() -> None:
    keys = {hash_key("alpha"): Role.write, hash_key("beta"): Role.read}
    assert role_of("alpha", keys) is Role.write
    assert role_of("gamma", keys) is None


def test_serve_command_exits_non_zero_off_loopback_without_keys() -> None:
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code != 0
    assert "without API keys" in str(result.exception)


def test_a_digest_not_in_hex_is_refused() -> None:
    with pytest.raises(ValidationError, match="sha256"):
        Settings(api_keys={"sha256:" + "z" * 64: Role.read})


def test_a_digest_in_upper_case_hex_admits_its_key() -> None:
    from service.auth import role_of

    upper = "sha256:" + hash_key("k").removeprefix("sha256:").upper()
    assert role_of("k", Settings(api_keys={upper: Role.read}).api_keys) is Role.read


def test_a_postgresql_connection_gives_up_after_a_few_seconds_unless_the_url_says_otherwise() -> (
    None
):
    """An unreachable host that drops packets would otherwise hold a request, a /metrics scrape
    or a scheduler tick for the kernel's TCP timeout: what reaches the driver is checked."""
    from sqlalchemy import event

    from store.session import POSTGRES_CONNECT_TIMEOUT_SECONDS, get_engine

    def driver_parameters(url: str) -> dict[str, object]:
        engine = get_engine(url)
        seen: dict[str, object] = {}

        def capture(_dialect: object, _record: object, _cargs: object, cparams: dict) -> None:
            seen.update(cparams)
            raise ConnectionAbortedError("captured")

        event.listen(engine, "do_connect", capture)
        with pytest.raises(ConnectionAbortedError):
            engine.connect()
        return seen

    default = driver_parameters("postgresql+psycopg://u@127.0.0.1:1/timeout_default")
    assert default["connect_timeout"] == POSTGRES_CONNECT_TIMEOUT_SECONDS
    chosen = driver_parameters("postgresql+psycopg://u@127.0.0.1:1/chosen?connect_timeout=30")
    assert str(chosen["connect_timeout"]) == "30"
