"""Importing histories: matching by Spotify id and by title and artist, tracks outside the
catalog, one transaction, idempotency; end to end from real playlists and from Last.fm."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.catalog.importer import import_catalog
from storage.database import Database
from storage.history.lastfm import LastfmClient
from storage.history.match import match_plays, title_key
from storage.history.parsed import ParsedHistory, ParsedPlay
from storage.history.service import import_history
from storage.history.spotify_export import parse_spotify_export
from storage.models import Play, PlaySource, Track, User
from storage.repositories.plays import play_counts_for_user
from storage.repositories.tracks import get_tracks, search_tracks
from tests.conftest import SPOTIFY_CATALOG, require_shared
from tests.factories import KAGGLE_114K_HEADER, kaggle_row, track_id, write_csv
from tests.fakes.lastfm_server import FakeLastfm
from tests.fixtures_history import (
    account_history,
    export_zip,
    read_playlists,
    simulate_listening,
    tracks_csv,
)

MEMBER = 123_456_789_012_345_678
OTHER = 223_456_789_012_345_678
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
UNKNOWN = "0utsideTrack0000000001"
HALO, HALO_LIVE, DONT_STOP, SENORITA, LIGHTS, LIGHTS_COVER, HALO_WEMBLEY = (
    track_id(n) for n in range(7)
)


@pytest.fixture
async def catalog(database: Database, tmp_path: Path) -> Database:
    rows = [
        kaggle_row(0, HALO, "Halo", "Beyoncé", "pop", popularity="90"),
        kaggle_row(1, HALO_LIVE, "Halo - Live", "Beyoncé", "pop", popularity="40"),
        kaggle_row(2, DONT_STOP, "Don't Stop Me Now", "Queen", "rock", popularity="88"),
        kaggle_row(3, SENORITA, "Señorita", "Shawn Mendes;Camila Cabello", "latin"),
        kaggle_row(4, LIGHTS, "Blinding Lights", "The Weeknd", "synth-pop", popularity="95"),
        kaggle_row(5, LIGHTS_COVER, "Blinding Lights", "Nobody Famous", "synth-pop"),
        kaggle_row(
            6, HALO_WEMBLEY, "Halo", "Beyoncé", "pop", popularity="20", album_name="Live at Wembley"
        ),
    ]
    await import_catalog(database, [str(write_csv(tmp_path / "c.csv", KAGGLE_114K_HEADER, rows))])
    return database


def parsed(
    title: str,
    artist: str,
    *,
    spotify_id: str | None = None,
    album: str | None = None,
    minutes: int = 0,
    ms: int | None = 200_000,
) -> ParsedPlay:
    return ParsedPlay(
        spotify_id=spotify_id,
        title=title,
        artist=artist,
        album=album,
        played_at=T0 + timedelta(minutes=minutes),
        ms_played=ms,
        skipped=None,
    )


def history(*plays: ParsedPlay) -> ParsedHistory:
    return ParsedHistory(format="test", plays=list(plays), rows_read=len(plays))


async def count(session: AsyncSession, model: type) -> int:
    return await session.scalar(select(func.count()).select_from(model)) or 0


# --- matching ---------------------------------------------------------------------------


def test_titles_fold_like_search_and_further() -> None:
    assert title_key("Don't Stop Me Now") == title_key("dont stop me now") == "dont stop me now"
    assert title_key("Don’t Stop Me Now!") == "dont stop me now"
    assert title_key("Señorita") == title_key("SENORITA") == "senorita"
    assert title_key("Halo - Live") != title_key("Halo")
    assert title_key("東京フラッシュ") == "東京フラッシュ"


@pytest.mark.parametrize(
    ("title", "artist", "album", "expected"),
    [
        ("Halo", "Beyoncé", None, HALO),  # the more popular of the two Halos
        ("Halo", "Beyoncé", "Live at Wembley", HALO_WEMBLEY),  # the play's album wins
        ("Halo", "BEYONCÉ", "Some Other Album", HALO),
        ("Halo - Live", "Beyoncé", None, HALO_LIVE),
        ("dont stop me now", "queen", None, DONT_STOP),
        ("Senorita", "Shawn Mendes", None, SENORITA),
        ("Señorita", "Camila Cabello", None, SENORITA),  # a featured artist matches too
        ("Blinding Lights", "Nobody Famous", None, LIGHTS_COVER),  # the artist decides
        ("Blinding   Lights", "The  Weeknd", None, LIGHTS),
    ],
)
async def test_plays_without_an_id_match_by_title_and_artist(
    catalog: Database, title: str, artist: str, album: str | None, expected: str
) -> None:
    async with catalog.sessions() as session:
        result = await match_plays(session, [parsed(title, artist, album=album)])
    assert [p.track_id for p in result.plays] == [expected]
    assert (result.by_name, result.by_id) == (1, 0)


async def test_what_matches_nothing_is_counted_by_reason(catalog: Database) -> None:
    plays = [
        parsed("Halo", "Beyoncé", spotify_id=HALO),
        parsed("Wrong Title Here", "Beyoncé", spotify_id=DONT_STOP),  # the id decides
        parsed("Zephyr Lullaby", "Nova Quill", spotify_id=UNKNOWN, album="Night Songs"),
        parsed("Zephyr Lullaby", "Nova Quill", spotify_id=UNKNOWN, minutes=5),
        parsed("", "", spotify_id="0utsideTrack0000000002"),
        parsed("Not A Song We Have", "Queen"),
        parsed("Halo", "An Artist Nobody Knows"),
    ]
    async with catalog.sessions() as session:
        result = await match_plays(session, plays)
    assert [p.track_id for p in result.plays] == [HALO, DONT_STOP, UNKNOWN, UNKNOWN]
    assert (result.by_id, result.by_name, result.outside_plays) == (2, 0, 2)
    assert list(result.outside) == [UNKNOWN]
    outside = result.outside[UNKNOWN]
    assert (outside.name, outside.artists, outside.album) == (
        "Zephyr Lullaby",
        ("Nova Quill",),
        "Night Songs",
    )
    assert dict(result.unmatched) == {"no_metadata": 1, "not_in_catalog": 2}


async def test_matching_prefers_catalog_tracks_to_ones_outside_it(catalog: Database) -> None:
    async with catalog.sessions() as session, session.begin():
        await import_history(
            session,
            MEMBER,
            history(parsed("Don't Stop Me Now", "Queen", spotify_id=UNKNOWN, album="Remaster")),
            PlaySource.SPOTIFY_EXPORT,
        )
    async with catalog.sessions() as session:
        result = await match_plays(session, [parsed("Don't Stop Me Now", "Queen")])
        assert [p.track_id for p in result.plays] == [DONT_STOP]
        # ... unless the play names its album: then the track of that album.
        result = await match_plays(
            session, [parsed("Don't Stop Me Now", "Queen", album="Remaster")]
        )
        assert [p.track_id for p in result.plays] == [UNKNOWN]


# --- the import service -----------------------------------------------------------------


async def test_an_import_stores_adds_and_counts(catalog: Database) -> None:
    plays = history(
        parsed("Halo", "Beyoncé", spotify_id=HALO, minutes=0),
        parsed("dont stop me now", "Queen", minutes=1),
        parsed("Zephyr Lullaby", "Nova Quill", spotify_id=UNKNOWN, album="Night Songs", minutes=2),
        parsed("Nothing", "Nobody", minutes=3),
        parsed("Halo", "Beyoncé", spotify_id=HALO, minutes=4, ms=-5),
    )
    plays.skipped["podcast"] = 2
    async with catalog.sessions() as session, session.begin():
        summary = await import_history(session, MEMBER, plays, PlaySource.SPOTIFY_EXPORT)
    report = summary.to_json()
    assert {
        key: report[key] for key in ("plays", "matched", "unmatched", "new", "tracks_added")
    } == {
        "plays": 5,
        "matched": 4,
        "unmatched": 1,
        "new": 3,
        "tracks_added": 1,
    }
    assert report["skipped"] == {"negative_ms": 1, "podcast": 2}
    assert report["unmatched_reasons"] == {"not_in_catalog": 1}
    assert (report["matched_by_id"], report["matched_by_name"], report["outside_catalog"]) == (
        2,
        1,
        1,
    )

    async with catalog.sessions() as session:
        assert [t.id for t in await search_tracks(session, "zephyr")] == [UNKNOWN]
        counts = {c.track_id: c.plays for c in await play_counts_for_user(session, MEMBER)}
        assert counts == {HALO: 1, DONT_STOP: 1, UNKNOWN: 1}

    async with catalog.sessions() as session, session.begin():
        again = await import_history(session, MEMBER, plays, PlaySource.SPOTIFY_EXPORT)
    assert (again.new, again.already_stored, again.tracks_added) == (0, 3, 0)


async def test_a_failed_import_leaves_nothing_behind(catalog: Database) -> None:
    """The database refuses the plays after the outside track and the member were written:
    the transaction takes all of it back."""
    async with catalog.engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            await connection.exec_driver_sql(
                "CREATE TRIGGER refuse_plays BEFORE INSERT ON plays "
                "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
            )
        else:
            await connection.exec_driver_sql(
                "CREATE FUNCTION refuse_plays() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$"
            )
            await connection.exec_driver_sql(
                "CREATE TRIGGER refuse_plays BEFORE INSERT ON plays "
                "FOR EACH ROW EXECUTE FUNCTION refuse_plays()"
            )
    plays = history(
        parsed("Halo", "Beyoncé", spotify_id=HALO),
        parsed("Zephyr Lullaby", "Nova Quill", spotify_id=UNKNOWN, minutes=2),
    )
    with pytest.raises(Exception, match="disk on fire"):
        async with catalog.sessions() as session, session.begin():
            await import_history(session, MEMBER, plays, PlaySource.SPOTIFY_EXPORT)
    async with catalog.sessions() as session:
        assert await count(session, Play) == 0
        assert await count(session, User) == 0
        assert await session.get(Track, UNKNOWN) is None
        assert await search_tracks(session, "zephyr") == []
        leftover = await session.execute(
            text("SELECT count(*) FROM track_artists WHERE track_id = :id"), {"id": UNKNOWN}
        )
        assert leftover.scalar() == 0


async def test_bad_arguments_are_refused_before_any_write(catalog: Database) -> None:
    async with catalog.sessions() as session:
        with pytest.raises(ValueError, match="user id"):
            await import_history(session, 0, history(), PlaySource.LASTFM)
        with pytest.raises(ValueError, match="radio"):
            await import_history(session, MEMBER, history(), "radio")  # type: ignore[arg-type]
        assert await count(session, User) == 0


# --- end to end -------------------------------------------------------------------------


@pytest.fixture
def lastfm() -> Iterator[FakeLastfm]:
    with FakeLastfm() as fake:
        yield fake


async def test_last_fm_scrobbles_import_as_heard_plays(
    catalog: Database, lastfm: FakeLastfm
) -> None:
    start = int(T0.timestamp())
    lastfm.add_scrobbles(
        "rj",
        [("Halo", "Beyoncé", "I AM...SASHA FIERCE", start + 60 * n) for n in range(3)]
        + [("Don’t Stop Me Now", "Queen", "Jazz", start + 1_000), ("Obscure", "Nobody", "", start)],
    )
    parsed_history = await LastfmClient(lastfm.api_key, base_url=lastfm.url).recent_tracks("rj")
    async with catalog.sessions() as session, session.begin():
        summary = await import_history(session, MEMBER, parsed_history, PlaySource.LASTFM)
    assert (summary.plays, summary.matched_by_name, summary.unmatched, summary.new) == (5, 4, 1, 4)
    async with catalog.sessions() as session:
        counts = {
            c.track_id: (c.plays, c.total_ms) for c in await play_counts_for_user(session, MEMBER)
        }
    assert counts == {HALO: (3, 0), DONT_STOP: (1, 0)}  # a scrobble is a heard play


async def test_a_real_export_imports_matches_and_adds_the_rest(
    database: Database, tmp_path: Path
) -> None:
    """Two real playlists: the first's tracks are the catalog, the second's are not."""
    playlists = read_playlists(require_shared(SPOTIFY_CATALOG))
    first, second = playlists.largest(2)
    inside = playlists.by_id[first]
    inside_ids = {t.id for t in inside}
    outside = [t for t in playlists.by_id[second] if t.id not in inside_ids]
    path = tmp_path / "catalog.csv"
    path.write_text(tracks_csv(playlists.header, inside), encoding="utf-8")
    await import_catalog(database, [str(path)])
    listens = simulate_listening(inside + outside, seed=11, count=2_000)

    # The account data first, for another member: no ids, so titles and artists.
    account = parse_spotify_export(account_history(listens))
    async with database.sessions() as session, session.begin():
        by_name = await import_history(session, OTHER, account, PlaySource.SPOTIFY_EXPORT)
    outside_names = {(t.name, t.artist) for t in outside} - {(t.name, t.artist) for t in inside}
    expected_unmatched = sum(1 for p in account.plays if (p.title, p.artist) in outside_names)
    assert by_name.unmatched == expected_unmatched > 0
    assert by_name.matched_by_name == len(account.plays) - expected_unmatched
    async with database.sessions() as session:
        counted = await play_counts_for_user(session, OTHER)
    assert {c.track_id for c in counted} <= inside_ids  # all of them catalog tracks

    # Then the whole export, with ids: the second playlist's tracks join the catalog.
    export = parse_spotify_export(export_zip(listens))
    played_outside = {p.spotify_id for p in export.plays} - inside_ids
    async with database.sessions() as session, session.begin():
        summary = await import_history(session, MEMBER, export, PlaySource.SPOTIFY_EXPORT)
    assert summary.new == len(export.plays) == summary.matched
    assert summary.tracks_added == len(played_outside) > 0
    assert summary.outside_catalog == sum(1 for p in export.plays if p.spotify_id in played_outside)
    assert summary.skipped["podcast"] == sum(1 for listen in listens if listen.track is None)

    example = next(t for t in outside if t.id in played_outside)
    async with database.sessions() as session:
        assert [t.id for t in await get_tracks(session, [example.id])] == [example.id]
        found = await search_tracks(session, f"{example.name} {example.artist}", limit=25)
        assert example.id in [t.id for t in found]

    async with database.sessions() as session, session.begin():
        again = await import_history(session, MEMBER, export, PlaySource.SPOTIFY_EXPORT)
    assert (again.new, again.tracks_added) == (0, 0)
