"""`launchcast schedule`: queue a training run on each tick of LAUNCHCAST_RETRAIN_CRON, for the
workers (`launchcast worker`) to execute."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from store.settings import get_settings

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

console = Console()
log = logging.getLogger("launchcast.schedule")


def schedule_command(
    run_now: bool = typer.Option(
        False, "--run-now/--no-run-now", help="Also run once immediately."
    ),
) -> None:
    """Queue a retraining on LAUNCHCAST_RETRAIN_CRON (APScheduler) for `launchcast worker` to
    execute; a run already queued or running is logged and the schedule goes on.

    One run per tick, whoever serves it: a tick another scheduler (or this one, before a
    restart) already queued is not queued again, and a tick missed while no scheduler ran is
    caught up at start within MISFIRE_GRACE_SECONDS. SIGTERM or Ctrl+C stop it cleanly.
    """
    from apscheduler.schedulers.blocking import BlockingScheduler

    from store import migrations

    settings = get_settings()
    schedule = RetrainSchedule(settings.retrain_cron)
    # An unmigrated database: refuse now, not with a traceback at each scheduled run.
    migrations.require_current(settings.database_url)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # its chatter is ours, clearer
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(
        schedule.tick,
        schedule.trigger,
        id="retrain",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=MISFIRE_GRACE_SECONDS,
    )
    # At start: --run-now, or the tick a restart (or an outage) made us miss.
    scheduler.add_job(schedule.start, args=[run_now], id="start")
    console.print(
        f"queueing retraining on cron [bold]{settings.retrain_cron}[/] (UTC) for the workers; "
        f"next at {when(schedule.next_after(utcnow()))}; Ctrl+C or SIGTERM stops",
        highlight=False,
        soft_wrap=True,
    )

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        raise SchedulerStopped(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    stopped = "Ctrl+C"
    try:
        scheduler.start()
    except SchedulerStopped as exc:
        stopped = str(exc)
    except (KeyboardInterrupt, SystemExit):
        pass
    schedule.stopping.set()  # a tick retrying through a database outage gives up
    if scheduler.running:
        scheduler.shutdown(wait=True)  # a run being queued is committed, not cut off
    log.info("scheduler stopped (%s)", stopped)


# A tick fired late (a busy machine, a database outage retried) or missed while no scheduler ran
# (a restart across it) is still served within this many seconds; later, it is skipped, logged.
MISFIRE_GRACE_SECONDS = 3600
# How often a tick retries queueing while the database is unreachable.
RETRY_SECONDS = 30.0
# A scheduled run created this long before a tick counts as that tick's: the clocks of the
# schedulers' hosts and of the database (which stamps runs on PostgreSQL) may differ a little.
# Small, so that a run caught up late in the previous interval never serves the next tick.
CLOCK_SKEW = dt.timedelta(seconds=5)


class SchedulerStopped(Exception):
    """SIGTERM reached `launchcast schedule`."""


class RetrainSchedule:
    """LAUNCHCAST_RETRAIN_CRON and the runs its ticks queue."""

    def __init__(self, cron: str) -> None:
        self.cron = cron
        self.trigger = cron_trigger(cron)
        self.stopping = threading.Event()

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        fire: dt.datetime = self.trigger.get_next_fire_time(None, moment)
        return fire

    def last_tick(self, now: dt.datetime) -> dt.datetime | None:
        """The newest tick at or before `now`, within MISFIRE_GRACE_SECONDS; None without one."""
        moment = now - dt.timedelta(seconds=MISFIRE_GRACE_SECONDS)
        last = None
        while (fire := self.trigger.get_next_fire_time(None, moment)) is not None and fire <= now:
            last, moment = fire, fire + dt.timedelta(seconds=1)
        return last

    def tick(self) -> bool:
        """A cron tick: queue its run (unless already queued), then say when the next one is."""
        now = utcnow()
        tick = self.last_tick(now) or now
        queued = self.queue(tick)
        log.info("next scheduled retraining at %s", when(self.next_after(now)))
        return queued

    def start(self, run_now: bool) -> bool:
        """At start: --run-now queues at once; otherwise the last tick, if missed, is caught up."""
        if run_now:
            return self.queue(utcnow())
        tick = self.last_tick(utcnow())
        if tick is None:
            return False
        log.info("catching up the tick of %s, in case no scheduler served it", when(tick))
        return self.queue(tick)

    def queue(self, tick: dt.datetime) -> bool:
        """Queue the run of `tick`, retrying through a database outage until the grace ends."""
        deadline = tick + dt.timedelta(seconds=MISFIRE_GRACE_SECONDS)
        while True:
            outcome = scheduled_run(tick)
            if outcome is not None:
                return outcome
            if utcnow() + dt.timedelta(seconds=RETRY_SECONDS) > deadline:
                log.error("the tick of %s is skipped: the database stayed unreachable", when(tick))
                return False
            log.info("retrying in %g s", RETRY_SECONDS)
            if self.stopping.wait(RETRY_SECONDS):
                return False


def when(moment: dt.datetime | None) -> str:
    return "never" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC ({moment:%A})"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Crontab's weekday numbers (0 and 7: Sunday) as names: APScheduler numbers Monday 0, so
# "0 3 * * 1" handed to it as is fires on Tuesdays.
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def cron_trigger(cron: str) -> BaseTrigger:
    """LAUNCHCAST_RETRAIN_CRON as a UTC trigger with crontab's meaning (weekdays 0-7 from
    Sunday; a day of month and a weekday both given: either matches); an invalid one, or one
    that never fires, is named with its fields."""
    from apscheduler.triggers.combining import OrTrigger
    from apscheduler.triggers.cron import CronTrigger

    def refuse(reason: str) -> ValueError:
        return ValueError(
            f"LAUNCHCAST_RETRAIN_CRON '{cron}': {reason[:1].lower()}{reason[1:]} "
            "(minute hour day month weekday)"
        )

    fields = MACROS.get(cron.strip().lower(), cron).split()
    if len(fields) != 5:
        raise refuse(f"wrong number of fields; got {len(fields)}, expected 5")
    minute, hour, day, month, weekday = fields
    try:
        names = crontab_weekdays(weekday)

        def cron_of(day: str, weekday: str) -> CronTrigger:
            return CronTrigger(
                minute=minute, hour=hour, day=day, month=month, day_of_week=weekday, timezone="UTC"
            )

        if day != "*" and weekday != "*":  # crontab: either field matching is enough
            trigger: BaseTrigger = OrTrigger([cron_of(day, "*"), cron_of("*", names)])
        else:
            trigger = cron_of(day, names)
    except ValueError as exc:
        raise refuse(str(exc)) from exc
    if trigger.get_next_fire_time(None, utcnow()) is None:
        raise refuse("it never fires")
    return trigger


def crontab_weekdays(field: str) -> str:
    """Crontab's weekday field (numbers 0-7 with 0 and 7 Sunday, names, ranges, lists, steps)
    as APScheduler's day_of_week, in names; `*` as is."""
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.lower().split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() else 0
        if step_text and step < 1:
            raise ValueError(f"error validating expression '{part}': increment must be above 0")
        if span == "*":
            low, high = 0, 6
        else:
            first, dash, last = span.partition("-")
            low = weekday_number(first, part)
            high = weekday_number(last, part) if dash else (6 if step_text else low)
            if dash and high == 0 and last.strip() == "7":
                high = 7  # "5-7": Friday to Sunday
            if high < low:
                raise ValueError(f"error validating expression '{part}': {span} runs backwards")
        days.update(day % 7 for day in range(low, high + 1, step or 1))
    return ",".join(WEEKDAYS[day] for day in sorted(days))


def weekday_number(token: str, part: str) -> int:
    if token in WEEKDAYS:
        return WEEKDAYS.index(token)
    if token.isdigit() and int(token) <= 7:
        return int(token) % 7 if int(token) != 7 else 0
    raise ValueError(f"error validating expression '{part}': {token!r} is not a weekday (0-7)")


def scheduled_run(tick: dt.datetime | None = None) -> bool | None:
    """Queue one scheduled run for the workers; never raises, so the scheduler survives.

    True: queued; False: not queued, for good (another run holds the slot, or `tick` was
    already queued); None: the database failed, worth retrying.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from store.runs import RunInProgress, queue_run, scheduled_run_since, waiting_warning
    from store.session import get_sessionmaker

    settings = get_settings()
    try:
        with get_sessionmaker(settings.database_url)() as session:
            since = None if tick is None else tick - CLOCK_SKEW
            if since is not None and (done := scheduled_run_since(session, since)):
                log.info("tick of %s already queued as run %s", when(tick), done.run_id)
                return False
            try:
                run = queue_run(session, "schedule", settings.run_heartbeat_seconds)
            except RunInProgress as exc:
                # Another scheduler queued this very tick a moment ago: not worth a warning.
                if since is not None and (done := scheduled_run_since(session, since)):
                    log.info("tick of %s already queued as run %s", when(tick), done.run_id)
                else:
                    stuck = (
                        waiting_warning(
                            session,
                            exc.run,
                            settings.run_heartbeat_seconds,
                            settings.worker_poll_seconds,
                        )
                        if exc.run is not None
                        else None
                    )
                    log.warning(
                        "scheduled run not queued: %s%s", exc, f"; {stuck}" if stuck else ""
                    )
                return False
    except SQLAlchemyError as exc:  # an outage: one line, and the tick retries
        log.error("scheduled run not queued: %s", first_line(exc))
        return None
    except Exception:  # anything else is a bug: its traceback, and the schedule goes on
        log.exception("scheduled run not queued")
        return False
    log.info("scheduled run %s queued for the workers", run.run_id)
    return True


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"
