"""The model registry: versions, statuses and the one-active-per-kind rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database
from storage.errors import StorageError
from storage.models import ModelStatus, ModelVersion
from storage.repositories.registry import (
    ModelNotActivatableError,
    ModelRecord,
    UnknownModelError,
    activate,
    active_model,
    list_models,
    next_version,
    register_model,
    set_status,
)

TRAINED = datetime(2024, 6, 1, 12, 30, tzinfo=UTC)


async def register(
    session: AsyncSession, kind: str = "als", status: ModelStatus = ModelStatus.CANDIDATE
) -> ModelRecord:
    return await register_model(
        session,
        kind,
        status=status,
        trained_at=TRAINED,
        training_rows=1234,
        metrics={"ndcg@10": 0.31, "users": 40},
        artifact_path=f"models/{kind}.npz",
    )


async def active_count(session: AsyncSession, kind: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(ModelVersion)
        .where(ModelVersion.kind == kind, ModelVersion.status == ModelStatus.ACTIVE)
    )
    return count or 0


async def test_versions_count_up_per_kind(session: AsyncSession):
    assert await next_version(session, "als") == 1
    first = await register(session)
    second = await register(session)
    other = await register(session, "content")
    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert await next_version(session, "als") == 3


async def test_registered_model_round_trips(database: Database):
    async with database.sessions() as session, session.begin():
        await register(session)
    async with database.sessions() as session:
        [record] = await list_models(session)
    assert record.kind == "als"
    assert record.status is ModelStatus.CANDIDATE
    assert record.trained_at == TRAINED
    assert record.training_rows == 1234
    assert record.metrics == {"ndcg@10": 0.31, "users": 40}
    assert record.artifact_path == "models/als.npz"
    assert record.created_at.tzinfo is not None


async def test_activate_promotes_and_retires_the_previous(session: AsyncSession):
    await register(session)
    await register(session)
    await register(session, "content")
    await activate(session, "content", 1)

    await activate(session, "als", 1)
    switched = await activate(session, "als", 2)

    assert switched.status is ModelStatus.ACTIVE
    active = await active_model(session, "als")
    assert active is not None
    assert active.version == 2
    statuses = {m.version: m.status for m in await list_models(session, "als")}
    assert statuses == {1: ModelStatus.RETIRED, 2: ModelStatus.ACTIVE}
    assert await active_count(session, "als") == 1
    # Another kind's active model is untouched.
    content = await active_model(session, "content")
    assert content is not None
    assert content.version == 1


async def test_activate_is_seen_whole_by_another_session(database: Database):
    async with database.sessions() as session, session.begin():
        await register(session, status=ModelStatus.ACTIVE)
        await register(session)
    async with database.sessions() as writer, database.sessions() as reader:
        await activate(writer, "als", 2)
        # Not committed yet: the reader still sees the old version, and exactly one.
        before = await active_model(reader, "als")
        assert before is not None
        assert before.version == 1
        await reader.rollback()
        await writer.commit()
        after = await active_model(reader, "als")
        assert after is not None
        assert after.version == 2
        assert await active_count(reader, "als") == 1


async def test_activating_the_active_model_changes_nothing(session: AsyncSession):
    await register(session, status=ModelStatus.ACTIVE)
    again = await activate(session, "als", 1)
    assert again.status is ModelStatus.ACTIVE
    assert await active_count(session, "als") == 1


async def test_registering_as_active_retires_the_current(session: AsyncSession):
    await register(session, status=ModelStatus.ACTIVE)
    newest = await register(session, status=ModelStatus.ACTIVE)
    active = await active_model(session, "als")
    assert active is not None
    assert active.version == newest.version == 2
    assert await active_count(session, "als") == 1


async def test_set_status_active_goes_through_activate(session: AsyncSession):
    await register(session, status=ModelStatus.ACTIVE)
    await register(session)
    record = await set_status(session, "als", 2, ModelStatus.ACTIVE)
    assert record.status is ModelStatus.ACTIVE
    assert await active_count(session, "als") == 1


async def test_set_status_changes_one_model(session: AsyncSession):
    await register(session)
    await register(session)
    rejected = await set_status(session, "als", 1, ModelStatus.REJECTED)
    assert rejected.status is ModelStatus.REJECTED
    statuses = {m.version: m.status for m in await list_models(session, "als")}
    assert statuses == {1: ModelStatus.REJECTED, 2: ModelStatus.CANDIDATE}


async def test_retiring_the_active_model_leaves_none(session: AsyncSession):
    await register(session, status=ModelStatus.ACTIVE)
    await set_status(session, "als", 1, ModelStatus.RETIRED)
    assert await active_model(session, "als") is None


@pytest.mark.parametrize("status", [ModelStatus.TRAINING, ModelStatus.FAILED])
async def test_unfinished_models_cannot_be_activated(session: AsyncSession, status: ModelStatus):
    await register(session, status=ModelStatus.ACTIVE)
    await register(session, status=status)
    with pytest.raises(ModelNotActivatableError, match=status.value):
        await activate(session, "als", 2)
    active = await active_model(session, "als")
    assert active is not None
    assert active.version == 1


async def test_unknown_model_is_a_storage_error(session: AsyncSession):
    await register(session, status=ModelStatus.ACTIVE)
    for action in (
        activate(session, "als", 7),
        set_status(session, "als", 7, ModelStatus.REJECTED),
        activate(session, "nope", 1),
    ):
        with pytest.raises(UnknownModelError, match="is registered") as caught:
            await action
        assert isinstance(caught.value, StorageError)
    # The failed activation retired nothing.
    assert await active_count(session, "als") == 1


async def test_active_model_of_an_unknown_kind_is_none(session: AsyncSession):
    assert await active_model(session, "als") is None


async def test_list_models_is_newest_first(session: AsyncSession):
    await register(session)
    await register(session, "content")
    await register(session)
    assert [(m.kind, m.version) for m in await list_models(session)] == [
        ("als", 2),
        ("content", 1),
        ("als", 1),
    ]
    assert [m.version for m in await list_models(session, "als")] == [2, 1]


async def test_bad_input_is_rejected(session: AsyncSession):
    with pytest.raises(ValueError, match="naive"):
        await register_model(
            session,
            "als",
            status=ModelStatus.CANDIDATE,
            trained_at=datetime(2024, 1, 1),
            training_rows=1,
            metrics={},
            artifact_path=None,
        )
    with pytest.raises(ValueError, match="JSON"):
        await register_model(
            session,
            "als",
            status=ModelStatus.CANDIDATE,
            trained_at=None,
            training_rows=1,
            metrics={"when": datetime.now(UTC)},
            artifact_path=None,
        )
    with pytest.raises(ValueError, match="model kind"):
        await register(session, "")
    assert await list_models(session) == []


async def test_two_active_versions_are_impossible_even_in_raw_sql(session: AsyncSession):
    await register(session, status=ModelStatus.ACTIVE)
    await register(session)
    with pytest.raises(IntegrityError, match=r"(?i)unique"):
        await session.execute(
            text("UPDATE model_versions SET status = 'active' WHERE kind = 'als' AND version = 2")
        )


async def test_active_versions_of_different_kinds_coexist(session: AsyncSession):
    await register(session, status=ModelStatus.ACTIVE)
    await register(session, "content", status=ModelStatus.ACTIVE)
    assert await active_count(session, "als") == 1
    assert await active_count(session, "content") == 1


async def test_duplicate_version_is_impossible(session: AsyncSession):
    await register(session)
    with pytest.raises(IntegrityError, match=r"(?i)unique"):
        await session.execute(
            text(
                "INSERT INTO model_versions (kind, version, status, metrics, created_at) "
                "VALUES ('als', 1, 'candidate', '{}', '2024-01-01 00:00:00')"
            )
        )
