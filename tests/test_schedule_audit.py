"""`launchcast schedule` as an operator runs it: crontab's meaning (Monday is 1), one run per
tick however many schedulers serve it, a restart across a tick neither skips nor doubles it, a
database outage at a tick is retried, SIGTERM stops it cleanly; and a queued run that no worker
claims says so on GET /v1/training-runs/{id}."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

import cli.schedule as schedule_module
from cli.schedule import RetrainSchedule, cron_trigger, scheduled_run
from store import migrations
from store.models import TrainingRun
from store.runs import FAILED
from store.session import get_sessionmaker
from store.settings import Settings, get_settings
from tests.console import run_console_script

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)  # a Wednesday


def fires(cron: str, n: int = 6) -> list[str]:
    """The next `n` firings after NOW, as 'Mon 07'."""
    trigger, moment, out = cron_trigger(cron), NOW, []
    for _ in range(n):
        fire = trigger.get_next_fire_time(None, moment)
        out.append(f"{fire:%a %d}")
        moment = fire + dt.timedelta(seconds=1)
    return out


# --- crontab's meaning -----------------------------------------------------------------------


def test_the_default_cron_fires_on_mondays_as_its_comment_says() -> None:
    # APScheduler numbers Monday 0: "0 3 * * 1" handed to it as is fired on Tuesdays.
    assert fires("0 3 * * 1", 3) == ["Mon 07", "Mon 14", "Mon 21"]
    assert cron_trigger("0 3 * * 1").get_next_fire_time(None, NOW) == dt.datetime(
        2026, 12, 7, 3, 0, tzinfo=dt.UTC
    )


@pytest.mark.parametrize(
    ("cron", "days"),
    [
        ("0 3 * * 0", ["Sun 06", "Sun 13"]),
        ("0 3 * * 7", ["Sun 06", "Sun 13"]),  # crontab's other Sunday, refused before
        ("0 3 * * 1-5", ["Thu 03", "Fri 04", "Mon 07", "Tue 08", "Wed 09", "Thu 10"]),
        ("0 3 * * 5-7", ["Fri 04", "Sat 05", "Sun 06", "Fri 11"]),
        ("0 3 * * */2", ["Thu 03", "Sat 05", "Sun 06", "Tue 08"]),
        ("0 3 * * mon,wed", ["Mon 07", "Wed 09", "Mon 14"]),
        ("0 3 * * 1,3,5", ["Fri 04", "Mon 07", "Wed 09"]),
        # A day of month and a weekday: crontab fires when either matches.
        ("0 3 1 * 1", ["Mon 07", "Mon 14", "Mon 21", "Mon 28", "Fri 01", "Mon 04"]),
        ("@weekly", ["Sun 06", "Sun 13"]),
    ],
)
def test_weekdays_mean_what_they_mean_in_crontab(cron: str, days: list[str]) -> None:
    assert fires(cron, len(days)) == days


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'schedule.db'}"
    migrations.upgrade(url)
    monkeypatch.setenv("LAUNCHCAST_DATABASE_URL", url)
    monkeypatch.setenv("LAUNCHCAST_ARTIFACT_DIR", str(tmp_path / "artifacts"))

    def started(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the scheduler started")

    monkeypatch.setattr("apscheduler.schedulers.blocking.BlockingScheduler.start", started)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("cron", "reason"),
    [
        ("0 3 31 2 *", "it never fires"),  # February 31st: before, an idle scheduler for ever
        ("0 3 * * 8", "'8' is not a weekday (0-7)"),
        ("0 3 * * 5-1", "5-1 runs backwards"),
    ],
)
def test_a_cron_that_cannot_fire_is_refused_in_one_line_naming_the_setting(
    cli_env: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cron: str,
    reason: str,
) -> None:
    monkeypatch.setenv("LAUNCHCAST_RETRAIN_CRON", cron)
    ran = run_console_script(monkeypatch, capsys, "schedule")
    lines = [line for line in ran.err.splitlines() if line.strip()]
    assert ran.code != 0
    assert len(lines) == 1, ran.err
    assert lines[0].startswith(f"error: LAUNCHCAST_RETRAIN_CRON '{cron}': "), lines
    assert reason in lines[0]


# --- one run per tick ------------------------------------------------------------------------


@pytest.fixture
def scheduler_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LAUNCHCAST_DATABASE_URL", database_url)
    monkeypatch.setenv("LAUNCHCAST_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    get_settings.cache_clear()
    return database_url


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    yield
    get_settings.cache_clear()


def finish_all(url: str) -> None:
    """What a quick worker would do: end every queued run, freeing the slot."""
    with get_sessionmaker(url)() as session:
        session.execute(
            update(TrainingRun)
            .where(TrainingRun.status == "queued")
            .values(status=FAILED, active_slot=None, error="drained")
        )
        session.commit()


def scheduled_runs(url: str) -> list[TrainingRun]:
    with get_sessionmaker(url)() as session:
        return list(session.query(TrainingRun).filter_by(trigger="schedule"))


def test_a_tick_another_scheduler_served_is_not_queued_twice(scheduler_env: str) -> None:
    # Two schedulers (one a little late: another host's clock), and a run short enough to end
    # between them: before, the slot was the only guard, and the second queued a second run.
    tick = dt.datetime.now(dt.UTC).replace(microsecond=0)
    assert scheduled_run(tick) is True
    finish_all(scheduler_env)
    assert scheduled_run(tick) is False
    assert len(scheduled_runs(scheduler_env)) == 1
    # The next tick is queued as usual.
    assert scheduled_run(tick + dt.timedelta(minutes=1)) is True
    assert len(scheduled_runs(scheduler_env)) == 2


def frozen(monkeypatch: pytest.MonkeyPatch) -> dt.datetime:
    now = dt.datetime.now(dt.UTC)
    monkeypatch.setattr(schedule_module, "utcnow", lambda: now)
    return now


def test_a_restart_after_a_tick_catches_it_up_once(
    scheduler_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = frozen(monkeypatch)
    # The tick of this very minute fired while no scheduler ran (a deployment across it):
    # before, the start computed the next tick from now and the retraining was skipped.
    schedule = RetrainSchedule(f"{now.minute} {now.hour} * * *")
    assert schedule.start(run_now=False) is True
    finish_all(scheduler_env)
    # Restarted again (a crash loop): the tick is served, not queued a second time.
    assert schedule.start(run_now=False) is False
    assert len(scheduled_runs(scheduler_env)) == 1


def test_a_tick_missed_longer_ago_than_the_grace_is_not_caught_up(
    scheduler_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = frozen(monkeypatch)
    long_ago = now - dt.timedelta(seconds=schedule_module.MISFIRE_GRACE_SECONDS + 120)
    schedule = RetrainSchedule(f"{long_ago.minute} {long_ago.hour} * * *")
    assert schedule.start(run_now=False) is False
    assert scheduled_runs(scheduler_env) == []


def test_a_database_outage_at_a_tick_is_retried_not_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outcomes: list[bool | None] = [None, None, True]
    calls: list[dt.datetime | None] = []

    def flaky(tick: dt.datetime | None = None) -> bool | None:
        calls.append(tick)
        return outcomes.pop(0)

    monkeypatch.setattr(schedule_module, "scheduled_run", flaky)
    monkeypatch.setattr(schedule_module, "RETRY_SECONDS", 0.01)
    tick = dt.datetime.now(dt.UTC)
    assert RetrainSchedule("* * * * *").queue(tick) is True
    assert calls == [tick, tick, tick]


def test_a_database_error_is_reported_as_retryable_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("LAUNCHCAST_DATABASE_URL", f"sqlite:///{tmp_path / 'missing.db'}")
    monkeypatch.setenv("LAUNCHCAST_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    get_settings.cache_clear()
    assert scheduled_run(dt.datetime.now(dt.UTC)) is None
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "\n" not in errors[0], errors
    assert all(r.exc_info is None for r in caplog.records)


# --- SIGTERM ---------------------------------------------------------------------------------


def test_sigterm_stops_the_scheduler_cleanly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sigterm.db'}"
    migrations.upgrade(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUNCHCAST_")}
    env |= {"LAUNCHCAST_DATABASE_URL": url, "LAUNCHCAST_ARTIFACT_DIR": str(tmp_path / "art")}
    log_path = tmp_path / "schedule.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "schedule"], env=env, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 120
        while "Ctrl+C or SIGTERM stops" not in log_path.read_text():
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        time.sleep(0.5)  # into the scheduler's loop
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = log_path.read_text()
    assert code == 0, output  # before: killed by the signal (-15), nothing said
    assert "scheduler stopped (SIGTERM)" in output
    assert "next at 2" in output and "Traceback" not in output


# --- a queued run nobody claims --------------------------------------------------------------


def backdate(settings: Settings, run_id: str, seconds: float) -> None:
    with get_sessionmaker(settings.database_url)() as session:
        run = session.get(TrainingRun, run_id)
        assert run is not None
        run.created_at = run.created_at - dt.timedelta(seconds=seconds)
        session.commit()


def test_a_queued_run_no_worker_claims_says_so(client: TestClient, settings: Settings) -> None:
    run_id = client.post("/v1/training-runs").json()["run_id"]
    fresh = client.get(f"/v1/training-runs/{run_id}").json()
    assert fresh["status"] == "queued"
    assert fresh["warning"] is None  # a worker has had no time to claim it yet
    backdate(settings, run_id, 600)
    stuck = client.get(f"/v1/training-runs/{run_id}").json()
    assert stuck["status"] == "queued"  # the contract's fields are unchanged
    assert "no worker has claimed this run in 6" in stuck["warning"], stuck
    assert "launchcast worker" in stuck["warning"]
    assert "no worker has ever claimed a run" in stuck["warning"]


def test_the_warning_names_the_last_worker_seen(client: TestClient, settings: Settings) -> None:
    seen = dt.datetime(2026, 11, 30, 3, 0, 1, tzinfo=dt.UTC)
    with get_sessionmaker(settings.database_url)() as session:
        session.add(
            TrainingRun(
                run_id="old",
                status="succeeded",
                trigger="schedule",
                created_at=seen,
                heartbeat_at=seen,
                worker="web-1:4242",
            )
        )
        session.commit()
    run_id = client.post("/v1/training-runs").json()["run_id"]
    backdate(settings, run_id, 600)
    warning = client.get(f"/v1/training-runs/{run_id}").json()["warning"]
    assert "the last worker seen was web-1:4242 at 2026-11-30 03:00:01 UTC" in warning
    assert client.get("/v1/training-runs/old").json()["warning"] is None


def test_a_tick_blocked_by_a_run_no_worker_claims_says_why(
    scheduler_env: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Before, every tick only said "another training run is queued or running", week after
    # week, while no worker was running at all.
    assert scheduled_run(dt.datetime.now(dt.UTC)) is True
    (run,) = scheduled_runs(scheduler_env)
    settings = get_settings()
    backdate(settings, run.run_id, 3600)
    caplog.clear()
    assert scheduled_run(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)) is False
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, warnings
    assert f"({run.run_id}, queued)" in warnings[0]
    assert "no worker has claimed this run in 36" in warnings[0]
