"""`earworm catalog import`: parse every source, then upsert in one transaction.

Parsing finishes before the first write, so a bad file changes nothing; the write is one
transaction, so an import killed halfway leaves the previous catalog as it was.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection
from tqdm import tqdm

from storage import search_schema
from storage.catalog.formats import ParsedTrack, artist_key
from storage.catalog.parse import ParsedCatalog, parse_files
from storage.catalog.sources import download, expand_sources, is_url
from storage.database import Database
from storage.dialect import upsert_insert
from storage.dto import ImportSummary
from storage.models import Artist, Genre, Track, TrackArtist, TrackGenre, TrackPlaylist, utcnow

TIMESTAMPS = {"created_at", "updated_at"}
TRACK_COLUMNS = tuple(c.name for c in Track.__table__.columns if c.name not in TIMESTAMPS)
LOOKUP_CHUNK = 900
WRITE_CHUNK = 5_000
# Above this many changed tracks, refilling the search index in one pass beats triggers.
BULK_SEARCH_REFILL = 2_000


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def import_catalog(
    db: Database,
    sources: list[str],
    *,
    download_dir: Path | None = None,
    progress: bool | None = None,
) -> ImportSummary:
    """Import catalog files or URLs; returns what happened. Raises CatalogImportError."""
    started = time.perf_counter()
    expanded = expand_sources(sources)
    if download_dir is not None:
        await asyncio.to_thread(download_dir.mkdir, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=download_dir, prefix="catalog-") as scratch:
        paths = [
            await download(source, Path(scratch), progress=progress)
            if is_url(source)
            else Path(source)
            for source in expanded
        ]
        # CPU-bound parsing runs in a thread so a running bot's event loop stays free.
        parsed = await asyncio.to_thread(parse_files, paths)
    summary = ImportSummary(
        sources=expanded,
        formats=parsed.formats,
        rows_read=parsed.rows_read,
        tracks_in_file=len(parsed.tracks),
        rows_skipped=dict(parsed.skipped),
    )
    async with db.engine.begin() as connection:
        await _write(connection, parsed, summary, progress)
    summary.seconds = time.perf_counter() - started
    return summary


async def _existing_tracks(
    connection: AsyncConnection, ids: Sequence[str]
) -> dict[str, dict[str, object]]:
    table = Track.__table__
    columns = [table.c[name] for name in TRACK_COLUMNS]
    existing: dict[str, dict[str, object]] = {}
    for chunk in _chunks(ids, LOOKUP_CHUNK):
        result = await connection.execute(select(*columns).where(table.c.id.in_(chunk)))
        for row in result.mappings():
            existing[row["id"]] = dict(row)
    return existing


async def _existing_genres(connection: AsyncConnection, ids: Sequence[str]) -> dict[str, set[str]]:
    genres: dict[str, set[str]] = {}
    for chunk in _chunks(ids, LOOKUP_CHUNK):
        result = await connection.execute(
            select(TrackGenre.track_id, Genre.name)
            .join(Genre, Genre.id == TrackGenre.genre_id)
            .where(TrackGenre.track_id.in_(chunk))
        )
        for track_id, name in result:
            genres.setdefault(track_id, set()).add(name)
    return genres


def _row_for(track: ParsedTrack) -> dict[str, object]:
    return {**track.row, "artist_names": json.dumps(track.artists, ensure_ascii=False)}


async def _write(
    connection: AsyncConnection,
    parsed: ParsedCatalog,
    summary: ImportSummary,
    progress: bool | None,
) -> None:
    ids = list(parsed.tracks)
    existing = await _existing_tracks(connection, ids)
    existing_genres = await _existing_genres(connection, ids)

    now = utcnow()
    to_write: list[dict[str, object]] = []
    relinked: list[ParsedTrack] = []  # tracks whose artist list is new or changed
    new_genres: list[tuple[str, str]] = []
    for track_id, track in parsed.tracks.items():
        row = _row_for(track)
        old = existing.get(track_id)
        old_genres = existing_genres.get(track_id, set())
        added_genres = [genre for genre in track.genres if genre not in old_genres]
        new_genres.extend((track_id, genre) for genre in added_genres)
        if old is None:
            summary.tracks_inserted += 1
            to_write.append({**row, "created_at": now, "updated_at": now})
            relinked.append(track)
            continue
        # A source that lacks a column (no release dates, say) must not erase known values.
        merged = {column: old[column] if value is None else value for column, value in row.items()}
        if merged == old and not added_genres:
            summary.tracks_unchanged += 1
            continue
        summary.tracks_updated += 1
        if merged != old:
            to_write.append({**merged, "updated_at": now})
            if merged["artist_names"] != old["artist_names"]:
                relinked.append(track)

    with tqdm(
        total=len(to_write) + len(relinked) + len(new_genres),
        desc="import",
        unit="row",
        disable=None if progress is None else not progress,
        leave=False,
    ) as bar:
        bulk = len(to_write) > BULK_SEARCH_REFILL
        if bulk:
            await search_schema.pause_sync(connection)
        await _upsert_tracks(connection, to_write, bar)
        await _link_artists(connection, relinked, bar)
        await _link_genres(connection, new_genres, bar)
        await _link_playlists(connection, parsed, summary)
        if bulk:
            # SQLite rebuilds its whole index; PostgreSQL rewrites the written tracks only.
            await search_schema.refill_and_resume(connection, [str(row["id"]) for row in to_write])


async def _upsert_tracks(
    connection: AsyncConnection, rows: list[dict[str, object]], bar: tqdm
) -> None:
    if not rows:
        return
    table = Track.__table__
    statement = upsert_insert(connection.dialect, table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={
            name: statement.excluded[name]
            for name in (*TRACK_COLUMNS, "updated_at")
            if name != "id"
        },
    )
    # New rows carry created_at; updated ones don't, so they go as two batches.
    for has_created in (True, False):
        batch = [row for row in rows if ("created_at" in row) is has_created]
        for chunk in _chunks(batch, WRITE_CHUNK):
            await connection.execute(statement, list(chunk))
            bar.update(len(chunk))


async def _artist_ids(
    connection: AsyncConnection, wanted: dict[str, tuple[str, str | None]]
) -> dict[str, int]:
    """Ids of the artists keyed by name key, inserting the ones not yet known."""
    table = Artist.__table__
    rows = [
        {"name": name, "name_key": key, "spotify_id": spotify_id}
        for key, (name, spotify_id) in wanted.items()
    ]
    insert = upsert_insert(connection.dialect, table).on_conflict_do_nothing()
    for chunk in _chunks(rows, WRITE_CHUNK):
        await connection.execute(insert, list(chunk))
    ids: dict[str, int] = {}
    keys = list(wanted)
    for chunk in _chunks(keys, LOOKUP_CHUNK):
        result = await connection.execute(
            select(table.c.name_key, table.c.id).where(table.c.name_key.in_(chunk))
        )
        ids.update(dict(result.all()))
    # A Spotify artist id already stored under another name: reuse that artist.
    by_spotify = {
        spotify_id: key for key, (_, spotify_id) in wanted.items() if key not in ids and spotify_id
    }
    for chunk in _chunks(list(by_spotify), LOOKUP_CHUNK):
        result = await connection.execute(
            select(table.c.spotify_id, table.c.id).where(table.c.spotify_id.in_(chunk))
        )
        for spotify_id, artist_id in result:
            ids[by_spotify[spotify_id]] = artist_id
    return ids


async def _link_artists(connection: AsyncConnection, tracks: list[ParsedTrack], bar: tqdm) -> None:
    if not tracks:
        return
    wanted: dict[str, tuple[str, str | None]] = {}
    for track in tracks:
        for name, spotify_id in zip(track.artists, track.artist_ids, strict=True):
            wanted.setdefault(artist_key(name), (name, spotify_id))
    ids = await _artist_ids(connection, wanted)
    track_ids = [str(track.row["id"]) for track in tracks]
    for chunk in _chunks(track_ids, LOOKUP_CHUNK):
        await connection.execute(delete(TrackArtist).where(TrackArtist.track_id.in_(chunk)))
    links = [
        {"track_id": str(track.row["id"]), "position": position, "artist_id": ids[key]}
        for track in tracks
        for position, key in enumerate(_unique_keys(track.artists))
    ]
    for chunk in _chunks(links, WRITE_CHUNK):
        await connection.execute(TrackArtist.__table__.insert(), list(chunk))
    bar.update(len(tracks))


def _unique_keys(names: Iterable[str]) -> list[str]:
    keys: list[str] = []
    for name in names:
        key = artist_key(name)
        if key not in keys:
            keys.append(key)
    return keys


async def _link_genres(
    connection: AsyncConnection, pairs: list[tuple[str, str]], bar: tqdm
) -> None:
    if not pairs:
        return
    table = Genre.__table__
    names = sorted({genre for _, genre in pairs})
    insert = upsert_insert(connection.dialect, table).on_conflict_do_nothing()
    await connection.execute(insert, [{"name": name} for name in names])
    ids: dict[str, int] = {}
    for chunk in _chunks(names, LOOKUP_CHUNK):
        result = await connection.execute(
            select(table.c.name, table.c.id).where(table.c.name.in_(chunk))
        )
        ids.update(dict(result.all()))
    links = [{"track_id": track_id, "genre_id": ids[genre]} for track_id, genre in pairs]
    link_insert = upsert_insert(connection.dialect, TrackGenre.__table__).on_conflict_do_nothing()
    for chunk in _chunks(links, WRITE_CHUNK):
        await connection.execute(link_insert, list(chunk))
        bar.update(len(chunk))


async def _existing_playlist_links(
    connection: AsyncConnection, ids: Sequence[str]
) -> set[tuple[str, str]]:
    links: set[tuple[str, str]] = set()
    table = TrackPlaylist.__table__
    for chunk in _chunks(ids, LOOKUP_CHUNK):
        result = await connection.execute(
            select(table.c.track_id, table.c.playlist_id).where(table.c.track_id.in_(chunk))
        )
        links.update((track_id, playlist_id) for track_id, playlist_id in result)
    return links


async def _link_playlists(
    connection: AsyncConnection, parsed: ParsedCatalog, summary: ImportSummary
) -> None:
    """Each track's public playlists (the files' playlist_id), once per (track, playlist):
    importing the same files again adds nothing, a file with more playlists adds those."""
    wanted = [
        (track_id, playlist)
        for track_id, track in parsed.tracks.items()
        for playlist in track.playlists
    ]
    summary.playlist_links = len(wanted)
    if not wanted:
        return
    existing = await _existing_playlist_links(connection, sorted({t for t, _ in wanted}))
    new = [
        {"track_id": track_id, "playlist_id": playlist}
        for track_id, playlist in wanted
        if (track_id, playlist) not in existing
    ]
    insert = upsert_insert(connection.dialect, TrackPlaylist.__table__).on_conflict_do_nothing()
    for chunk in _chunks(new, WRITE_CHUNK):
        await connection.execute(insert, list(chunk))
    summary.playlist_links_added = len(new)
