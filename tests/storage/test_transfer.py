"""`earworm db migrate-sqlite-to-postgres`: a populated SQLite deployment, in use, copied into
PostgreSQL row for row; bad sources and targets refused with one line, nothing written."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bot.cli.common import EarwormGroup
from bot.cli.db import migrate_sqlite_to_postgres
from storage.catalog.importer import import_catalog
from storage.database import Database, open_database
from storage.models import Base, Feedback, FeedbackKind, FeedbackSource, ModelStatus
from storage.repositories.bot_settings import get_setting, set_setting
from storage.repositories.feedback import FeedbackEvent, record_feedback, record_feedback_many
from storage.repositories.registry import active_model, list_models, register_model
from storage.repositories.served import ServedItem, record_served
from storage.repositories.spotify import SpotifyInfo, cached_spotify_info, store_spotify_info
from storage.repositories.tracks import search_tracks
from storage.transfer import TransferError, copy_sqlite_to_postgres
from tests.conftest import PostgresServer
from tests.factories import KAGGLE_114K_HEADER, kaggle_row, track_id, write_csv

pytestmark = pytest.mark.postgres_only("copies into PostgreSQL")

MEMBER = 987_654_321_098_765_432  # a 64-bit Discord id
GUILD = 876_543_210_987_654_321
TRAINED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


async def _populate(database: Database, tmp_path: Path) -> None:
    rows = [
        kaggle_row(0, track_id(0), "Halo", "Beyoncé", "pop", popularity="90"),
        kaggle_row(1, track_id(1), "Crazy In Love", "Beyoncé;JAY-Z", "pop", popularity="85"),
        kaggle_row(2, track_id(2), "Don't Stop Me Now", "Queen", "rock", popularity="88"),
        kaggle_row(3, track_id(3), "Blinding Lights", "The Weeknd", "synth-pop", popularity="95"),
    ]
    await import_catalog(database, [str(write_csv(tmp_path / "c.csv", KAGGLE_114K_HEADER, rows))])
    async with database.sessions() as session, session.begin():
        await record_feedback_many(
            session,
            [
                FeedbackEvent(
                    user_id=MEMBER + n,
                    guild_id=GUILD,
                    track_id=track_id(n % 4),
                    kind=FeedbackKind.LIKE,
                    source=FeedbackSource.REACTION,
                    message_id=10**17 + n,
                )
                for n in range(30)
            ],
        )
        await record_feedback(
            session,
            FeedbackEvent(
                user_id=MEMBER,
                guild_id=None,
                track_id=track_id(2),
                kind=FeedbackKind.RATING,
                source=FeedbackSource.COMMAND,
                value=4,
                created_at=TRAINED,
            ),
        )
        await record_served(
            session,
            [
                ServedItem(
                    message_id=10**18 + 7,
                    channel_id=GUILD - 1,
                    guild_id=GUILD,
                    user_id=MEMBER,
                    track_id=track_id(n),
                    position=n,
                    model_kind="als",
                    model_version="2",
                    reason="because you liked Halo",
                    shown_at=TRAINED if n == 0 else None,
                )
                for n in range(3)
            ],
        )
        for status in (ModelStatus.RETIRED, ModelStatus.ACTIVE):
            await register_model(
                session,
                "als",
                status=status,
                trained_at=TRAINED,
                training_rows=31,
                metrics={"ndcg@10": 0.25, "folds": [1, 2]},
                artifact_path="/models/als.npz",
            )
        await store_spotify_info(
            session,
            {
                track_id(0): SpotifyInfo(
                    track_id=track_id(0),
                    name="Halo",
                    artists=("Beyoncé",),
                    album="I Am... Sasha Fierce",
                    album_art_url="https://i.scdn.co/image/x",
                    track_url=None,
                ),
                track_id(1): None,  # Spotify does not know it
            },
        )
        await set_setting(session, "training_time", "03:30")


@pytest.fixture
async def source(tmp_path: Path) -> Path:
    """A populated SQLite deployment (closed)."""
    path = tmp_path / "live" / "earworm.db"
    database = await open_database(f"sqlite+aiosqlite:///{path}")
    try:
        await _populate(database, tmp_path)
    finally:
        await database.close()
    return path


@pytest.fixture
async def empty_target(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A PostgreSQL database with no schema at all (the copy migrates it)."""
    name = f"{postgres_server.template.removesuffix('_template')}_transfer"
    await postgres_server.drop_database(name)
    url = await postgres_server.create_database(name, empty=True)
    yield url
    await postgres_server.drop_database(name)


async def test_every_row_is_copied_while_the_bot_keeps_writing(
    source: Path, empty_target: str
) -> None:
    # A writer holds an open transaction on the live file, as the bot's feedback writer may.
    writer = sqlite3.connect(source)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE bot_settings SET value = 'uncommitted'")
    try:
        report = await copy_sqlite_to_postgres(f"sqlite:///{source}", empty_target, batch_size=7)
    finally:
        writer.rollback()
        writer.close()

    counts = {count.table: (count.source, count.target) for count in report.tables}
    assert set(counts) == set(Base.metadata.tables)
    assert counts["feedback"] == (31, 31)
    assert counts["tracks"] == (4, 4)
    assert counts["model_versions"] == (2, 2)
    assert counts["recommendations_served"] == (3, 3)
    assert counts["spotify_track_info"] == (2, 2)
    assert counts["artists"] == (4, 4)
    assert report.rows == sum(source for source, _ in counts.values())
    assert "@" in report.target

    copied = await open_database(empty_target)
    try:
        async with copied.sessions() as session:
            assert await get_setting(session, "training_time") == "03:30"  # committed only
            active = await active_model(session, "als")
            assert active is not None
            assert active.metrics == {"ndcg@10": 0.25, "folds": [1, 2]}
            assert active.trained_at == TRAINED
            assert [m.status for m in await list_models(session, "als")].count(
                ModelStatus.ACTIVE
            ) == 1
            cached = await cached_spotify_info(session, [track_id(0), track_id(1)])
            assert cached[track_id(0)].info.album == "I Am... Sasha Fierce"
            assert cached[track_id(1)].info is None
            assert (await session.scalar(select(func.max(Feedback.user_id)))) == MEMBER + 29
            # The copied rows are searchable through PostgreSQL's own index.
            assert [t.name for t in await search_tracks(session, "beyonce crazy")] == [
                "Crazy In Love"
            ]
            # Sequences were moved past the copied ids: new rows get fresh ones.
            await record_feedback(
                session,
                FeedbackEvent(
                    user_id=MEMBER,
                    guild_id=GUILD,
                    track_id=track_id(3),
                    kind=FeedbackKind.LOVE,
                    source=FeedbackSource.COMMAND,
                ),
            )
            await session.commit()
            assert await session.scalar(select(func.max(Feedback.id))) == 32
    finally:
        await copied.close()


async def test_a_target_holding_rows_is_refused_and_left_alone(
    source: Path, database: Database, database_url: str, tmp_path: Path
) -> None:
    await _populate(database, tmp_path)  # the test's own PostgreSQL database, now in use
    with pytest.raises(TransferError, match="already holds rows") as caught:
        await copy_sqlite_to_postgres(source, database_url)
    assert "feedback 31" in str(caught.value)
    async with database.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Feedback)) == 31


async def test_bad_sources_and_targets(tmp_path: Path, empty_target: str, source: Path) -> None:
    missing = tmp_path / "nowhere" / "earworm.db"
    with pytest.raises(TransferError, match="no SQLite database at"):
        await copy_sqlite_to_postgres(missing, empty_target)
    assert not missing.parent.exists()  # nothing created on the way
    with pytest.raises(TransferError, match="must be an SQLite database"):
        await copy_sqlite_to_postgres(empty_target, empty_target)
    with pytest.raises(TransferError, match="must be a PostgreSQL URL"):
        await copy_sqlite_to_postgres(source, f"sqlite:///{tmp_path / 'other.db'}")
    with pytest.raises(TransferError, match="must be a PostgreSQL URL"):
        await copy_sqlite_to_postgres(source, "not a url")


def _cli() -> click.Group:
    @click.group(cls=EarwormGroup)
    def earworm() -> None:
        """The command as `earworm db` holds it, with the CLI's error handling."""

    earworm.add_command(migrate_sqlite_to_postgres)
    return earworm


def test_command_prints_the_counts_and_fails_in_one_line(
    source: Path, empty_target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    command = ["migrate-sqlite-to-postgres", "--from", str(source)]
    # The default target is EARWORM_DATABASE_URL; an SQLite one is no target.
    monkeypatch.setenv("EARWORM_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    refused = runner.invoke(_cli(), command)
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines() == [
        "error: give --to POSTGRES_URL (EARWORM_DATABASE_URL is not a PostgreSQL URL)"
    ]

    monkeypatch.setenv("EARWORM_DATABASE_URL", empty_target)
    done = runner.invoke(_cli(), command)
    assert done.exit_code == 0, done.output
    assert re.search(r"^ +feedback +31 +31$", done.output, re.MULTILINE), done.output
    assert "Every table counts the same rows on both sides" in done.output

    again = runner.invoke(_cli(), [*command, "--to", empty_target])
    assert again.exit_code == 2
    lines = again.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: the target already holds rows (")
