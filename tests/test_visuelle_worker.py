"""The production path on real data: VISUELLE imported into PostgreSQL and trained with the
default settings by a `launchcast worker` process (issue 11, Found 1: this once failed after
15 minutes at publishing, with a NaN that JSONB refused)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from store import registry
from store.models import TrainingRun
from store.runs import queue_run
from store.session import get_sessionmaker
from tests.conftest import visuelle_dir

VISUELLE = visuelle_dir()
# Deadline for the whole training (polling, not a speed bound): today's core needs minutes.
DEADLINE = 3 * 3600


def non_finite_numbers(value: Any, path: str = "metrics") -> list[str]:
    """Paths of numbers in `value` that are neither finite nor null."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in non_finite_numbers(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in non_finite_numbers(v, f"{path}[{i}]")]
    if isinstance(value, float) and not math.isfinite(value):
        return [path]
    return []


@pytest.mark.slow
@pytest.mark.postgres
def test_visuelle_trains_with_the_default_settings_through_the_worker_on_postgresql(
    database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the production path is PostgreSQL; SQLite trains the same core")
    if not (VISUELLE / "products.csv").exists():
        pytest.skip(f"VISUELLE is not at {VISUELLE} (see ../shared/data/visuelle/README.md)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUNCHCAST_")}
    env |= {"LAUNCHCAST_DATABASE_URL": database_url, "LAUNCHCAST_ARTIFACT_DIR": str(tmp_path)}
    launchcast = [sys.executable, "-m", "cli"]
    products, sales = VISUELLE / "products.csv", VISUELLE / "sales.csv"
    imported = subprocess.run(
        [*launchcast, "import", "--products", str(products), "--sales", str(sales)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    sessions = get_sessionmaker(database_url)
    with sessions() as session:
        run_id = queue_run(session, "test", 30).run_id
    with (tmp_path / "worker.log").open("w") as log:
        worker = subprocess.run(
            [*launchcast, "worker", "--once"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=DEADLINE,
        )
    with sessions() as session:
        run = session.get(TrainingRun, run_id)
        assert run is not None
        assert run.status == "succeeded", (run.error, (tmp_path / "worker.log").read_text()[-3000:])
        assert worker.returncode == 0
        version = registry.get_version(session, run.model_version or "")
        assert version is not None
        assert run.metrics is not None and run.metrics["quarantined"] == {"products": 0, "sales": 0}
        assert non_finite_numbers(run.metrics) == []
        assert non_finite_numbers(version.metrics) == []
        assert non_finite_numbers(version.data_summary, "data_summary") == []
