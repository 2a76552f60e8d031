"""The model registry: published versions, the promotion gate, activation and rollback.

Shared by the training job (publishes) and every serving replica (reads the active version), so
the database is the one place that says which model answers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.db.models import ModelVersion, utcnow

ACTIVE, CANDIDATE, RETIRED, REJECTED = "active", "candidate", "retired", "rejected"


def new_version_id(checksum: str, now: dt.datetime | None = None) -> str:
    """`20250201T030000Z-3f9a1c`: UTC creation time, then the artifact checksum's prefix."""
    stamp = (now or utcnow()).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{checksum.removeprefix('sha256:')[:6]}"


def served_wape(metrics: dict[str, Any]) -> float | None:
    """Backtest WAPE of the method the service answers with (None when unknown)."""
    try:
        return float(metrics["methods"]["served"]["wape"])
    except (KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Decision:
    promote: bool
    status: str
    reason: str


def decide_promotion(
    new_metrics: dict[str, Any], active_metrics: dict[str, Any] | None, tolerance: float
) -> Decision:
    """Promote unless the new backtest WAPE is worse than the active one's beyond `tolerance`.

    `tolerance` is relative: 0.02 lets a new version be at most 2% worse (retraining on fresh
    data is worth a little noise in the backtest). A clearly worse version is rejected.
    """
    new = served_wape(new_metrics)
    if new is None:
        return Decision(False, REJECTED, "the backtest produced no WAPE for the served method")
    if active_metrics is None:
        return Decision(True, ACTIVE, f"no active model; backtest WAPE {new:.1f}")
    old = served_wape(active_metrics)
    if old is None:
        return Decision(True, ACTIVE, f"the active model has no comparable WAPE; new {new:.1f}")
    bound = old * (1 + tolerance)
    if new <= bound:
        return Decision(
            True, ACTIVE, f"backtest WAPE {new:.1f} vs active {old:.1f} (bound {bound:.1f})"
        )
    return Decision(
        False,
        REJECTED,
        f"backtest WAPE {new:.1f} is worse than the active {old:.1f} beyond the "
        f"{tolerance:.0%} tolerance (bound {bound:.1f})",
    )


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
    """Register a new version and apply the promotion gate, in the caller's transaction."""
    current = active_version(session)
    decision = decide_promotion(metrics, current.metrics if current else None, tolerance)
    row = ModelVersion(
        version=version,
        status=CANDIDATE,
        artifact_path=artifact_path,
        checksum=checksum,
        frequency=frequency,
        metrics=metrics,
        data_summary=data_summary,
        reason=decision.reason,
    )
    session.add(row)
    session.flush()
    if decision.promote:
        activate(session, version)
    else:
        row.status = decision.status
    return row, decision


def activate(session: Session, version: str) -> ModelVersion | None:
    """Make `version` the active one (promotion or rollback); the previous one is retired.

    The previous active row is locked first on PostgreSQL so two concurrent activations
    serialise instead of leaving two active versions.
    """
    row = session.get(ModelVersion, version, with_for_update=True)
    if row is None:
        return None
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.status == ACTIVE, ModelVersion.version != version)
        .values(status=RETIRED)
    )
    row.status = ACTIVE
    row.activated_at = utcnow()
    session.flush()
    return row
