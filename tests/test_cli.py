"""The command line: a one-line reason and a non-zero exit on failure, --help everywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

LAUNCHCAST = str(Path(sys.executable).parent / "launchcast")


def run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LAUNCHCAST_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    return subprocess.run(
        [LAUNCHCAST, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )


def test_a_failing_command_prints_one_line_and_exits_non_zero(tmp_path: Path) -> None:
    result = run("import", "--products", "missing.csv", tmp_path=tmp_path)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "missing.csv" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "command",
    [
        "db",
        "import",
        "train",
        "evaluate",
        "schedule",
        "serve",
        "demo",
        "forecast",
        "keys",
        "worker",
    ],
)
def test_every_command_documents_itself(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_importing_the_cli_loads_no_data_or_model_library() -> None:
    probe = (
        "import sys, cli.main; "
        "print(sorted(m for m in ('lightgbm', 'pandas', 'statsforecast', 'sklearn', 'fastapi') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        ("import", "--skip-invalid / --no-skip-invalid"),
        ("demo", "--retrain / --no-retrain"),
        ("demo", "--serve / --no-serve"),
        ("schedule", "--run-now / --no-run-now"),
        ("forecast", "--all / --no-all"),
    ],
)
def test_boolean_flags_show_both_forms_and_no_type(command: str, flag: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert flag in result.output
    assert "<bool>" not in result.output
