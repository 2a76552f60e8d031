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
        "models",
        "runs",
    ],
)
def test_every_command_documents_itself(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_serve_with_two_workers_starts_two_replicas_of_the_app_factory(tmp_path: Path) -> None:
    """`serve --workers 2`: uvicorn imports the factory in each worker process, and each one
    answers (an empty registry: live, not ready, with the reason)."""
    import socket
    import time

    import httpx
    import psutil

    from store.migrations import upgrade

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [LAUNCHCAST, "serve", "--port", str(port), "--workers", "2"],
        env={**os.environ, "LAUNCHCAST_DATABASE_URL": url},
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        workers: list[psutil.Process] = []
        answers: list[int] = []
        # Polled until both answer; the deadline only stops a hung start-up (importing the
        # CLI and two workers takes seconds, or a minute on a loaded machine).
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and server.poll() is None:
            workers = [p for p in psutil.Process(server.pid).children() if p.is_running()]
            try:
                answers = [
                    httpx.get(f"http://127.0.0.1:{port}{path}", timeout=30).status_code
                    for path in ("/healthz", "/readyz")
                ]
            except httpx.TransportError:
                answers = []
            if len(workers) >= 2 and answers:
                break
            time.sleep(0.2)
        assert server.poll() is None, "the server exited"
        assert len(workers) >= 2, [w.cmdline() for w in workers]
        assert answers == [200, 503]
    finally:
        server.terminate()
        server.wait(timeout=30)


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


def test_evaluate_scores_established_products_as_train_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`evaluate` honours LAUNCHCAST_STATISTICAL_BACKTEST_SERIES as `train` does (it used to
    score 400 whatever the setting, so the two commands' statistical lines disagreed)."""
    from types import SimpleNamespace

    # Imported before the patches below: they bind these names at import, and a fake bound
    # there would outlive this test.
    import training.job  # noqa: F401
    from store.settings import get_settings

    monkeypatch.setenv("LAUNCHCAST_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("LAUNCHCAST_STATISTICAL_BACKTEST_SERIES", "0")
    get_settings.cache_clear()
    asked: dict[str, object] = {}

    def evaluate_established(*args: object, max_series: int = 400, **kwargs: object) -> dict:
        asked["max_series"] = max_series
        return {"n_products": 0, "horizon": 12, "skipped": "statistical_backtest_series = 0"}

    data = SimpleNamespace(products=None, sales=None)
    metrics = {"frequency": "W", "methods": {}, "cutoff": "2026-01-01"}
    monkeypatch.setattr("training.data.load_training_data", lambda session: data)
    monkeypatch.setattr(
        "forecasting.backtest.backtest",
        lambda *a, **k: SimpleNamespace(metrics=metrics, samples=[]),
    )
    monkeypatch.setattr("training.statistical.evaluate_established", evaluate_established)
    try:
        result = CliRunner().invoke(app, ["evaluate", "--output", str(tmp_path / "r.html")])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert asked == {"max_series": 0}
    assert "statistical models: not scored (statistical_backtest_series = 0)" in result.output
