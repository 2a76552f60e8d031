"""`launchcast demo` from an empty directory, and `launchcast evaluate`'s report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app as cli_app
from forecasting.synthetic import generate_catalogue
from store import registry
from store.ingest import import_frames
from store.session import get_sessionmaker
from store.settings import get_settings


@pytest.fixture
def fresh_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A SQLite file that does not exist yet, as `launchcast demo` finds it on a new machine."""
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    monkeypatch.setenv("LAUNCHCAST_DATABASE_URL", url)
    monkeypatch.setenv("LAUNCHCAST_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("LAUNCHCAST_GBM_ROUNDS", "30")
    monkeypatch.setenv("LAUNCHCAST_CV_FOLDS", "2")
    monkeypatch.setenv("LAUNCHCAST_STATISTICAL_BACKTEST_SERIES", "25")
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_demo_migrates_imports_trains_and_a_second_run_reuses_everything(fresh_sqlite: str) -> None:
    runner = CliRunner()
    first = runner.invoke(cli_app, ["demo", "--no-serve", "--products", "300"])
    assert first.exit_code == 0, first.output
    assert "imported 300 products" in first.output
    with get_sessionmaker(fresh_sqlite)() as session:
        active = registry.active_version(session)
        assert active is not None
        version = active.version
    second = runner.invoke(cli_app, ["demo", "--no-serve", "--products", "300"])
    assert second.exit_code == 0, second.output
    assert "already has 300 products" in second.output
    assert f"model {version} is already active" in second.output
    with get_sessionmaker(fresh_sqlite)() as session:
        assert len(registry.list_versions(session)) == 1


def test_evaluate_writes_an_html_report_with_plots_and_publishes_nothing(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with get_sessionmaker(database_url)() as session:
        import_frames(session, *generate_catalogue(300, seed=4))
        session.commit()
    monkeypatch.setenv("LAUNCHCAST_DATABASE_URL", database_url)
    monkeypatch.setenv("LAUNCHCAST_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("LAUNCHCAST_GBM_ROUNDS", "30")
    monkeypatch.setenv("LAUNCHCAST_CV_FOLDS", "2")
    monkeypatch.setenv("LAUNCHCAST_STATISTICAL_BACKTEST_SERIES", "25")
    get_settings.cache_clear()
    output = tmp_path / "reports" / "backtest.html"
    try:
        result = CliRunner().invoke(
            cli_app, ["evaluate", "--output", str(output), "--samples", "3"]
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    page = output.read_text()
    # WAPE per step, the warm-ups, the sample products
    assert page.count("data:image/png;base64,") == 1 + 1 + 3
    assert "WAPE" in page and "gained over its fallback" in page
    assert "served method:" in page
    assert "with periods 1-2 observed, WAPE on weeks 3-" in page
    with get_sessionmaker(database_url)() as session:
        assert registry.list_versions(session) == []
    assert not (tmp_path / "artifacts").exists()
