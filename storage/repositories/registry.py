"""The model registry: every trained artifact of each kind, its numbers, and which serves.

At most one version per kind is active; the database enforces it with a partial unique
index, and `activate` keeps to it by retiring the old version before promoting the new one.
Nothing here commits; the caller owns the transaction, so the switch becomes visible to
other sessions at once, on commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import StorageError
from storage.models import ModelStatus, ModelVersion, utcnow
from storage.repositories.people import check_aware

MAX_KIND = 32
# A model that never finished training has nothing to serve.
NOT_ACTIVATABLE = frozenset({ModelStatus.TRAINING, ModelStatus.FAILED})


class UnknownModelError(StorageError):
    """No model of that kind and version is registered."""

    def __init__(self, kind: str, version: int) -> None:
        super().__init__(f"no {kind!r} model version {version} is registered")
        self.kind = kind
        self.version = version


class ModelNotActivatableError(StorageError):
    """The model cannot serve (still training, or training failed)."""

    def __init__(self, kind: str, version: int, status: ModelStatus) -> None:
        super().__init__(
            f"{kind!r} model version {version} is {status.value} and cannot be activated"
        )
        self.kind = kind
        self.version = version
        self.status = status


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelRecord:
    id: int
    kind: str
    version: int
    status: ModelStatus
    trained_at: datetime | None
    training_rows: int | None
    metrics: dict[str, Any]
    artifact_path: str | None
    note: str | None
    created_at: datetime


def _record(row: ModelVersion) -> ModelRecord:
    return ModelRecord(
        id=row.id,
        kind=row.kind,
        version=row.version,
        status=row.status,
        trained_at=row.trained_at,
        training_rows=row.training_rows,
        metrics=dict(row.metrics or {}),
        artifact_path=row.artifact_path,
        note=row.note,
        created_at=row.created_at,
    )


def _check_kind(kind: str) -> str:
    if not isinstance(kind, str) or not kind or len(kind) > MAX_KIND:
        raise ValueError(f"model kind must be a string of 1 to {MAX_KIND} characters: {kind!r}")
    return kind


def _check_metrics(metrics: dict[str, Any]) -> None:
    try:
        json.dumps(metrics, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metrics must be JSON-serialisable: {exc}") from None


async def _get(session: AsyncSession, kind: str, version: int) -> ModelVersion:
    # populate_existing: a bulk UPDATE may have changed the row behind the identity map.
    row = await session.scalar(
        select(ModelVersion)
        .where(ModelVersion.kind == kind, ModelVersion.version == version)
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise UnknownModelError(kind, version)
    return row


async def _retire_active(session: AsyncSession, kind: str) -> None:
    await session.execute(
        update(ModelVersion)
        .where(ModelVersion.kind == kind, ModelVersion.status == ModelStatus.ACTIVE)
        .values(status=ModelStatus.RETIRED)
        .execution_options(synchronize_session=False)
    )


async def next_version(session: AsyncSession, kind: str) -> int:
    """The version number the next model of `kind` gets: 1, then one past the highest."""
    highest = await session.scalar(
        select(func.max(ModelVersion.version)).where(ModelVersion.kind == _check_kind(kind))
    )
    return (highest or 0) + 1


async def register_model(
    session: AsyncSession,
    kind: str,
    *,
    status: ModelStatus,
    trained_at: datetime | None,
    training_rows: int | None,
    metrics: dict[str, Any],
    artifact_path: str | None,
    note: str | None = None,
) -> ModelRecord:
    """Add a model under the next version of `kind`.

    Registering it as active retires the current active one. Two registrations of one kind
    racing in separate transactions would both pick the same version; the unique
    (kind, version) constraint then fails the later commit rather than storing both.
    """
    _check_kind(kind)
    status = ModelStatus(status)
    check_aware(trained_at, "trained_at")
    if training_rows is not None and training_rows < 0:
        raise ValueError(f"training_rows must not be negative, got {training_rows}")
    _check_metrics(metrics)
    if status is ModelStatus.ACTIVE:
        await _retire_active(session, kind)
    row = ModelVersion(
        kind=kind,
        version=await next_version(session, kind),
        status=status,
        trained_at=trained_at,
        training_rows=training_rows,
        metrics=dict(metrics),
        artifact_path=artifact_path,
        note=note,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return _record(row)


async def activate(session: AsyncSession, kind: str, version: int) -> ModelRecord:
    """Make `version` the one serving model of `kind`, retiring the current one.

    Both updates run in the caller's transaction: a commit publishes the switch at once,
    a rollback undoes both. Raises UnknownModelError, or ModelNotActivatableError for a
    model still training or one whose training failed.
    """
    row = await _get(session, _check_kind(kind), version)
    if row.status is ModelStatus.ACTIVE:
        return _record(row)
    if row.status in NOT_ACTIVATABLE:
        raise ModelNotActivatableError(kind, version, row.status)
    # Retire first: for a moment no version is active, never two.
    await _retire_active(session, kind)
    await session.execute(
        update(ModelVersion)
        .where(ModelVersion.id == row.id)
        .values(status=ModelStatus.ACTIVE)
        .execution_options(synchronize_session=False)
    )
    return _record(await _get(session, kind, version))


async def set_status(
    session: AsyncSession, kind: str, version: int, status: ModelStatus
) -> ModelRecord:
    """Change a model's status; ACTIVE goes through `activate`, keeping one per kind."""
    status = ModelStatus(status)
    if status is ModelStatus.ACTIVE:
        return await activate(session, kind, version)
    row = await _get(session, _check_kind(kind), version)
    row.status = status
    await session.flush()
    return _record(row)


async def active_model(session: AsyncSession, kind: str) -> ModelRecord | None:
    """The model of `kind` that serves now, if any."""
    row = await session.scalar(
        select(ModelVersion)
        .where(ModelVersion.kind == _check_kind(kind), ModelVersion.status == ModelStatus.ACTIVE)
        .execution_options(populate_existing=True)
    )
    return _record(row) if row is not None else None


async def list_models(session: AsyncSession, kind: str | None = None) -> list[ModelRecord]:
    """Registered models, newest first; all kinds unless `kind` is given."""
    statement = (
        select(ModelVersion)
        .order_by(ModelVersion.created_at.desc(), ModelVersion.id.desc())
        .execution_options(populate_existing=True)
    )
    if kind is not None:
        statement = statement.where(ModelVersion.kind == _check_kind(kind))
    return [_record(row) for row in await session.scalars(statement)]


async def finish_model(
    session: AsyncSession,
    kind: str,
    version: int,
    *,
    status: ModelStatus,
    trained_at: datetime | None,
    training_rows: int | None,
    metrics: dict[str, Any],
    artifact_path: str | None,
    note: str | None = None,
) -> ModelRecord:
    """Record how a model registered as TRAINING ended: ACTIVE (promoted, retiring the
    active one), CANDIDATE, REJECTED or FAILED, with its figures and a note saying why."""
    status = ModelStatus(status)
    check_aware(trained_at, "trained_at")
    _check_metrics(metrics)
    row = await _get(session, _check_kind(kind), version)
    row.trained_at = trained_at
    row.training_rows = training_rows
    row.metrics = dict(metrics)
    row.artifact_path = artifact_path
    row.note = note
    row.status = ModelStatus.CANDIDATE if status is ModelStatus.ACTIVE else status
    await session.flush()
    if status is ModelStatus.ACTIVE:
        return await activate(session, kind, version)
    return _record(row)


async def fail_unfinished(session: AsyncSession, note: str) -> list[ModelRecord]:
    """Mark every model still TRAINING as FAILED with `note`: call it only while holding
    the training lock, when no run can be in progress (a run that died left them)."""
    rows = list(
        await session.scalars(
            select(ModelVersion)
            .where(ModelVersion.status == ModelStatus.TRAINING)
            .execution_options(populate_existing=True)
        )
    )
    for row in rows:
        row.status = ModelStatus.FAILED
        row.note = note
    await session.flush()
    return [_record(row) for row in rows]


async def forget_artifact(session: AsyncSession, kind: str, version: int, note: str) -> None:
    """The model's files were removed: it keeps its registry row and numbers, not a path."""
    row = await _get(session, _check_kind(kind), version)
    if row.status is ModelStatus.ACTIVE:
        raise ModelNotActivatableError(kind, version, row.status)  # never strip what serves
    row.artifact_path = None
    row.note = note
    await session.flush()
