"""Training learns from plays: a snapshot's plays join its feedback as implicit interactions
(recommender.plays weighs them), always on the training side of a holdout; `earworm train`
fits ALS with them, so a member who only ever imported a history gets an ALS taste."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from bot.learning.training import summarise_feedback
from bot.learning.worker import newer_feedback, training_data
from recommender.plays import play_weights
from storage.database import Database, open_database
from storage.models import FeedbackKind, FeedbackSource, PlaySource
from storage.repositories.feedback import FeedbackEvent, record_feedback
from storage.repositories.plays import PlayInput, record_plays
from storage.snapshot import read_snapshot, write_snapshot
from tests.bot.cli.test_train_cli import FIRST_MEMBER, data_dir, record, two_tastes
from tests.cli import database_url_in, earworm
from tests.factories import import_tracks, track_id

__all__ = ["data_dir"]  # the fixture, shared with the `earworm train` tests

LISTENER = 300_000_000_000_000_000  # a member with plays and no feedback at all
START = datetime(2024, 1, 1, tzinfo=UTC)


async def play(
    database: Database, user: int, track: str, times: int, *, skipped: int = 0, start: int = 0
) -> None:
    """`times` full plays of `track` by `user` and `skipped` quick skips, an hour apart."""
    plays = [
        PlayInput(
            track_id=track,
            played_at=START + timedelta(hours=start + n),
            ms_played=200_000 if n < times else 5_000,
            skipped=n >= times,
            source=PlaySource.SPOTIFY_EXPORT,
        )
        for n in range(times + skipped)
    ]
    async with database.sessions() as session, session.begin():
        await record_plays(session, user, plays)


async def like(database: Database, user: int, track: str, kind: FeedbackKind) -> None:
    async with database.sessions() as session, session.begin():
        await record_feedback(
            session,
            FeedbackEvent(
                user_id=user,
                guild_id=None,
                track_id=track,
                kind=kind,
                source=FeedbackSource.COMMAND,
            ),
        )


@pytest.fixture
async def tracks(database: Database, tmp_path: Path) -> list[str]:
    rows = [(f"Song {n}", f"Artist {n}", "pop", "50") for n in range(6)]
    await import_tracks(database, tmp_path, rows)
    return [track_id(n) for n in range(6)]


async def test_a_snapshots_plays_join_its_feedback_and_always_train(
    database: Database, tracks: list[str], tmp_path: Path
) -> None:
    await like(database, FIRST_MEMBER, tracks[0], FeedbackKind.LIKE)
    await like(database, FIRST_MEMBER, tracks[1], FeedbackKind.DISLIKE)
    await play(database, FIRST_MEMBER, tracks[1], 30)  # played a lot, but disliked
    await play(database, LISTENER, tracks[2], 5, skipped=1)
    await play(database, LISTENER, tracks[3], 1, start=100)
    await play(database, LISTENER, tracks[4], 0, skipped=3, start=200)
    async with database.sessions() as session:
        await write_snapshot(session, tmp_path / "snapshot.npz")
    snapshot = read_snapshot(tmp_path / "snapshot.npz")

    data = training_data(snapshot)

    assert (data.feedback_rows, data.play_rows) == (2, 4)
    pairs = {
        (user, item): weight
        for user, item, weight in zip(
            data.interactions.users.tolist(),
            data.interactions.items.tolist(),
            data.interactions.weights.tolist(),
            strict=True,
        )
        if user == str(LISTENER)
    }
    assert pairs == pytest.approx(
        {
            (str(LISTENER), tracks[2]): float(play_weights([5], [1])[0]),
            (str(LISTENER), tracks[3]): float(play_weights([1], [0])[0]),
            (str(LISTENER), tracks[4]): float(play_weights([0], [3])[0]),
        }
    )
    # Explicit feedback outweighs listening: 30 plays do not undo a dislike.
    member = data.interactions.users == str(FIRST_MEMBER)
    disliked = member & (data.interactions.items == tracks[1])
    assert data.interactions.weights[disliked].sum() < 0
    # A member who only listened counts as someone to learn from and validate on.
    assert summarise_feedback(data.interactions).validatable_members == 1  # the listener
    # The holdout takes newer feedback only: plays always train.
    newer = newer_feedback(snapshot, data, cutoff=0)
    assert newer.tolist() == [True, True, False, False, False, False]


def test_earworm_train_fits_als_on_plays(env: dict[str, str], data_dir: Path) -> None:
    from recommender.als import ALS

    asyncio.run(record(data_dir, two_tastes()))  # 8 members, 32 feedback rows

    async def listen() -> None:
        database = await open_database(database_url_in(data_dir))
        try:
            for number in range(4):  # rock tracks 0-3, played over and over
                await play(database, LISTENER, track_id(number), 6, start=10 * number)
        finally:
            await database.close()

    asyncio.run(listen())

    result = earworm("train", "--model", "als", "--json", env=env, timeout=300)

    assert result.returncode == 0, result.stderr
    [als] = json.loads(result.stdout)["results"]
    assert als["status"] == "active"
    assert als["training_rows"] == 32 + 4  # the feedback rows and the listener's 4 tracks
    assert als["metrics"]["play_rows"] == 4
    model = ALS.load(data_dir / "models" / "als" / "v1")
    listener = str(LISTENER)
    assert sorted(model.item_vocab.id_of(int(i)) for i in model.seen_items(listener)) == [
        track_id(n) for n in range(4)
    ]
    # A taste of its own, not the fallback everyone unknown gets.
    scores, unknown = model.score_users([listener, "999"])
    assert not np.allclose(scores, unknown)
    assert {r.item for r in model.recommend(listener, 5)}.isdisjoint(
        track_id(n) for n in range(4)
    )  # what they already play is never offered back


async def test_plays_count_toward_the_nightly_minimum(data_dir: Path) -> None:
    """Members who only import or play teach the models too: the nightly run is not
    skipped for want of feedback rows when plays arrived."""
    from bot.learning.admin import TrainingRunner
    from bot.settings import load_settings

    settings = load_settings(EARWORM_DATA_DIR=str(data_dir))
    database = await open_database(database_url_in(data_dir))
    try:
        runner = TrainingRunner(settings, database)
        before = await runner.new_feedback_rows()
        await play(database, LISTENER, track_id(1), 3, skipped=2)
        assert await runner.new_feedback_rows() == before + 5
    finally:
        await database.close()
