"""The training worker: claims queued runs from the database and executes them, one at a time.

The run executes in a thread while the main thread stays free for signals: on SIGTERM (or
SIGINT) the worker marks its run failed with the reason at once, even if the training thread is
deep in a native call, and exits. A worker killed outright (kill -9, power loss) stops
heartbeating instead, and whoever looks next fails its run (store/runs.py).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import threading
from types import FrameType

from sqlalchemy.exc import SQLAlchemyError

from store import runs
from store.session import get_sessionmaker
from store.settings import Settings
from training.job import RunAbandoned, execute_run

log = logging.getLogger("launchcast.worker")

# Stages after which the model may already be published: a stop then lets the run finish
# (for at most this many seconds) rather than failing a run whose model is live.
FINISHING_STAGES = ("publishing", "done")
FINISH_GRACE_SECONDS = 10.0


class Worker:
    """Claims and executes queued training runs; see `run`."""

    def __init__(self, settings: Settings, parent_pid: int | None = None) -> None:
        self.settings = settings
        self.name = runs.worker_name()
        self.sessions = get_sessionmaker(settings.database_url)
        self.parent_pid = parent_pid
        self.current: str | None = None
        self.stage: str | None = None
        self.failed: str | None = None  # the last executed run's error, if it failed
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._last_error: str | None = None

    def run(self, once: bool = False) -> int:
        """Claim and execute runs until stopped; with `once`, at most one run (none queued: return
        at once). Returns how many runs were executed."""
        log.info("worker %s polling for training runs", self.name)
        executed = 0
        while not self._stop.is_set():
            run_id = self._claim()
            if run_id is not None and self._stop.is_set():
                with self.sessions() as session:  # stopped while claiming: leave it to others
                    runs.release(session, run_id)
                break
            if run_id is not None:
                self._execute(run_id)
                executed += 1
            if once:
                break
            if run_id is None:
                self._stop.wait(self.settings.worker_poll_seconds)
                self._check_parent()
        return executed

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the worker; its current run is marked failed with the reason."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def stop(self, reason: str) -> None:
        """Stop: idle, return from `run`; mid-run, mark the run failed with `reason` and exit the
        process (a training thread cannot be interrupted)."""
        self._stop.set()
        run_id, thread = self.current, self._thread
        if run_id is None or thread is None:
            log.info("%s", reason)
            return
        if self.stage in FINISHING_STAGES:
            thread.join(FINISH_GRACE_SECONDS)
        if thread.is_alive():
            with self.sessions() as session:
                marked = runs.fail(session, run_id, reason)
            shutil.rmtree(self.settings.artifact_dir / f".staging-{run_id}", ignore_errors=True)
            log.warning("%s: run %s %s", reason, run_id, "marked failed" if marked else "ended")
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stop(f"worker stopped ({signal.Signals(signum).name})")

    def _check_parent(self) -> None:
        # Started by `launchcast serve`: do not outlive it (even if it was killed with -9).
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            self.stop("worker stopped (its parent process exited)")

    def _claim(self) -> str | None:
        try:
            with self.sessions() as session:
                run_id = runs.claim_next(session, self.settings.run_heartbeat_seconds, self.name)
        except SQLAlchemyError as exc:  # a database outage: keep polling, say so once
            message = str(exc).splitlines()[0]
            if message != self._last_error:
                log.warning("cannot claim training runs: %s", message)
            self._last_error = message
            return None
        self._last_error = None
        if run_id is not None:
            log.info("claimed training run %s", run_id)
        return run_id

    def _execute(self, run_id: str) -> None:
        self.stage, self.failed = None, None
        self._thread = threading.Thread(
            target=self._train, args=(run_id,), name=f"training-{run_id}", daemon=True
        )
        self.current = run_id  # after the thread exists: `stop` needs both
        self._thread.start()
        while self._thread.is_alive():
            self._thread.join(0.5)  # short waits: signals are handled between them
            self._check_parent()
        self.current = self._thread = None

    def _train(self, run_id: str) -> None:
        try:
            outcome = execute_run(self.settings, run_id, progress=self._progress)
        except RunAbandoned as exc:
            self.failed = str(exc)
            log.warning("%s", exc)
        except Exception as exc:  # recorded on the run row; the worker goes on
            self.failed = f"{type(exc).__name__}: {exc}"
            log.exception("training run %s failed", run_id)
        else:
            log.info(
                "training run %s succeeded: model %s is %s (%s)",
                run_id,
                outcome.version,
                outcome.status,
                outcome.reason,
            )

    def _progress(self, stage: str, done: float) -> None:
        if stage != self.stage:
            log.info("run %s: %s (%.0f%%)", self.current, stage, 100 * done)
        self.stage = stage
