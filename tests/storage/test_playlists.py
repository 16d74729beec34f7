"""The catalog's public playlists (table `track_playlists`, migration 0005): kept by the
import, once per (track, playlist); read for training and serving; held out on request;
carried by snapshots with the catalog's release dates."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from storage import migrate
from storage.catalog.importer import import_catalog
from storage.database import Database
from storage.repositories.playlists import (
    count_playlist_links,
    playlist_rows,
    remove_playlists,
)
from storage.repositories.snapshots import catalog_rows
from storage.snapshot import read_snapshot, write_snapshot
from tests.factories import (
    KAGGLE_114K_HEADER,
    TIDY_HEADER,
    kaggle_row,
    tidy_row,
    track_id,
    write_csv,
)

P1, P2, P3 = "Playlist00000000000001", "Playlist00000000000002", "Playlist00000000000003"


def playlist_file(path: Path, rows: list[tuple[int, str]]) -> Path:
    """TidyTuesday rows: (track number, playlist id); the same track may repeat."""
    return write_csv(
        path,
        TIDY_HEADER,
        [
            tidy_row(track_id(n), f"Song {n}", f"Band {n}", "pop", "indie", playlist_id=playlist)
            for n, playlist in rows
        ],
    )


async def rows_of(database: Database) -> list[tuple[str, str]]:
    async with database.sessions() as session:
        found = await playlist_rows(session)
    return list(zip(found.tracks, found.playlists, strict=True))


async def test_the_import_keeps_each_tracks_playlists_once(database: Database, tmp_path: Path):
    first = playlist_file(tmp_path / "a.csv", [(1, P1), (2, P1), (1, P2), (1, P2), (3, "NA")])
    summary = await import_catalog(database, [str(first)])

    assert summary.playlist_links == 3  # (1, P1), (2, P1), (1, P2); "NA" is no playlist
    assert summary.playlist_links_added == 3
    assert await rows_of(database) == [(track_id(1), P1), (track_id(2), P1), (track_id(1), P2)]
    assert summary.to_json()["playlist_links_added"] == 3

    again = await import_catalog(database, [str(first)])  # idempotent
    assert again.playlist_links_added == 0
    assert again.tracks_unchanged == 3
    more = playlist_file(tmp_path / "b.csv", [(2, P3), (4, P3)])
    added = await import_catalog(database, [str(more)])
    assert added.playlist_links_added == 2
    async with database.sessions() as session:
        assert await count_playlist_links(session) == 5
        assert (await playlist_rows(session)).playlist_count == 3


async def test_a_file_without_playlists_adds_none(database: Database, tmp_path: Path):
    kaggle = write_csv(
        tmp_path / "k.csv", KAGGLE_114K_HEADER, [kaggle_row(0, track_id(0), "Halo", "B", "pop")]
    )
    summary = await import_catalog(database, [str(kaggle)])

    assert summary.playlist_links == 0
    assert await rows_of(database) == []


async def test_playlists_can_be_held_out(database: Database, tmp_path: Path):
    rows = [(n, P1) for n in range(3)] + [(n, P2) for n in range(2, 5)] + [(5, P3)]
    await import_catalog(database, [str(playlist_file(tmp_path / "a.csv", rows))])

    async with database.sessions() as session:
        removed = await remove_playlists(session, [P1, P3, "NoSuchPlaylist"])
        await session.commit()
    assert removed == 4
    assert {playlist for _, playlist in await rows_of(database)} == {P2}


async def test_a_deleted_track_leaves_no_playlist_row(database: Database, tmp_path: Path):
    await import_catalog(database, [str(playlist_file(tmp_path / "a.csv", [(1, P1), (2, P1)]))])
    async with database.sessions() as session:
        await session.execute(text("DELETE FROM tracks WHERE id = :id"), {"id": track_id(1)})
        await session.commit()

    assert await rows_of(database) == [(track_id(2), P1)]


async def test_snapshots_carry_playlists_and_release_dates(database: Database, tmp_path: Path):
    rows = [
        tidy_row(track_id(1), "Old", "Band", "rock", "album rock", playlist_id=P1,
                 track_album_release_date="1975-10-31"),
        tidy_row(track_id(2), "Undated", "Band", "rock", "album rock", playlist_id=P1,
                 track_album_release_date=""),
        tidy_row(track_id(3), "New", "Band", "pop", "indie", playlist_id=P2,
                 track_album_release_date="2019"),
    ]  # fmt: skip
    await import_catalog(database, [str(write_csv(tmp_path / "a.csv", TIDY_HEADER, rows))])

    async with database.sessions() as session:
        live = await catalog_rows(session)
        header = await write_snapshot(session, tmp_path / "snap.npz")
    snapshot = read_snapshot(tmp_path / "snap.npz")

    assert live.release_dates == ["1975-10-31", None, "2019"]
    assert snapshot.catalog.release_dates == live.release_dates
    assert header["playlist_rows"] == 3
    assert sorted(zip(snapshot.playlists.tracks, snapshot.playlists.playlists, strict=True)) == [
        (track_id(1), P1),
        (track_id(2), P1),
        (track_id(3), P2),
    ]


@pytest.mark.sqlite_only("migrates a file down and up; the PostgreSQL pass checks its head")
async def test_migration_0005_down_and_up(database: Database, tmp_path: Path):
    await import_catalog(database, [str(playlist_file(tmp_path / "a.csv", [(1, P1)]))])

    await migrate.downgrade(database.engine, "0004")
    async with database.sessions() as session:
        tables = await session.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'track_playlists'")
        )
        assert tables.all() == []
    await migrate.upgrade(database.engine)
    assert await rows_of(database) == []  # the import fills it again
    await import_catalog(database, [str(playlist_file(tmp_path / "a.csv", [(1, P1)]))])
    assert await rows_of(database) == [(track_id(1), P1)]
