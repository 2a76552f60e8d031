"""Database and settings failures end a command with one line naming what to change, not the
driver's SQL dump or pydantic's multi-line report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

LAUNCHCAST = str(Path(sys.executable).parent / "launchcast")


def failure_line(*args: str, tmp_path: Path, **env: str) -> str:
    """Run `launchcast ARGS` in a scratch folder; assert it failed with exactly one line."""
    environment = {
        **os.environ,
        "LAUNCHCAST_DATABASE_URL": f"sqlite:///{tmp_path / 'never-migrated.db'}",
        **env,
    }
    result = subprocess.run(
        [LAUNCHCAST, *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.stderr and "sqlalche.me" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("command", [("models", "list"), ("runs", "list"), ("train",)])
def test_a_never_migrated_database_says_to_run_db_upgrade(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    (tmp_path / "never-migrated.db").touch()  # a database, empty: SQLite reads it as one
    line = failure_line(*command, tmp_path=tmp_path)
    assert "has no launchcast schema or an older one" in line
    assert "run `launchcast db upgrade` first" in line


READ_ONLY_COMMANDS = [
    ("models", "list"),
    ("runs", "list"),
    ("forecast", "--all"),
    ("evaluate",),
    ("train",),
    ("worker", "--once"),
    ("db", "downgrade", "-1"),
]


@pytest.mark.parametrize("command", READ_ONLY_COMMANDS)
def test_a_command_given_a_missing_sqlite_file_names_it_and_creates_nothing(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    typo = tmp_path / "typo.db"
    line = failure_line(*command, tmp_path=tmp_path, LAUNCHCAST_DATABASE_URL=f"sqlite:///{typo}")
    assert line == (
        f"error: no database at {typo}: run `launchcast db upgrade` first (or `launchcast demo`), "
        "or set LAUNCHCAST_DATABASE_URL to the database's path"
    )
    assert list(tmp_path.glob("typo.db*")) == []  # nor its -wal and -shm files


def test_a_relative_sqlite_path_that_does_not_exist_is_named_where_it_was_looked_for(
    tmp_path: Path,
) -> None:
    line = failure_line(
        "models", "list", tmp_path=tmp_path, LAUNCHCAST_DATABASE_URL="sqlite:///x.db"
    )
    assert line.startswith(f"error: no database at {tmp_path / 'x.db'}: ")
    assert not (tmp_path / "x.db").exists()


def test_a_sqlite_path_in_a_missing_directory_names_the_directory(tmp_path: Path) -> None:
    typo = tmp_path / "x" / "typo.db"
    url = f"sqlite:///{typo}"
    line = failure_line("runs", "list", tmp_path=tmp_path, LAUNCHCAST_DATABASE_URL=url)
    assert line == (
        f"error: no database at {typo}: there is no directory {typo.parent} "
        "(check LAUNCHCAST_DATABASE_URL)"
    )
    assert not typo.parent.exists()


def test_db_upgrade_still_creates_the_sqlite_file(tmp_path: Path) -> None:
    database = tmp_path / "new.db"
    env = {**os.environ, "LAUNCHCAST_DATABASE_URL": f"sqlite:///{database}"}
    result = subprocess.run(
        [LAUNCHCAST, "db", "upgrade"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert database.is_file()
    models = subprocess.run(
        [LAUNCHCAST, "models", "list"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert models.returncode == 0, models.stderr
    assert "no model versions yet" in models.stdout


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LAUNCHCAST_FREQUENCY", "X"),
        ("LAUNCHCAST_MAX_HORIZON", "abc"),
        ("LAUNCHCAST_API_KEYS", "garbage"),
    ],
)
def test_a_bad_setting_is_named_with_its_variable(
    tmp_path: Path, variable: str, value: str
) -> None:
    line = failure_line("models", "list", tmp_path=tmp_path, **{variable: value})
    assert variable in line


@pytest.mark.parametrize("url", ["not a url", "postgres://user@127.0.0.1/db", "mysql://u@h/db"])
def test_a_database_url_launchcast_cannot_use_names_the_variable_and_the_forms_it_takes(
    tmp_path: Path, url: str
) -> None:
    line = failure_line("models", "list", tmp_path=tmp_path, LAUNCHCAST_DATABASE_URL=url)
    assert "LAUNCHCAST_DATABASE_URL=" in line
    assert "postgresql+psycopg://" in line


def test_an_unreachable_database_is_named_without_its_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/x"
    line = failure_line("models", "list", tmp_path=tmp_path, LAUNCHCAST_DATABASE_URL=url)
    assert "the database at postgresql+psycopg://nobody:***@127.0.0.1:1/x failed" in line
    assert "secret" not in line


def test_a_printed_database_url_never_shows_its_password() -> None:
    from cli.errors import redacted

    shown = redacted("postgresql+psycopg://planner:s3cret@db:5432/launchcast")
    assert shown == "postgresql+psycopg://planner:***@db:5432/launchcast"


@pytest.mark.parametrize(
    "keys",
    [
        {"lc_pasted-plain-key": "read"},  # the key itself where its digest belongs
        {"read": "lc_pasted-plain-key"},  # the map written the other way round
        {"sha256:" + "a" * 63 + "Q": "read"},
    ],
)
def test_a_bad_key_map_is_one_line_that_shows_none_of_its_keys(keys: dict[str, str]) -> None:
    from pydantic import ValidationError

    from cli.errors import reason_for
    from store.settings import Settings

    with pytest.raises(ValidationError) as failure:
        Settings(api_keys=keys)
    reason = reason_for(failure.value)
    assert reason.startswith("LAUNCHCAST_API_KEYS") and "\n" not in reason
    assert "lc_pasted" not in reason and "aaaa" not in reason and "Value error" not in reason


def test_an_empty_key_map_variable_says_how_to_run_without_keys(tmp_path: Path) -> None:
    line = failure_line("models", "list", tmp_path=tmp_path, LAUNCHCAST_API_KEYS="")
    assert "LAUNCHCAST_API_KEYS" in line and "{}" in line
