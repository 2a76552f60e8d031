"""Commands refuse what they cannot do, in one line naming the option or variable at fault,
before anything starts: no server, no backtest, no scheduler, no worker loop.

Each runs through the console script's entry point (`cli.main.main`), whose error path is the
one a user sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from forecasting.synthetic import generate_catalogue
from store import migrations
from store.ingest import import_frames
from store.session import get_sessionmaker
from store.settings import get_settings
from tests.console import Ran, run_console_script

NO_SCHEMA = "the database has no launchcast schema: run `launchcast db upgrade` first"


def started(what: str) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{what} started")

    return fail


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A SQLite database not migrated yet, artifacts in tmp; nothing may serve, schedule or
    generate a demo catalogue (a refusal that regressed fails the test instead of hanging)."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    (tmp_path / "cli.db").touch()  # an empty SQLite database: there, but never migrated
    monkeypatch.setenv("LAUNCHCAST_DATABASE_URL", url)
    monkeypatch.setenv("LAUNCHCAST_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    monkeypatch.delenv("LAUNCHCAST_DEBUG", raising=False)
    monkeypatch.delenv("LAUNCHCAST_RETRAIN_CRON", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("uvicorn.run", started("uvicorn"))
    monkeypatch.setattr("cli.serve.start_worker", started("the training worker"))
    monkeypatch.setattr(
        "apscheduler.schedulers.blocking.BlockingScheduler.start", started("the scheduler")
    )
    monkeypatch.setattr("forecasting.synthetic.generate_catalogue", started("the demo catalogue"))
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


@pytest.fixture
def launchcast(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Ran]:
    """`launchcast ARGS` as the console script runs it."""

    def run(*args: str | Path) -> Ran:
        return run_console_script(monkeypatch, capsys, *args)

    return run


def refused(ran: Ran, *phrases: str) -> str:
    """Assert a non-zero exit with one `error:` line containing every phrase; return the line."""
    lines = [line for line in ran.err.splitlines() if line.strip()]
    assert ran.code != 0, (ran.out, ran.err)
    assert len(lines) == 1 and lines[0].startswith("error: "), ran.err
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def catalogue(database_url: str, env: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The migrated test database with 120 generated products (no model), for the commands."""
    with get_sessionmaker(database_url)() as session:
        import_frames(session, *generate_catalogue(120, seed=4))
        session.commit()
    monkeypatch.setenv("LAUNCHCAST_DATABASE_URL", database_url)
    return database_url


# --- 1. serve: the port's bounds ---


@pytest.mark.parametrize("port", ["99999", "65536", "0", "-1"])
def test_serve_refuses_a_port_out_of_range_naming_port(
    launchcast: Callable[..., Ran], port: str
) -> None:
    refused(launchcast("serve", "--port", port), "'--port'")


def test_serve_refuses_zero_workers_naming_workers(launchcast: Callable[..., Ran]) -> None:
    refused(launchcast("serve", "--workers", "0"), "'--workers'")


def test_demo_refuses_a_port_out_of_range_before_generating_anything(
    launchcast: Callable[..., Ran],
) -> None:
    refused(launchcast("demo", "--port", "70000"), "'--port'")


# --- 2. demo: a catalogue training accepts; a reused one says how to start over ---


@pytest.mark.parametrize("products", ["0", "-3", "5", "19"])
def test_demo_refuses_fewer_products_than_training_needs_naming_products(
    launchcast: Callable[..., Ran], products: str
) -> None:
    refused(launchcast("demo", "--no-serve", "--products", products), "'--products'", "20")


def test_demo_minimum_is_the_training_minimum() -> None:
    from cli.demo import MIN_DEMO_PRODUCTS
    from training.data import MIN_PRODUCTS

    assert MIN_DEMO_PRODUCTS == MIN_PRODUCTS


def test_demo_on_a_database_with_too_few_products_says_how_to_start_over(
    launchcast: Callable[..., Ran], env: str, tmp_path: Path
) -> None:
    migrations.upgrade(env)
    with get_sessionmaker(env)() as session:
        import_frames(session, *generate_catalogue(5, seed=1))
        session.commit()
    ran = launchcast("demo", "--no-serve", "--products", "300")
    assert "already has 5 products" in ran.out
    refused(ran, "training needs at least 20", f"remove {tmp_path / 'cli.db'}")
    assert "LAUNCHCAST_DATABASE_URL" in ran.err


# --- 3. every option error names its option ---


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("forecast", "--all", "--horizon", "0"), "'--horizon'"),
        (("forecast", "--all", "--horizon", "-3"), "'--horizon'"),
        (("forecast", "--all", "--horizon", "abc"), "'--horizon'"),
        (("runs", "list", "--limit", "0"), "'--limit'"),
        (("train", "--holdout-fraction", "abc"), "'--holdout-fraction'"),
        (("evaluate", "--samples", "-1"), "'--samples'"),
    ],
)
def test_an_invalid_option_value_is_refused_naming_the_option(
    launchcast: Callable[..., Ran], args: tuple[str, ...], option: str
) -> None:
    ran = launchcast(*args)
    refused(ran, f"Invalid value for {option}")
    assert ran.code == 2  # a usage error, as Click exits


def test_a_horizon_above_the_maximum_names_horizon(launchcast: Callable[..., Ran]) -> None:
    refused(launchcast("forecast", "--all", "--horizon", "1000"), "'--horizon'", "maximum")


# --- 4. holdout fraction: strictly between 0 and 1 ---


@pytest.mark.parametrize("command", ["evaluate", "train"])
@pytest.mark.parametrize("fraction", ["1.5", "-1", "0", "1"])
def test_a_holdout_fraction_outside_zero_to_one_is_refused_naming_it(
    launchcast: Callable[..., Ran], command: str, fraction: str
) -> None:
    refused(launchcast(command, "--holdout-fraction", fraction), "'--holdout-fraction'", "0<x<1")


@pytest.mark.parametrize("command", ["evaluate", "train"])
def test_the_holdout_fraction_option_reads_its_bound_from_the_settings_field(
    launchcast: Callable[..., Ran], command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written once, in Settings: the option follows a change of it (here, at most 0.5)."""
    import annotated_types

    from store.settings import Settings

    field = Settings.model_fields["backtest_holdout_fraction"]
    monkeypatch.setattr(field, "metadata", [annotated_types.Gt(0), annotated_types.Le(0.5)])
    refused(launchcast(command, "--holdout-fraction", "0.7"), "'--holdout-fraction'", "0<x<=0.5")


# --- 5. evaluate --output: checked before the backtest ---


def test_evaluate_refuses_an_output_under_a_file_before_the_backtest(
    launchcast: Callable[..., Ran], tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("")
    # The database is not even migrated: the path is checked before anything is read.
    ran = launchcast("evaluate", "--output", tmp_path / "afile" / "r.html")
    refused(ran, "'--output'", f"{tmp_path / 'afile'} is a file")


def test_evaluate_refuses_an_output_that_is_a_directory(
    launchcast: Callable[..., Ran], tmp_path: Path
) -> None:
    refused(launchcast("evaluate", "--output", tmp_path), "'--output'", "is a directory")


# --- 6. --cutoff outside the launches ---


@pytest.mark.parametrize(
    ("command", "cutoff", "side"),
    [
        ("evaluate", "2030-01-01", "no launches to test"),
        ("evaluate", "2000-01-01", "no launches to train on"),
        ("train", "2030-01-01", "no launches to test"),
    ],
)
def test_a_cutoff_outside_the_launches_is_refused_naming_cutoff_and_the_range(
    launchcast: Callable[..., Ran], catalogue: str, command: str, cutoff: str, side: str
) -> None:
    line = refused(launchcast(command, "--cutoff", cutoff), "'--cutoff'", cutoff, side)
    assert "launches run from " in line


# --- 7. forecast --all without a model: a warning, then the launch curves ---


def test_forecast_all_without_an_active_model_warns_then_forecasts(
    launchcast: Callable[..., Ran], catalogue: str
) -> None:
    ran = launchcast("forecast", "--all", "--horizon", "2")
    assert ran.code == 0, ran.err
    assert ran.err.splitlines()[0] == (
        "warning: no active model: forecasts come from the launch curves "
        "(run `launchcast train` for the model's)"
    )
    assert "model none: 120 products forecast" in ran.out


# --- 8. serve, schedule and worker refuse an unmigrated database ---


@pytest.mark.parametrize(
    "args",
    [("serve",), ("serve", "--no-worker"), ("schedule",), ("schedule", "--run-now"), ("worker",)],
)
def test_a_long_running_command_refuses_an_unmigrated_database(
    launchcast: Callable[..., Ran], args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("training.worker.Worker.run", started("the worker loop"))
    refused(launchcast(*args), NO_SCHEMA)


def test_worker_once_refuses_an_unmigrated_database(launchcast: Callable[..., Ran]) -> None:
    refused(launchcast("worker", "--once"), NO_SCHEMA)


def test_worker_once_on_a_migrated_database_with_nothing_queued_exits_zero(
    launchcast: Callable[..., Ran], env: str
) -> None:
    migrations.upgrade(env)
    ran = launchcast("worker", "--once")
    assert ran.code == 0, ran.err


# --- 9. LAUNCHCAST_RETRAIN_CRON named ---


def test_schedule_names_an_invalid_retrain_cron(
    launchcast: Callable[..., Ran], env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrations.upgrade(env)
    monkeypatch.setenv("LAUNCHCAST_RETRAIN_CRON", "not a cron")
    refused(
        launchcast("schedule"),
        "LAUNCHCAST_RETRAIN_CRON 'not a cron': wrong number of fields; got 3, expected 5 "
        "(minute hour day month weekday)",
    )


# --- 10. db downgrade: a relative revision, and the revision reached ---


def test_db_downgrade_help_shows_a_relative_revision_without_double_dash() -> None:
    result = CliRunner().invoke(app, ["db", "downgrade", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "launchcast db downgrade -1" in text
    assert "--" not in text.replace("--help", "")


def test_db_downgrade_takes_a_relative_revision_without_double_dash(
    launchcast: Callable[..., Ran], env: str
) -> None:
    migrations.upgrade(env)
    ran = launchcast("db", "downgrade", "-1")
    assert ran.code == 0, ran.err
    assert "database migrated down to 0001" in ran.out
    ran = launchcast("db", "downgrade", "-1")
    assert ran.code == 0, ran.err
    assert "database migrated down to base" in ran.out


@pytest.mark.parametrize("word", ["--bogus", "-x", "-1.5"])
def test_db_downgrade_refuses_an_option_it_does_not_have(
    launchcast: Callable[..., Ran], env: str, word: str
) -> None:
    migrations.upgrade(env)
    refused(launchcast("db", "downgrade", word), f"no such option {word}", "-1")
    assert launchcast("db", "downgrade", "-1").code == 0  # nothing was migrated down


def test_db_downgrade_prints_the_revision_reached(launchcast: Callable[..., Ran], env: str) -> None:
    migrations.upgrade(env)
    ran = launchcast("db", "downgrade", "--", "-1")
    assert ran.code == 0, ran.err
    assert "database migrated down to 0001" in ran.out
    ran = launchcast("db", "downgrade", "base")
    assert "database migrated down to base" in ran.out
