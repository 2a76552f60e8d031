"""The model a replica serves: loaded from the registry, verified, swapped without a restart.

Each replica polls the registry (the database all replicas share) every few seconds; when another
version becomes active it loads and verifies the new artifact beside the old one, then swaps a
single reference. A request takes that reference once, so it finishes on the model it started
with. An artifact that is missing or fails its checksum is refused and logged, and the previous
model keeps serving; the refusal holds until the artifact's files change on disk (a repair or a
re-copy), when the next poll tries it again.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from forecasting.baseline import CurveBaseline
from forecasting.errors import ArtifactError, EmptyCatalogue
from forecasting.model import LaunchForecaster
from store import registry
from store.repositories.catalogue import read_catalogue
from store.session import get_sessionmaker
from store.settings import Settings

if TYPE_CHECKING:
    from service.middleware import Metrics

log = logging.getLogger(__name__)

# How long the degraded path reuses launch curves computed from the database. A catalogue with
# no sales yet is looked at again soon, so the first import is picked up within seconds.
BASELINE_TTL_SECONDS = 300.0
EMPTY_BASELINE_TTL_SECONDS = 10.0


@dataclass(frozen=True)
class ServedModel:
    version: str
    checksum: str
    forecaster: LaunchForecaster


class ModelStore:
    """Holds the active model (or none) and the launch-curve baseline for degraded answers."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        """`metrics`: where the methods that answered are counted (none: not counted)."""
        self.settings = settings
        self.metrics = metrics
        self._model: ServedModel | None = None
        # "version checksum" -> the artifact's files as they were when refused
        self._refused: dict[str, Fingerprint] = {}
        self._lock = threading.Lock()  # one load at a time; readers never wait on it
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._baseline: tuple[float, CurveBaseline | None] | None = None
        self._baseline_lock = threading.Lock()
        self.last_problem: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Load the active model, then poll; a database that is down does not stop start-up."""
        try:
            self.refresh()
        except Exception as exc:  # /readyz reports it; the poller retries
            self.last_problem = f"the model registry could not be read: {type(exc).__name__}"
            log.exception("could not read the model registry at start-up; will retry")
        self._poller = threading.Thread(target=self._poll, name="model-poller", daemon=True)
        self._poller.start()

    def stop(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)

    def _poll(self) -> None:
        while not self._stop.wait(self.settings.model_poll_seconds):
            try:
                self.refresh()
            except Exception:  # a database hiccup must not kill the poller
                log.exception("model registry poll failed; keeping the current model")

    # -- the served model ----------------------------------------------------------------------
    @property
    def model(self) -> ServedModel | None:
        """The current model; take it once per request."""
        return self._model

    def served_version(self) -> str | None:
        """The version this replica serves, None on the degraded path."""
        model = self._model
        return model.version if model is not None else None

    def sales_until(self) -> dt.date | None:
        """The newest sale the served model learnt from (None on the degraded path, or for an
        artifact written before it was recorded)."""
        model = self._model
        return model.forecaster.catalogue_.last_sale_ if model is not None else None

    def refresh(self) -> None:
        """Load the registry's active version if it is not the one served (or refused)."""
        with get_sessionmaker(self.settings.database_url)() as session:
            row = registry.active_version(session)
            target = (row.version, row.checksum, row.artifact_path) if row else None
        if target is None:
            if self._model is None:
                self.last_problem = "no active model version in the registry yet"
            return
        version, checksum, path = target
        current = self._model
        key = f"{version} {checksum}"
        if current is not None and current.version == version:
            return
        if self._refused.get(key) == fingerprint(Path(path)):
            return  # unchanged since refused: loading it again would fail the same way
        with self._lock:
            self._load(version, checksum, Path(path), key)

    def _load(self, version: str, checksum: str, path: Path, key: str) -> None:
        try:
            forecaster = LaunchForecaster.load(path, expected_checksum=checksum)
        except (ArtifactError, OSError, ValueError) as exc:
            reason = f"model {version} refused: {exc}"
            self._refused[key] = fingerprint(path)
            self.last_problem = reason
            log.error(
                "%s; still serving %s", reason, self._model.version if self._model else "none"
            )
            return
        self._model = ServedModel(version, checksum, forecaster)
        # The new model lives until the next swap: keep it out of the collector's full passes
        # as start-up does (service.app.lifespan), or every one of them rescans it (33 ms on
        # the 2,000-product benchmark model, more on a large catalogue) for as long as it is
        # served. The model it replaces, frozen too, is still freed by reference counting once
        # its last request ends; about a hundred small objects in cycles stay (measured: RSS
        # flat over repeated swaps).
        gc.freeze()
        self._refused.pop(key, None)
        self.last_problem = None
        log.info("now serving model %s", version)

    def readiness(self) -> str | None:
        """None when a model is loaded, else why not (for /readyz)."""
        if self._model is not None:
            return None
        return f"no model loaded: {self.last_problem or 'not loaded yet'}"

    # -- the degraded path ---------------------------------------------------------------------
    def baseline(self) -> CurveBaseline | None:
        """Launch curves from the database (cached a few minutes); None if nothing has sold."""
        cached = self._baseline
        if cached is not None and _fresh(cached):
            return cached[1]
        with self._baseline_lock:
            cached = self._baseline
            if cached is not None and _fresh(cached):
                return cached[1]
            fitted = self._fit_baseline()
            self._baseline = (time.monotonic(), fitted)
            return fitted

    def _fit_baseline(self) -> CurveBaseline | None:
        with get_sessionmaker(self.settings.database_url)() as session:
            products, sales = read_catalogue(session)
        try:
            return CurveBaseline(self.settings.forecaster_config()).fit(products, sales)
        except EmptyCatalogue:
            return None


# Each file of an artifact directory: (relative path, size, modification time in ns).
Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(path: Path) -> Fingerprint:
    """What changes when an artifact is repaired on disk; a stat per file, no reading."""
    try:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        stats = [(p, p.stat()) for p in files if p.exists()]
    except OSError:
        return ()
    return tuple((str(p.relative_to(path.parent)), s.st_size, s.st_mtime_ns) for p, s in stats)


def _fresh(cached: tuple[float, CurveBaseline | None]) -> bool:
    ttl = BASELINE_TTL_SECONDS if cached[1] is not None else EMPTY_BASELINE_TTL_SECONDS
    return time.monotonic() - cached[0] < ttl
