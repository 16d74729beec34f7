"""Plays and the listening opt-in: idempotent, validated writes; reads aggregated in SQL; tracks
outside the catalog; forget-me, export and snapshots; migration 0004 up and down with data."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage import migrate
from storage.catalog.importer import import_catalog
from storage.database import Database
from storage.models import Artist, ListeningOptIn, Play, PlaySource, Track, TrackArtist, User
from storage.repositories.people import delete_user_data, export_user_data
from storage.repositories.plays import (
    MAX_MS_PLAYED,
    OutsideTrack,
    PlayInput,
    add_tracks_outside_catalog,
    count_plays_after,
    listening_enabled_since,
    listening_user_ids,
    play_counts_for_user,
    plays_for_user,
    plays_since,
    record_plays,
    set_listening,
)
from storage.repositories.snapshots import catalog_rows
from storage.repositories.tracks import search_tracks, track_details
from storage.snapshot import read_snapshot, write_snapshot
from tests.factories import KAGGLE_114K_HEADER, kaggle_row, track_id, write_csv

MEMBER = 123_456_789_012_345_678
OTHER = 223_456_789_012_345_678
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
OUTSIDE = "0utsideTrack0000000001"


def play(
    track: str,
    minutes: int = 0,
    ms: int | None = 200_000,
    skipped: bool | None = False,
    source: PlaySource = PlaySource.SPOTIFY_EXPORT,
) -> PlayInput:
    return PlayInput(
        track_id=track,
        played_at=T0 + timedelta(minutes=minutes),
        ms_played=ms,
        skipped=skipped,
        source=source,
    )


async def count(session: AsyncSession, model: type, **where: object) -> int:
    statement = select(func.count()).select_from(model)
    for name, value in where.items():
        statement = statement.where(getattr(model, name) == value)
    return await session.scalar(statement) or 0


# --- record_plays -----------------------------------------------------------------------


async def test_recording_again_stores_nothing_new(session: AsyncSession, tracks: list[str]):
    plays = [play(tracks[0], 0), play(tracks[0], 5), play(tracks[1], 9, ms=4_000, skipped=True)]
    first = await record_plays(session, MEMBER, plays)
    await session.commit()
    again = await record_plays(session, MEMBER, plays)
    await session.commit()

    assert (first.received, first.new, first.already_stored) == (3, 3, 0)
    assert (again.received, again.new, again.already_stored) == (3, 0, 3)
    assert await count(session, Play) == 3
    assert await count(session, User, id=MEMBER) == 1  # the member's row came with the plays


async def test_the_same_moment_from_another_source_is_another_play(
    session: AsyncSession, tracks: list[str]
):
    summary = await record_plays(
        session,
        MEMBER,
        [
            play(tracks[0]),
            play(tracks[0], source=PlaySource.LASTFM, ms=None),
            play(tracks[0]),  # repeated within the batch
        ],
    )
    assert (summary.new, summary.already_stored) == (2, 1)


async def test_bad_plays_are_counted_by_reason_and_never_written(
    session: AsyncSession, tracks: list[str]
):
    future = datetime.now(UTC) + timedelta(hours=1)
    bad = [
        PlayInput(
            track_id=tracks[0],
            played_at=datetime(2024, 3, 1),  # naive
            ms_played=1,
            skipped=None,
            source=PlaySource.LISTENING,
        ),
        PlayInput(
            track_id=tracks[0], played_at=future, ms_played=1, skipped=None, source="listening"
        ),
        PlayInput(
            track_id=tracks[0],
            played_at=datetime(1970, 1, 1, tzinfo=UTC),
            ms_played=1,
            skipped=None,
            source=PlaySource.LASTFM,
        ),
        play(tracks[0], ms=-1),
        play(tracks[0], ms=MAX_MS_PLAYED + 1),
        play("tooShort"),
        play(track_id(99)),  # well formed, not in the catalog
        PlayInput(
            track_id=tracks[0],
            played_at=T0,
            ms_played=1,
            skipped=None,
            source="radio",  # type: ignore[arg-type]
        ),
    ]
    good = [play(tracks[1], ms=MAX_MS_PLAYED), play(tracks[2], ms=0)]
    summary = await record_plays(session, MEMBER, bad + good)

    assert summary.new == 2
    assert dict(summary.invalid) == {
        "naive_timestamp": 1,
        "future_timestamp": 1,
        "too_old": 1,
        "negative_ms": 1,
        "absurd_ms": 1,
        "invalid_track_id": 1,
        "unknown_track": 1,
        "invalid_source": 1,
    }
    assert summary.to_json()["invalid"]["unknown_track"] == 1
    assert sorted(p.track_id for p in await plays_for_user(session, MEMBER)) == tracks[1:]


async def test_a_play_a_few_minutes_ahead_is_a_clock_not_the_future(
    session: AsyncSession, tracks: list[str]
):
    soon = datetime.now(UTC) + timedelta(minutes=2)
    summary = await record_plays(
        session,
        MEMBER,
        [PlayInput(track_id=tracks[0], played_at=soon, ms_played=1, skipped=None, source="lastfm")],
    )
    assert summary.new == 1


async def test_only_valid_rows_reach_the_database(session: AsyncSession, tracks: list[str]):
    """The CHECK on ms_played holds even for a write that skips the repository."""
    await record_plays(session, MEMBER, [play(tracks[0])])
    with pytest.raises(IntegrityError):
        await session.execute(
            insert(Play).values(
                user_id=MEMBER,
                track_id=tracks[0],
                played_at=T0,
                ms_played=-5,
                skipped=None,
                source=PlaySource.LISTENING,
                created_at=T0,
            )
        )


@pytest.mark.parametrize("bad", [0, -1, 2**63, True])
async def test_bad_member_ids_raise(session: AsyncSession, tracks: list[str], bad: int):
    with pytest.raises(ValueError, match="user id"):
        await record_plays(session, bad, [play(tracks[0])])


async def test_nothing_valid_writes_nothing(session: AsyncSession, tracks: list[str]):
    summary = await record_plays(session, MEMBER, [play(track_id(99))])
    assert (summary.new, dict(summary.invalid)) == (0, {"unknown_track": 1})
    assert await count(session, User) == 0


async def test_big_writes_stay_within_the_databases_limits(
    session: AsyncSession, tracks: list[str]
):
    """55,000 plays go in two executemany batches; 40,000 distinct track ids are looked up
    in chunks: one IN list that long passes asyncpg's 32,767 arguments (and SQLite's
    default 32,766, though some builds, this one's maybe, allow more)."""
    plays = [play(tracks[n % 3], minutes=n) for n in range(55_000)]
    summary = await record_plays(session, MEMBER, plays)
    assert (summary.new, summary.already_stored) == (55_000, 0)
    strangers = [play(track_id(10_000 + n)) for n in range(40_000)]
    summary = await record_plays(session, MEMBER, strangers + plays[:100])
    assert (summary.new, summary.already_stored) == (0, 100)
    assert summary.invalid == {"unknown_track": 40_000}


# --- reads ------------------------------------------------------------------------------


async def test_counts_per_track_are_aggregated(session: AsyncSession, tracks: list[str]):
    await record_plays(
        session,
        MEMBER,
        [
            play(tracks[0], 0, ms=200_000),
            play(tracks[0], 10, ms=30_000),  # exactly 30 s: heard
            play(tracks[0], 20, ms=29_999, skipped=True),  # skip
            play(tracks[0], 30, ms=5_000, skipped=None),  # short, unknown: a skip
            play(tracks[0], 40, ms=5_000, skipped=False),  # short, not skipped (a short track)
            play(tracks[1], 50, ms=None, source=PlaySource.LASTFM),  # a scrobble: heard
            play(tracks[2], 60, ms=1_000, skipped=True),
        ],
    )
    await record_plays(session, OTHER, [play(tracks[2], 0)])
    counts = {c.track_id: c for c in await play_counts_for_user(session, MEMBER)}

    first = counts[tracks[0]]
    assert (first.plays, first.skips, first.total_ms) == (2, 2, 269_999)
    assert first.last_played == T0 + timedelta(minutes=40)
    assert (counts[tracks[1]].plays, counts[tracks[1]].total_ms) == (1, 0)
    assert (counts[tracks[2]].plays, counts[tracks[2]].skips) == (0, 1)
    ordered = [c.track_id for c in await play_counts_for_user(session, MEMBER)]
    assert ordered == [tracks[0], tracks[1], tracks[2]]  # most heard, then most recent
    since = await play_counts_for_user(session, MEMBER, since=T0 + timedelta(minutes=45))
    assert [c.track_id for c in since] == [tracks[1], tracks[2]]


async def test_plays_for_user_newest_first_with_since_and_limit(
    session: AsyncSession, tracks: list[str]
):
    await record_plays(session, MEMBER, [play(tracks[n % 3], n) for n in range(10)])
    await record_plays(session, OTHER, [play(tracks[0], 100)])
    everything = await plays_for_user(session, MEMBER)
    newest_first = [T0 + timedelta(minutes=n) for n in range(9, -1, -1)]
    assert [p.played_at for p in everything] == newest_first
    assert {p.user_id for p in everything} == {MEMBER}
    recent = await plays_for_user(session, MEMBER, since=T0 + timedelta(minutes=7), limit=2)
    assert [p.played_at.minute for p in recent] == [9, 8]
    assert all(p.played_at.tzinfo is not None for p in recent)
    with pytest.raises(ValueError, match="naive"):
        await plays_for_user(session, MEMBER, since=datetime(2024, 1, 1))


async def test_a_members_plays_are_read_through_the_index(session: AsyncSession):
    """Serving reads one member's plays: the plan must use ix_plays_user_played."""
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's; PostgreSQL plans by table statistics")
    plan = await session.execute(
        text(
            "EXPLAIN QUERY PLAN SELECT * FROM plays WHERE user_id = 1 "
            "AND played_at >= '2024-01-01' ORDER BY played_at DESC"
        )
    )
    assert "ix_plays_user_played" in " ".join(str(row[-1]) for row in plan)


async def test_plays_since_pages_by_id(session: AsyncSession, tracks: list[str]):
    await record_plays(session, MEMBER, [play(tracks[0], n) for n in range(5)])
    await record_plays(session, OTHER, [play(tracks[1], n) for n in range(3)])
    seen: list[int] = []
    mark = 0
    while page := await plays_since(session, mark, 3):
        seen.extend(p.id for p in page)
        mark = page[-1].id
    assert len(seen) == 8 == len(set(seen))
    assert seen == sorted(seen)
    assert await plays_since(session, mark, 3) == []
    assert await count_plays_after(session, seen[4]) == 3
    # A play imported later with an older time is still new to a reader keyed by id.
    await record_plays(session, MEMBER, [play(tracks[2], -10_000)])
    assert [p.track_id for p in await plays_since(session, mark, 10)] == [tracks[2]]


# --- listening opt-in -------------------------------------------------------------------


async def test_listening_opt_in_persists_and_turns_off(database: Database):
    async with database.sessions() as session, session.begin():
        assert await set_listening(session, MEMBER, True) is True
        assert await set_listening(session, MEMBER, True) is False  # already on
        await set_listening(session, OTHER, True)
    async with database.sessions() as session:
        since = await listening_enabled_since(session, MEMBER)
        assert since is not None
        assert since.tzinfo is not None
        assert await listening_user_ids(session) == [MEMBER, OTHER]
    async with database.sessions() as session, session.begin():
        assert await set_listening(session, MEMBER, False) is True
        assert await set_listening(session, MEMBER, False) is False
    async with database.sessions() as session:
        assert await listening_enabled_since(session, MEMBER) is None
        assert await listening_user_ids(session) == [OTHER]


# --- tracks outside the catalog ---------------------------------------------------------


async def test_tracks_outside_the_catalog_are_added_without_features_and_searchable(
    database: Database, tmp_path: Path
):
    rows = [kaggle_row(0, track_id(0), "Halo", "Beyoncé", "pop", popularity="90")]
    await import_catalog(database, [str(write_csv(tmp_path / "c.csv", KAGGLE_114K_HEADER, rows))])
    async with database.sessions() as session, session.begin():
        added = await add_tracks_outside_catalog(
            session,
            [
                OutsideTrack(OUTSIDE, "Zephyr Lullaby", ("Beyoncé", "Nova Quill"), "Night Songs"),
                OutsideTrack(OUTSIDE, "Zephyr Lullaby", ("Beyoncé",), None),  # repeated
                OutsideTrack(track_id(0), "Halo (renamed?)", ("Beyoncé",), None),  # in catalog
                OutsideTrack("short", "Bad Id", ("Someone",), None),
                OutsideTrack("0utsideTrack0000000002", "  ", ("Someone",), None),
            ],
        )
    assert added == 1

    async with database.sessions() as session:
        assert [t.id for t in await search_tracks(session, "zephyr lull")] == [OUTSIDE]
        assert [t.id for t in await search_tracks(session, "nova quill")] == [OUTSIDE]
        assert [t.name for t in await search_tracks(session, "halo")] == ["Halo"]  # untouched
        details = await track_details(session, [OUTSIDE, track_id(0)])
        assert details[0].features == {}  # a card shows no sound bars
        assert set(details[1].features) == {"danceability", "energy", "valence", "acousticness"}
        artists = await session.execute(
            select(Artist.name, TrackArtist.position)
            .join(TrackArtist, TrackArtist.artist_id == Artist.id)
            .where(TrackArtist.track_id == OUTSIDE)
            .order_by(TrackArtist.position)
        )
        assert artists.all() == [("Beyoncé", 0), ("Nova Quill", 1)]
        assert await count(session, Artist, name="Beyoncé") == 1  # merged with the catalog's
        catalog = await catalog_rows(session)
        position = catalog.ids.index(OUTSIDE)
        assert catalog.has_audio_features == [i != position for i in range(len(catalog))]
        assert all(values[position] is None for values in catalog.features.values())

    async with database.sessions() as session, session.begin():
        assert (
            await add_tracks_outside_catalog(
                session, [OutsideTrack(OUTSIDE, "Zephyr Lullaby", ("Beyoncé",), None)]
            )
            == 0
        )


async def test_a_later_catalog_import_fills_in_the_features(database: Database, tmp_path: Path):
    async with database.sessions() as session, session.begin():
        await add_tracks_outside_catalog(
            session, [OutsideTrack(OUTSIDE, "Zephyr Lullaby", ("Nova Quill",), None)]
        )
    rows = [kaggle_row(0, OUTSIDE, "Zephyr Lullaby", "Nova Quill", "ambient", popularity="12")]
    summary = await import_catalog(
        database, [str(write_csv(tmp_path / "c.csv", KAGGLE_114K_HEADER, rows))]
    )
    assert summary.tracks_updated == 1
    async with database.sessions() as session:
        track = await session.get(Track, OUTSIDE)
        assert track is not None
        assert (track.danceability, track.popularity) == (0.5, 12)


async def test_audio_features_are_all_there_or_all_missing(session: AsyncSession):
    half = {"id": OUTSIDE, "name": "Half", "artist_names": "[]", "danceability": 0.5}
    with pytest.raises(IntegrityError):
        await session.execute(insert(Track).values(**half, created_at=T0, updated_at=T0))


# --- forget-me, export, snapshots -------------------------------------------------------


async def test_forget_me_deletes_plays_and_the_opt_in(database: Database, tracks: list[str]):
    async with database.sessions() as session, session.begin():
        await record_plays(session, MEMBER, [play(tracks[0], n) for n in range(4)])
        await record_plays(session, OTHER, [play(tracks[0], n) for n in range(2)])
        await set_listening(session, MEMBER, True)
        await set_listening(session, OTHER, True)
    async with database.sessions() as session, session.begin():
        counts = await delete_user_data(session, MEMBER)
    assert counts == {
        "feedback": 0,
        "recommendations_served": 0,
        "plays": 4,
        "listening_optin": 1,
        "users": 1,
    }
    async with database.sessions() as session:
        assert await count(session, Play, user_id=MEMBER) == 0
        assert await count(session, ListeningOptIn, user_id=MEMBER) == 0
        assert await count(session, Play, user_id=OTHER) == 2
        assert await listening_user_ids(session) == [OTHER]


async def test_export_holds_plays_and_the_opt_in(session: AsyncSession, tracks: list[str]):
    await record_plays(
        session,
        MEMBER,
        [play(tracks[1], 5, ms=3_000, skipped=True), play(tracks[0], 0, source=PlaySource.LASTFM)],
    )
    await record_plays(session, OTHER, [play(tracks[2])])
    await set_listening(session, MEMBER, True)
    exported = json.loads(json.dumps(await export_user_data(session, MEMBER)))

    assert exported["plays"] == [
        {
            "track_id": tracks[0],
            "played_at": T0.isoformat(),
            "ms_played": 200_000,
            "skipped": False,
            "source": "lastfm",
        },
        {
            "track_id": tracks[1],
            "played_at": (T0 + timedelta(minutes=5)).isoformat(),
            "ms_played": 3_000,
            "skipped": True,
            "source": "spotify-export",
        },
    ]
    assert exported["listening"]["enabled"] is True
    assert exported["listening"]["since"] is not None
    nobody = await export_user_data(session, 999)
    assert (nobody["plays"], nobody["listening"]) == ([], {"enabled": False, "since": None})


async def test_snapshots_hold_plays_per_member_and_track(
    session: AsyncSession, tracks: list[str], tmp_path: Path
):
    await record_plays(
        session,
        MEMBER,
        [
            play(tracks[0], 0),
            play(tracks[0], 1),
            play(tracks[0], 2, ms=2_000, skipped=True),
            play(tracks[1], 3, ms=None, source=PlaySource.LASTFM),
        ],
    )
    await record_plays(session, OTHER, [play(tracks[2], 9, ms=45_000)])
    await session.commit()
    header = await write_snapshot(session, tmp_path / "snap.npz")
    snapshot = read_snapshot(tmp_path / "snap.npz")

    assert (header["play_rows"], header["play_pairs"]) == (5, 3)
    assert snapshot.max_play_id == header["max_play_id"] > 0
    plays = snapshot.plays
    assert list(zip(plays.users.tolist(), plays.tracks.tolist(), strict=True)) == [
        (MEMBER, tracks[0]),
        (MEMBER, tracks[1]),
        (OTHER, tracks[2]),
    ]
    assert plays.plays.tolist() == [2, 1, 1]
    assert plays.skips.tolist() == [1, 0, 0]
    assert plays.total_ms.tolist() == [402_000, 0, 45_000]
    assert plays.last_played.tolist() == [
        int((T0 + timedelta(minutes=m)).timestamp()) for m in (2, 3, 9)
    ]
    assert len(snapshot) == 0  # feedback is its own part


async def test_a_snapshot_from_before_plays_still_reads(
    session: AsyncSession, tracks: list[str], tmp_path: Path
):
    await session.commit()
    await write_snapshot(session, tmp_path / "snap.npz")
    with np.load(tmp_path / "snap.npz") as data:
        old = {name: data[name] for name in data.files if not name.startswith("play_")}
    header = json.loads(str(old["header"]))
    for key in ("play_pairs", "play_rows", "max_play_id"):
        del header[key]
    old["header"] = np.asarray(json.dumps(header))
    np.savez(tmp_path / "old.npz", **old)

    snapshot = read_snapshot(tmp_path / "old.npz")
    assert (len(snapshot.plays), snapshot.max_play_id) == (0, 0)
    assert snapshot.catalog.ids == sorted(tracks)


# --- the migration ----------------------------------------------------------------------


async def test_migration_0004_down_and_up_with_data(database: Database, tmp_path: Path):
    rows = [kaggle_row(0, track_id(0), "Halo", "Beyoncé", "pop", popularity="90")]
    await import_catalog(database, [str(write_csv(tmp_path / "c.csv", KAGGLE_114K_HEADER, rows))])
    async with database.sessions() as session, session.begin():
        await add_tracks_outside_catalog(
            session, [OutsideTrack(OUTSIDE, "Zephyr Lullaby", ("Nova Quill",), None)]
        )
        await record_plays(session, MEMBER, [play(track_id(0)), play(OUTSIDE, 1)])
        await set_listening(session, MEMBER, True)

    await migrate.downgrade(database.engine, "0003")
    async with database.sessions() as session:
        # The old schema cannot hold a track without features: it goes, with its rows.
        assert [t.id for t in await search_tracks(session, "halo")] == [track_id(0)]
        assert await search_tracks(session, "zephyr") == []
        tracks = await session.execute(text("SELECT id FROM tracks"))
        assert tracks.scalars().all() == [track_id(0)]
        links = await session.execute(text("SELECT track_id FROM track_artists"))
        assert links.scalars().all() == [track_id(0)]
    with pytest.raises(IntegrityError):  # NOT NULL is back
        async with database.sessions() as session, session.begin():
            await session.execute(
                text(
                    "INSERT INTO tracks (id, name, artist_names, created_at, updated_at) "
                    "VALUES (:id, 'x', '[]', :t, :t)"
                ),
                {"id": OUTSIDE, "t": T0},
            )

    await migrate.upgrade(database.engine)
    assert await migrate.current_revision(database.engine) == migrate.head_revision()
    async with database.sessions() as session, session.begin():
        assert await count(session, Play) == 0
        # Search still follows the tracks table after the rebuild.
        await add_tracks_outside_catalog(
            session, [OutsideTrack(OUTSIDE, "Zephyr Lullaby", ("Nova Quill",), None)]
        )
        await session.execute(
            text("UPDATE tracks SET name = 'Halo Reprise' WHERE id = :id"), {"id": track_id(0)}
        )
    async with database.sessions() as session:
        assert [t.id for t in await search_tracks(session, "zephyr")] == [OUTSIDE]
        assert [t.name for t in await search_tracks(session, "halo")] == ["Halo Reprise"]
        with pytest.raises(IntegrityError):  # the other CHECKs survived the rebuild
            await session.execute(
                text(
                    "INSERT INTO tracks (id, name, artist_names, created_at, updated_at) "
                    "VALUES ('short', 'x', '[]', :t, :t)"
                ),
                {"t": T0},
            )
