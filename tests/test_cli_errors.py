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
    line = failure_line(*command, tmp_path=tmp_path)
    assert "has no launchcast schema or an older one" in line
    assert "run `launchcast db upgrade` first" in line


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
