"""The training-run queue: queue, claim, heartbeat, fail.

One run at a time holds the slot (queued or running; see `TrainingRun.active_slot`). Workers
claim the queued run atomically (`UPDATE ... WHERE status = 'queued'`, the candidate picked with
`FOR UPDATE SKIP LOCKED` on PostgreSQL), heartbeat while it runs, and a run whose heartbeat is
older than three intervals is failed by whoever looks next (queue, claim, GET), so a crashed or
killed worker never blocks retraining for longer. The pattern of procrastinate, graphile-worker
and solid_queue.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from store.jsonsafe import json_safe
from store.models import TrainingRun, utcnow

log = logging.getLogger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
# A run is presumed dead after this many missed heartbeats.
MISSED_HEARTBEATS = 3


class RunInProgress(Exception):
    """Another training run is queued or running: one at a time."""

    def __init__(self, message: str, run: TrainingRun | None = None) -> None:
        super().__init__(message)
        self.run = run  # the run holding the slot, if it could be read


class RunAbandoned(Exception):
    """The run was presumed dead (and marked failed) while it was still training: it must not
    publish, since a newer run may already hold the training slot."""


def worker_name() -> str:
    """Who claims a run: host and process id, so an operator can find the process."""
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


def db_now(session: Session) -> dt.datetime:
    """The database's clock on PostgreSQL (workers on several hosts compare one clock); this
    process's clock on SQLite, which only ever serves one machine."""
    if session.get_bind().dialect.name == "postgresql":
        now: dt.datetime = session.scalar(select(func.now()))  # type: ignore[assignment]
        return now
    return utcnow()


def queue_run(
    session: Session, trigger: str, heartbeat_seconds: float, *, claim: bool = False
) -> TrainingRun:
    """Create a queued run (or, with `claim`, one already running for this process), or raise
    RunInProgress when another holds the slot. Commits.

    `claim` is for executing in this process (`launchcast train`): inserting the run as running
    leaves no moment in which a worker could claim it too.
    """
    fail_stale_runs(session, heartbeat_seconds)
    now = db_now(session)
    run = TrainingRun(
        run_id=uuid.uuid4().hex[:16],
        status=RUNNING if claim else QUEUED,
        active_slot=True,
        trigger=trigger,
        created_at=now,
    )
    if claim:
        run.started_at = run.heartbeat_at = now
        run.worker = worker_name()
    session.add(run)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        busy = session.scalar(select(TrainingRun).where(TrainingRun.active_slot.is_(True)))
        which = f" ({busy.run_id}, {busy.status})" if busy else ""
        raise RunInProgress(f"another training run is queued or running{which}", busy) from None
    return run


def claim_next(session: Session, heartbeat_seconds: float, worker: str) -> str | None:
    """Claim the oldest queued run for `worker` and return its id (None: nothing queued). Commits.

    Safe with several workers: on PostgreSQL the candidate row is locked with SKIP LOCKED (a
    competing worker skips it instead of waiting), and the UPDATE re-checks `status = 'queued'`;
    SQLite lets one writer in at a time.
    """
    fail_stale_runs(session, heartbeat_seconds)
    candidate = (
        select(TrainingRun.run_id)
        .where(TrainingRun.status == QUEUED)
        .order_by(TrainingRun.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    now = db_now(session)
    run_id = session.scalar(
        update(TrainingRun)
        .where(TrainingRun.run_id == candidate, TrainingRun.status == QUEUED)
        .values(status=RUNNING, started_at=now, heartbeat_at=now, worker=worker)
        .returning(TrainingRun.run_id)
    )
    session.commit()
    return run_id


def fail_stale_runs(session: Session, heartbeat_seconds: float) -> int:
    """Fail running runs whose heartbeat is older than MISSED_HEARTBEATS intervals. Commits.

    Queued runs are left alone: they wait for a worker, and nothing has died.
    """
    limit = db_now(session) - dt.timedelta(seconds=MISSED_HEARTBEATS * heartbeat_seconds)
    last_sign = func.coalesce(TrainingRun.heartbeat_at, TrainingRun.started_at)
    stale = list(
        session.scalars(select(TrainingRun).where(TrainingRun.status == RUNNING, last_sign < limit))
    )
    for run in stale:
        seen = run.heartbeat_at or run.started_at
        reason = (
            f"worker lost: no heartbeat from {run.worker or 'its worker'} since "
            f"{seen:%Y-%m-%d %H:%M:%S} UTC (more than {MISSED_HEARTBEATS} x "
            f"{heartbeat_seconds:g} s)"
        )
        fail(session, run.run_id, reason, commit=False)
    session.commit()
    return len(stale)


def release(session: Session, run_id: str) -> None:
    """Put a run this process claimed but never started back in the queue. Commits."""
    session.execute(
        update(TrainingRun)
        .where(TrainingRun.run_id == run_id, TrainingRun.status == RUNNING)
        .values(status=QUEUED, started_at=None, heartbeat_at=None, worker=None)
    )
    session.commit()


def fail(session: Session, run_id: str, reason: str, *, commit: bool = True) -> bool:
    """Mark a run that still holds the slot failed with `reason`; False if it had already ended
    (a failure recorded first, e.g. by the stale check, is never overwritten)."""
    result = session.execute(
        update(TrainingRun)
        .where(TrainingRun.run_id == run_id, TrainingRun.active_slot.is_(True))
        .values(status=FAILED, active_slot=None, finished_at=utcnow(), error=reason[:2000])
    )
    if commit:
        session.commit()
    return bool(getattr(result, "rowcount", 0))


def succeed(session: Session, run_id: str, model_version: str, metrics: dict[str, Any]) -> None:
    """Record a run's success in the caller's transaction."""
    run = get_run(session, run_id)
    run.status = SUCCEEDED
    run.active_slot = None
    run.finished_at = utcnow()
    run.model_version = model_version
    run.metrics = json_safe(metrics)
    run.stage, run.progress = "done", 1.0


def recent_runs(session: Session, limit: int) -> list[TrainingRun]:
    """The newest `limit` runs, newest first."""
    query = select(TrainingRun).order_by(TrainingRun.created_at.desc()).limit(limit)
    return list(session.scalars(query))


def get_run(session: Session, run_id: str) -> TrainingRun:
    run = session.get(TrainingRun, run_id)
    if run is None:
        raise LookupError(f"no training run {run_id}")
    return run


def check_still_running(session: Session, run_id: str) -> None:
    """Refuse to publish for a run that another process has meanwhile presumed dead.

    The row is locked (PostgreSQL) so the check and the publication commit together.
    """
    run = session.get(TrainingRun, run_id, with_for_update=True)
    if run is None or run.status != RUNNING:
        status = run.status if run else "gone"
        raise RunAbandoned(
            f"run {run_id} was marked {status} while it trained; its model is not published"
        )


class Heartbeat:
    """Writes `heartbeat_at` and the latest progress of one run every interval, from a thread.

    The training code reports progress through `progress(stage, fraction)`; a new stage is
    written at once, a new fraction with the next beat. If a beat finds the run no longer
    running (presumed dead by someone else), the next progress report raises RunAbandoned, so
    the job stops early instead of training on.
    """

    def __init__(self, sessions: sessionmaker[Session], run_id: str, seconds: float) -> None:
        self.sessions, self.run_id, self.seconds = sessions, run_id, seconds
        self.stage: str | None = None
        self.fraction: float | None = None
        self.lost = False
        self._stopping = False
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{run_id}", daemon=True)

    def progress(self, stage: str, fraction: float) -> None:
        if self.lost:
            raise RunAbandoned(
                f"run {self.run_id} was marked failed while it trained; its model is not published"
            )
        if stage != self.stage:
            self._wake.set()
        self.stage, self.fraction = stage, fraction

    def beat(self) -> None:
        """One heartbeat; a database error is logged and the next beat tries again."""
        try:
            with self.sessions() as session:
                result = session.execute(
                    update(TrainingRun)
                    .where(TrainingRun.run_id == self.run_id, TrainingRun.status == RUNNING)
                    .values(
                        heartbeat_at=db_now(session),
                        stage=self.stage,
                        progress=self.fraction,
                    )
                )
                session.commit()
            if not getattr(result, "rowcount", 0):
                self.lost = True
        except SQLAlchemyError as exc:
            log.warning("heartbeat of run %s not written: %s", self.run_id, exc)

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.seconds)
            self._wake.clear()
            if self._stopping:
                return
            self.beat()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join()


# --- What an operator needs to see: a queue nobody serves, figures for /metrics -----------


def unclaimed_after(heartbeat_seconds: float, worker_poll_seconds: float) -> float:
    """Seconds after which a queued run nobody claimed means no worker is alive.

    One run holds the slot at a time, so a queued run never waits behind another: an idle
    worker claims it within worker_poll_seconds. The bound is the one a crashed worker gets
    (MISSED_HEARTBEATS heartbeats, 90 s by default), and never less than MISSED_HEARTBEATS
    polls, since workers may poll on settings of their own.
    """
    return MISSED_HEARTBEATS * max(heartbeat_seconds, worker_poll_seconds)


def last_worker_seen(session: Session) -> tuple[str, dt.datetime] | None:
    """The worker that last showed a sign of life (a claim or a heartbeat) and when; None if no
    worker ever claimed a run. Runs `launchcast train` executed itself are not a worker's."""
    row = session.execute(
        select(TrainingRun.worker, TrainingRun.heartbeat_at)
        .where(
            TrainingRun.worker.is_not(None),
            TrainingRun.heartbeat_at.is_not(None),
            TrainingRun.trigger != "cli",
        )
        .order_by(TrainingRun.heartbeat_at.desc())
        .limit(1)
    ).first()
    if row is None or row[0] is None or row[1] is None:
        return None
    return row[0], row[1]


def waiting_warning(
    session: Session, run: TrainingRun, heartbeat_seconds: float, worker_poll_seconds: float
) -> str | None:
    """Why a queued run is still waiting when no worker has claimed it for longer than an idle
    worker would take (`unclaimed_after`); None otherwise. Reads, never writes."""
    if run.status != QUEUED:
        return None
    waited = (db_now(session) - run.created_at).total_seconds()
    if waited <= unclaimed_after(heartbeat_seconds, worker_poll_seconds):
        return None
    seen = last_worker_seen(session)
    last = (
        f"the last worker seen was {seen[0]} at {seen[1]:%Y-%m-%d %H:%M:%S} UTC"
        if seen
        else "no worker has ever claimed a run on this database"
    )
    return (
        f"no worker has claimed this run in {waited:.0f} s: is `launchcast worker` (or "
        f"`launchcast serve` with its worker) running against this database? ({last})"
    )


def queue_figures(session: Session) -> dict[str, Any]:
    """The queue at a glance, in one grouped query over the (small) runs table: `counts` by
    status (every status present, 0 included), `oldest_queued_seconds` (0: none queued),
    `running_heartbeat_seconds` (the running run's last sign of life; 0: none running) and
    `last_success` (when the newest succeeded run finished; None: never)."""
    if session.get_bind().dialect.name == "postgresql":
        # A scrape must answer quickly: a locked or overloaded database fails it instead.
        session.execute(text("SET LOCAL statement_timeout = 2000"))
    now = db_now(session)
    rows = session.execute(
        select(
            TrainingRun.status,
            func.count(),
            func.min(TrainingRun.created_at),
            func.min(func.coalesce(TrainingRun.heartbeat_at, TrainingRun.started_at)),
            func.max(TrainingRun.finished_at),
        ).group_by(TrainingRun.status)
    ).all()
    counts = dict.fromkeys((QUEUED, RUNNING, SUCCEEDED, FAILED), 0)
    figures: dict[str, Any] = {
        "counts": counts,
        "oldest_queued_seconds": 0.0,
        "running_heartbeat_seconds": 0.0,
        "last_success": None,
    }
    for status, count, created, last_sign, finished in rows:
        counts[status] = int(count)
        if status == QUEUED and created is not None:
            figures["oldest_queued_seconds"] = _age(now, created)
        elif status == RUNNING and last_sign is not None:
            figures["running_heartbeat_seconds"] = _age(now, last_sign)
        elif status == SUCCEEDED and finished is not None:
            figures["last_success"] = _aware(finished)
    return figures


def _aware(moment: dt.datetime) -> dt.datetime:
    # Aggregates bypass the column type that restores SQLite's dropped UTC offset.
    if isinstance(moment, str):  # SQLite may hand an aggregate back as text
        moment = dt.datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _age(now: dt.datetime, moment: dt.datetime) -> float:
    return max(0.0, (now - _aware(moment)).total_seconds())


def scheduled_run_since(session: Session, since: dt.datetime) -> TrainingRun | None:
    """The first run the scheduler queued at or after `since`, if any: a tick already served
    (by another scheduler, or by this one before a restart) is not queued twice."""
    query = (
        select(TrainingRun)
        .where(TrainingRun.trigger == "schedule", TrainingRun.created_at >= since)
        .order_by(TrainingRun.created_at)
        .limit(1)
    )
    return session.scalars(query).first()
