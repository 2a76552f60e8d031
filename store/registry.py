"""The model registry: published versions, the promotion gate, activation and rollback.

Shared by the training job (publishes) and every serving replica (reads the active version), so
the database is the one place that says which model answers.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from forecasting.artifact import ArtifactReader
from forecasting.errors import ArtifactError
from store.jsonsafe import json_safe
from store.models import ModelVersion, utcnow

log = logging.getLogger(__name__)

ACTIVE, CANDIDATE, RETIRED, REJECTED = "active", "candidate", "retired", "rejected"
# Any constant shared by every replica: the key of the PostgreSQL advisory lock around activation.
ACTIVATION_LOCK = 0x1A0C_CA57


def new_version_id(checksum: str, now: dt.datetime | None = None) -> str:
    """`20250201T030000Z-3f9a1c`: UTC creation time, then the artifact checksum's prefix."""
    stamp = (now or utcnow()).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{checksum.removeprefix('sha256:')[:6]}"


def served_wape(metrics: dict[str, Any]) -> float | None:
    """Backtest WAPE of the method the service answers with (None when unknown)."""
    return _method_wape(metrics, "served")


def relative_wape(metrics: dict[str, Any]) -> float | None:
    """The served WAPE over the global curve's, both on the version's own holdout (or None).

    Two versions' backtests score different launches (each holds out its newest ones), and a
    harder period raises every method's WAPE: the ratio to the simplest method on the same
    launches is what stays comparable between them.
    """
    served, baseline = served_wape(metrics), _method_wape(metrics, "global_curve")
    if served is None or baseline is None or baseline <= 0:
        return None
    return served / baseline


def _method_wape(metrics: dict[str, Any], method: str) -> float | None:
    try:
        wape = float(metrics["methods"][method]["wape"])
    except (KeyError, TypeError, ValueError):
        return None
    return wape if math.isfinite(wape) else None  # 0/0 on an all-zero test set


# Beyond the tolerance a version stays a candidate (an admin may still activate it); worse than
# the active one by more than this much further (relative), it is rejected outright.
REJECT_MARGIN = 0.10


@dataclass(frozen=True)
class Decision:
    """What the promotion gate decided: promote or not, the resulting status and why."""

    promote: bool
    status: str
    reason: str


def decide_promotion(
    new_metrics: dict[str, Any], active_metrics: dict[str, Any] | None, tolerance: float
) -> Decision:
    """Promote unless the new version is worse than the active one beyond `tolerance`.

    Each version's served WAPE is read relative to the global curve's on its own holdout
    (`relative_wape`), so a retrain whose holdout holds a harder period is not mistaken for a
    worse model; when either version lacks the global curve's WAPE, the raw WAPEs are compared.
    `tolerance` is relative: 0.02 lets a new version be at most 2% worse (retraining on fresh
    data is worth a little noise in the backtest). Worse than that it stays a candidate; worse
    by more than `tolerance + REJECT_MARGIN` it is rejected. A backtest without a WAPE for the
    served method is rejected.
    """
    new = served_wape(new_metrics)
    if new is None:
        return Decision(False, REJECTED, "the backtest produced no WAPE for the served method")
    if active_metrics is None:
        return Decision(True, ACTIVE, f"the first model (none was active); backtest WAPE {new:.1f}")
    old = served_wape(active_metrics)
    if old is None:
        return Decision(True, ACTIVE, f"the active model has no comparable WAPE; new {new:.1f}")
    new_rel, old_rel = relative_wape(new_metrics), relative_wape(active_metrics)
    if new_rel is not None and old_rel is not None:
        new_score, old_score, fmt = new_rel, old_rel, "{:.3f}"
        compared = (
            f"backtest WAPE {new:.1f}, {new_rel:.3f} of the global curve's on its holdout, "
            f"vs the active {old:.1f}, {old_rel:.3f} of the global curve's on its own"
        )
    else:
        new_score, old_score, fmt = new, old, "{:.1f}"
        compared = f"backtest WAPE {new:.1f} vs active {old:.1f} (different holdouts)"
    bound = old_score * (1 + tolerance)
    if new_score <= bound:
        return Decision(True, ACTIVE, f"{compared} (bound {fmt.format(bound)})")
    worse = (
        f"{compared}: worse than the active beyond the {tolerance:.0%} tolerance "
        f"(bound {fmt.format(bound)})"
    )
    if new_score <= old_score * (1 + tolerance + REJECT_MARGIN):
        return Decision(False, CANDIDATE, worse + "; kept as candidate")
    return Decision(False, REJECTED, worse + "; rejected")


def active_version(session: Session) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.status == ACTIVE))


def get_version(session: Session, version: str) -> ModelVersion | None:
    return session.get(ModelVersion, version)


def list_versions(session: Session) -> list[ModelVersion]:
    return list(session.scalars(select(ModelVersion).order_by(ModelVersion.created_at.desc())))


def publish(
    session: Session,
    *,
    version: str,
    artifact_path: str,
    checksum: str,
    frequency: str,
    metrics: dict[str, Any],
    data_summary: dict[str, Any],
    tolerance: float,
) -> tuple[ModelVersion, Decision]:
    """Register a new version and apply the promotion gate, in the caller's transaction.

    The version is created as a candidate; the gate then activates it, keeps it a candidate or
    rejects it, with the reason recorded on the row.
    """
    _serialise_activation(session)
    current = active_version(session)
    decision = decide_promotion(metrics, current.metrics if current else None, tolerance)
    row = register(
        session,
        version=version,
        artifact_path=artifact_path,
        checksum=checksum,
        frequency=frequency,
        metrics=metrics,
        data_summary=data_summary,
        reason=decision.reason,
    )
    if decision.promote:
        activate(session, version)
    else:
        row.status = decision.status
    return row, decision


def register(
    session: Session,
    *,
    version: str,
    artifact_path: str,
    checksum: str,
    frequency: str,
    metrics: dict[str, Any] | None = None,
    data_summary: dict[str, Any] | None = None,
    reason: str | None = None,
) -> ModelVersion:
    """Add a version as a candidate, without the gate (`publish` gates; `activate` serves)."""
    row = ModelVersion(
        version=version,
        status=CANDIDATE,
        artifact_path=artifact_path,
        checksum=checksum,
        frequency=frequency,
        metrics=json_safe(metrics or {}),
        data_summary=json_safe(data_summary or {}),
        reason=reason,
    )
    session.add(row)
    session.flush()
    return row


class RejectedVersion(Exception):
    """An activation of a version the promotion gate rejected, without `force`: nothing changed."""


# Appended to a forced version's reason: `GET /v1/models` and `models list` then show that a
# person overrode the gate, not only that the gate said no.
FORCED_NOTE = "activated with force over the promotion gate's rejection"


def activate(session: Session, version: str, *, force: bool = False) -> ModelVersion | None:
    """Make `version` the active one (promotion or rollback); the previous one is retired.

    Concurrent activations from several replicas are serialised (see `_serialise_activation`),
    so at most one version is ever active. Returns None for an unknown version.

    A version the promotion gate rejected (clearly worse than the active one, or with no
    backtest WAPE) is refused with RejectedVersion unless `force`: activating it by mistake
    would serve worse forecasts on every replica. A candidate needs no force (the gate left
    that choice to an admin).
    """
    _serialise_activation(session)
    row = session.get(ModelVersion, version, with_for_update=True)
    if row is None:
        return None
    if row.status == REJECTED:
        _allow_rejected(row, force)
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.status == ACTIVE, ModelVersion.version != version)
        .values(status=RETIRED)
    )
    row.status = ACTIVE
    row.activated_at = utcnow()
    session.flush()
    return row


def gate_refusal(row: ModelVersion) -> str:
    """Why the promotion gate rejected `row`, as a refusal of its activation says it."""
    why = row.reason or "no reason was recorded"
    return f"the promotion gate rejected it ({why})"


def _allow_rejected(row: ModelVersion, force: bool) -> None:
    """Refuse a rejected version unless forced; a forced one is logged and its reason noted
    (read under the activation lock, so a concurrent forced activation cannot slip past)."""
    if not force:
        raise RejectedVersion(gate_refusal(row))
    log.warning("model version %s activated with force: %s", row.version, gate_refusal(row))
    row.reason = f"{row.reason}; {FORCED_NOTE}" if row.reason else FORCED_NOTE


def artifact_problem(row: ModelVersion) -> str | None:
    """Why no replica could serve `row` (its artifact is missing or fails its checksum), or None.

    Checked before an activation: the registry must not name as active a version every replica
    refuses (each would keep serving the previous one while `GET /v1/models/active` named the
    broken one). Hashes the artifact's files; loads nothing.
    """
    try:
        ArtifactReader(Path(row.artifact_path), row.checksum)
    except (ArtifactError, OSError) as exc:
        return str(exc)
    return None


def _serialise_activation(session: Session) -> None:
    """Hold the activation lock until the caller's transaction ends.

    PostgreSQL: a transaction-scoped advisory lock; row locks alone would let two concurrent
    activations of different versions each retire the old one and both become active.
    SQLite allows one writer at a time, which serialises activations already.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ACTIVATION_LOCK})
