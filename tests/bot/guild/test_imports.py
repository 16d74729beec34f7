"""/import spotify and /import lastfm through SimCord: real Spotify exports built from real
playlists (tests/fixtures_history.py), uploaded as a member would; a local fake Last.fm.

The catalog here is two real playlists minus a few of their tracks, which the exports name
anyway: those become tracks outside the catalog (by id) or stay unmatched (by name)."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from simcord.results import InteractionResult
from sqlalchemy import func, select

from bot.app import EarwormBot, create_bot
from bot.settings import load_settings
from storage.catalog.importer import import_catalog
from storage.database import open_database
from storage.models import Play, PlaySource, Track
from tests.bot.guild.conftest import Server
from tests.bot.guild.reads import served
from tests.cli import database_url_in
from tests.conftest import SPOTIFY_CATALOG, require_shared
from tests.fakes.lastfm_server import FakeLastfm
from tests.fixtures_history import (
    Listen,
    Playlists,
    PlaylistTrack,
    account_history,
    export_zip,
    extended_history,
    read_playlists,
    simulate_listening,
    tracks_csv,
)

LISTENS = 400
EXTENDED_NAME = "Streaming_History_Audio_2019-2020_0.json"
ACCOUNT_NAME = "StreamingHistory_music_0.json"
MB = 1024 * 1024


@cache
def playlists() -> Playlists:
    return read_playlists(require_shared(SPOTIFY_CATALOG))


@dataclass(frozen=True)
class World:
    inside: list[PlaylistTrack]  # in the catalog
    outside: list[PlaylistTrack]  # played, not in the catalog
    listens: list[Listen]

    @property
    def inside_ids(self) -> set[str]:
        return {track.id for track in self.inside}

    def track_listens(self) -> list[Listen]:
        return [listen for listen in self.listens if listen.track is not None]


@cache
def world() -> World:
    lists = playlists()
    first, second = lists.largest(2)
    tracks = list({t.id: t for pid in (first, second) for t in lists.by_id[pid]}.values())
    outside = tracks[::10]  # every tenth track is left out of the catalog
    left_out = {t.id for t in outside}
    inside = [t for t in tracks if t.id not in left_out]
    return World(inside, outside, simulate_listening(tracks, seed=3, count=LISTENS))


@pytest.fixture
def imported(env: dict[str, str], tmp_path: Path) -> Path:
    """A data directory whose catalog is the world's `inside` tracks (real rows)."""
    data_dir = Path(env["EARWORM_DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "catalog.csv"
    path.write_text(tracks_csv(playlists().header, world().inside), encoding="utf-8")

    async def load() -> None:
        database = await open_database(database_url_in(data_dir))
        try:
            await import_catalog(database, [str(path)])
        finally:
            await database.close()

    asyncio.run(load())
    return data_dir


@pytest.fixture
def bot_settings() -> dict[str, str]:
    """Settings the bot starts with (a test parametrizes this to change them)."""
    return {}


@pytest.fixture
def simcord_bot(
    imported: Path, bot_settings: dict[str, str], request: pytest.FixtureRequest
) -> EarwormBot:
    settings = dict(bot_settings)
    if "lastfm" in request.fixturenames:  # the test talks to the fake Last.fm
        fake: FakeLastfm = request.getfixturevalue("lastfm")
        settings.update(LASTFM_API_KEY=fake.api_key, LASTFM_API_URL=fake.url, LASTFM_TIMEOUT="1")
    return create_bot(load_settings(EARWORM_DATA_DIR=str(imported), **settings))


@pytest.fixture
def lastfm() -> Iterator[FakeLastfm]:
    with FakeLastfm() as fake:
        yield fake


def thought_privately(server: Server) -> bool:
    """Whether the bot's last interaction answer began with a private "thinking…"."""
    callbacks = [
        request.json
        for request in server.env.http_requests
        if request.method == "POST" and request.path.endswith("/callback")
    ]
    return bool(callbacks) and callbacks[-1] == {"type": 5, "data": {"flags": 64}}


def answer(result: InteractionResult) -> str:
    assert result.response is not None
    assert result.response.ephemeral
    return result.response.content


async def plays_of(server: Server, user_id: int) -> list[tuple[str, datetime, str]]:
    async with server.bot.database.sessions() as session:
        rows = await session.execute(
            select(Play.track_id, Play.played_at, Play.source).where(Play.user_id == user_id)
        )
        return [(row.track_id, row.played_at, row.source.value) for row in rows]


async def count(server: Server, model: type, *where: Any) -> int:
    async with server.bot.database.sessions() as session:
        statement = select(func.count()).select_from(model)
        for condition in where:
            statement = statement.where(condition)
        return await session.scalar(statement) or 0


# --- Spotify exports ------------------------------------------------------------------


async def test_an_extended_history_is_imported_privately_with_a_summary(server: Server) -> None:
    listens = world().listens
    tracks = world().track_listens()
    played_outside = {listen.track.id for listen in tracks} - world().inside_ids  # type: ignore[union-attr]

    result = await server.alice.slash(
        server.channel, "import spotify", file=(EXTENDED_NAME, extended_history(listens))
    )

    assert thought_privately(server)
    text = answer(result)
    assert text.startswith("**Spotify history imported** (extended streaming history).")
    assert f"**{len(tracks):,}** of {len(tracks):,} plays matched songs" in text
    assert f"({len(played_outside)} songs new to me, added without sound details)" in text
    assert f"💾 **{len(tracks):,}** new plays stored." in text
    podcasts = len(listens) - len(tracks)
    assert f"⏩ Skipped {podcasts} podcast episodes." in text
    assert "`/recommend`" in text
    assert server.channel.history(viewer=server.bob) == []  # nobody else saw a thing

    stored = await plays_of(server, server.alice.id)
    assert len(stored) == len(tracks)
    assert {source for *_, source in stored} == {PlaySource.SPOTIFY_EXPORT.value}
    assert sorted(t for t, *_ in stored) == sorted(listen.track.id for listen in tracks)  # type: ignore[union-attr]
    # The tracks outside the catalog were added, without audio features.
    added = await count(server, Track, Track.id.in_(played_outside), Track.danceability.is_(None))
    assert added == len(played_outside) > 0


async def test_importing_the_same_history_again_stores_nothing_new(server: Server) -> None:
    upload = (EXTENDED_NAME, extended_history(world().listens))
    await server.alice.slash(server.channel, "import spotify", file=upload)
    before = await count(server, Play)
    tracks = await count(server, Track)

    again = answer(await server.alice.slash(server.channel, "import spotify", file=upload))

    assert "💾 Nothing new: every play was already here from an earlier import." in again
    assert "new plays stored" not in again
    assert (await count(server, Play), await count(server, Track)) == (before, tracks)


async def test_an_account_data_zip_matches_by_title_and_artist(server: Server) -> None:
    listens = world().listens
    inside_names = {(t.name, t.artist) for t in world().inside}
    outside_only = {(t.name, t.artist) for t in world().outside} - inside_names
    unmatched = sum(
        1
        for listen in world().track_listens()
        if (listen.track.name, listen.track.artist) in outside_only  # type: ignore[union-attr]
    )
    upload = ("my_spotify_data.zip", export_zip(listens, extended=False))

    text = answer(await server.bob.slash(server.channel, "import spotify", file=upload))

    assert text.startswith("**Spotify history imported** (account data streaming history")
    assert f"❔ {unmatched} plays matched no song I know." in text
    stored = await plays_of(server, server.bob.id)
    assert 0 < len(stored) <= len(world().track_listens()) - unmatched
    assert {track for track, *_ in stored} <= world().inside_ids  # only catalog tracks
    assert await count(server, Track, Track.danceability.is_(None)) == 0  # nothing added


async def test_a_full_export_zip_reads_the_extended_history_only(server: Server) -> None:
    upload = ("my_spotify_data.zip", export_zip(world().listens))

    text = answer(await server.alice.slash(server.channel, "import spotify", file=upload))

    assert "(extended streaming history)" in text
    # Both histories are in the zip; counting the account data too would double every play.
    assert len(await plays_of(server, server.alice.id)) == len(world().track_listens())


async def test_an_account_data_file_imports_in_a_dm(server: Server) -> None:
    alice = server.alice.user
    listens = world().listens[:50]
    inside_names = {(t.name, t.artist) for t in world().inside}
    matched = [
        listen
        for listen in listens
        if listen.track is not None and (listen.track.name, listen.track.artist) in inside_names
    ]

    result = await alice.slash("import spotify", file=(ACCOUNT_NAME, account_history(listens)))

    text = answer(result)
    assert result.response is not None
    assert result.response.channel_id == alice.dm_channel.id
    assert "(account data streaming history (the last year))" in text
    stored = await plays_of(server, alice.id)
    assert len(stored) == len(matched) > 0
    assert {track for track, *_ in stored} <= world().inside_ids


async def test_a_history_without_song_plays_says_so(server: Server) -> None:
    text = answer(
        await server.alice.slash(
            server.channel, "import spotify", file=(EXTENDED_NAME, extended_history([]))
        )
    )

    assert "I found no song plays in it." in text
    assert await count(server, Play) == 0


def bad_rows() -> bytes:
    """Two good plays, one dated in 2100, one that lasted a year, one negative."""
    good = json.loads(extended_history(world().listens[:40]))
    good = [row for row in good if row["spotify_track_uri"]][:2]
    future = {**good[0], "ts": "2100-01-01T00:00:00Z"}
    endless = {**good[1], "ts": "2019-05-05T10:00:00Z", "ms_played": 365 * 24 * 3600 * 1000}
    negative = {**good[1], "ts": "2019-05-06T10:00:00Z", "ms_played": -5}
    return json.dumps([*good, future, endless, negative]).encode()


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@cache
def zip_bomb() -> bytes:
    """301 MB of zeros that zip to a few hundred KB, under a history file's name."""
    buffer = io.BytesIO()
    name = f"Spotify Extended Streaming History/{EXTENDED_NAME}"
    with (
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open(name, "w") as member,
    ):
        block = b" " * MB
        for _ in range(301):
            member.write(block)
    return buffer.getvalue()


async def test_rows_that_cannot_be_plays_are_counted_as_skipped(server: Server) -> None:
    text = answer(
        await server.alice.slash(server.channel, "import spotify", file=(EXTENDED_NAME, bad_rows()))
    )

    assert "💾 **2** new plays stored." in text
    assert (
        "⏩ Skipped 1 play longer than a day, 1 play dated in the future, "
        "1 play of negative length." in text
    )
    assert len(await plays_of(server, server.alice.id)) == 2


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("history.json", b"hello, this is not json", "The file is not JSON (nor a zip)."),
        ("history.json", b'{"tracks": []}', "The file is JSON, but not a Spotify streaming"),
        ("history.json", b'[{"song": "Halo"}]', "The file is JSON, but not a Spotify streaming"),
        (
            "my_spotify_data.zip",
            zip_of({"Userdata.json": b"{}", "ReadMe.pdf": b"%PDF"}),
            "The zip holds no Spotify streaming history",
        ),
        ("my_spotify_data.zip", b"PK\x03\x04 damaged", "The zip file is damaged"),
        ("my_spotify_data.zip", None, "unpack to more than 300 MB"),
    ],
    ids=["not-json", "json-object", "json-rows", "zip-of-other-files", "damaged-zip", "zip-bomb"],
)
async def test_a_bad_upload_gets_one_short_clear_message(
    server: Server, name: str, data: bytes | None, message: str
) -> None:
    upload = (name, zip_bomb() if data is None else data)

    text = answer(await server.alice.slash(server.channel, "import spotify", file=upload))

    assert message in text
    assert len(text) < 400
    assert "Upload the Spotify privacy export" in text or "zip" in text
    server.expect_user_errors(1)
    assert (
        await count(server, Play),
        await count(server, Track, Track.danceability.is_(None)),
    ) == (
        0,
        0,
    )


async def test_an_empty_file_is_refused_at_once(server: Server) -> None:
    result = await server.alice.slash(server.channel, "import spotify", file=(EXTENDED_NAME, b""))

    assert not thought_privately(server)  # answered before any work
    assert answer(result).startswith("That file is empty. Get it from Spotify:")
    server.expect_user_errors(1)


@pytest.mark.parametrize("bot_settings", [{"EARWORM_IMPORT_MAX_BYTES": "4096"}])
async def test_a_file_over_the_limit_is_refused_before_it_is_read(server: Server) -> None:
    upload = (EXTENDED_NAME, extended_history(world().listens))
    assert len(upload[1]) > 4096

    result = await server.alice.slash(server.channel, "import spotify", file=upload)

    assert not thought_privately(server)
    text = answer(result)
    assert f"That file is {round(len(upload[1]) / 1024)} KB; I read at most 4 KB." in text
    server.expect_user_errors(1)
    assert await count(server, Play) == 0


# --- what the member sees of it afterwards --------------------------------------------


async def test_history_shows_the_played_songs_and_forget_me_deletes_them(server: Server) -> None:
    listens = world().listens[:60]
    await server.alice.slash(
        server.channel, "import spotify", file=(EXTENDED_NAME, extended_history(listens))
    )
    await server.alice.slash(server.channel, "like", track=world().inside[0].id)
    heard: dict[str, int] = {}
    for listen in listens:
        if listen.track is not None and listen.ms_played >= 30_000:
            heard[listen.track.id] = heard.get(listen.track.id, 0) + 1
    songs = len({listen.track.id for listen in listens if listen.track is not None})

    page = (await server.alice.slash(server.channel, "history")).response
    assert page is not None
    embed = page.embeds[0]
    assert embed.title == "Your feedback and plays"
    lines = embed.description.splitlines()
    assert lines[0].startswith("👍 liked **")  # the like is the newest entry
    assert lines[1].startswith("▶️ played **") or lines[1].startswith("⏩ skipped **")
    assert embed.footer.text == (
        f"Page 1 of {-(-(songs + 1) // 10)} · 1 feedback · {songs} songs played"
    )
    favourite = max(heard, key=lambda track: heard[track])
    name = next(t.name for t in world().inside + world().outside if t.id == favourite)
    pages = [embed]
    while page is not None and len(pages) < 20:
        buttons = {c["label"]: c for row in page.components for c in row["components"]}
        if buttons["Next"].get("disabled"):
            break
        page = (await server.alice.click(page, label="Next")).response
        assert page is not None
        pages.append(page.embeds[0])
    shown = "\n".join(str(e.description) for e in pages)
    assert f"· {heard[favourite]}× ·" in shown
    assert name.replace("*", "\\*").split()[0] in shown

    exported = (await server.alice.slash(server.channel, "export-me")).response
    assert exported is not None
    data = json.loads(await exported.attachments[0].read())
    plays = len([listen for listen in listens if listen.track is not None])
    assert len(data["plays"]) == plays
    assert f"{plays} plays" in exported.content

    prompt = (await server.alice.slash(server.channel, "forget-me")).response
    assert prompt is not None
    assert f"your {plays} plays (imported or recorded" in prompt.content
    await server.alice.click(prompt, label="Delete my data")
    assert f"{plays} plays" in prompt.content
    assert await plays_of(server, server.alice.id) == []


# --- Last.fm --------------------------------------------------------------------------


def scrobbles(count: int = 30) -> list[tuple[str, str, str, int]]:
    """Real catalog tracks as Last.fm scrobbles, one an hour."""
    start = int(datetime(2023, 6, 1, tzinfo=UTC).timestamp())
    tracks = world().inside[:count]
    return [(t.name, t.artist, t.album, start + 3600 * n) for n, t in enumerate(tracks)]


async def test_lastfm_scrobbles_are_imported(server: Server, lastfm: FakeLastfm) -> None:
    lastfm.add_scrobbles("RJ", scrobbles())
    lastfm.now_playing["rj"] = ("Halo", "Beyoncé", "I Am...")

    result = await server.alice.slash(server.channel, "import lastfm", username="RJ")

    assert thought_privately(server)
    text = answer(result)
    assert text.startswith("**Last.fm history of RJ imported** (Last.fm scrobbles).")
    assert "💾 **30** new plays stored." in text
    assert "⏩ Skipped 1 song playing right now." in text
    stored = await plays_of(server, server.alice.id)
    assert len(stored) == 30
    assert {source for *_, source in stored} == {"lastfm"}
    assert {track for track, *_ in stored} == {t.id for t in world().inside[:30]}


async def test_a_hidden_profile_falls_back_to_top_tracks(
    server: Server, lastfm: FakeLastfm
) -> None:
    track = world().inside[0]
    lastfm.private.add("shy")
    lastfm.top["shy"] = [(track.name, track.artist, 3)]

    text = answer(await server.alice.slash(server.channel, "import lastfm", username="shy"))

    assert text.startswith("Your recent listening is hidden on Last.fm, so I imported your top")
    assert "(Last.fm top tracks (undated))" in text
    assert [t for t, *_ in await plays_of(server, server.alice.id)] == [track.id] * 3


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("private", "recent listening is hidden on Last.fm (a privacy setting there). On Last.fm"),
        ("unknown", "Last.fm has no user called 'nobody'. Check the spelling"),
        ("rate-limited", "Last.fm is rate-limiting Earworm; try again in 30 s."),
        ("down", "Last.fm is having trouble (HTTP 503); try again later."),
        ("slow", "Last.fm took too long to answer; try again in a few minutes."),
    ],
)
async def test_lastfm_failures_get_one_clear_message(
    server: Server, lastfm: FakeLastfm, setup: str, message: str
) -> None:
    user = "nobody"
    if setup != "unknown":
        lastfm.add_scrobbles(user, scrobbles(3))
    if setup == "private":
        lastfm.private.add(user)  # and no top tracks to fall back on
        lastfm.scrobbles.pop(user)
    elif setup == "rate-limited":
        lastfm.fail(429, error=29, headers={"Retry-After": "30"})
    elif setup == "down":
        lastfm.fail(503)
    elif setup == "slow":
        lastfm.delay = 3.0  # LASTFM_TIMEOUT is 1 s here

    text = answer(await server.alice.slash(server.channel, "import lastfm", username=user))

    assert message in text
    assert len(text) < 300
    server.expect_user_errors(1)
    assert await count(server, Play) == 0


async def test_without_an_api_key_the_member_hears_how_to_get_one(server: Server) -> None:
    result = await server.alice.slash(server.channel, "import lastfm", username="rj")

    assert not thought_privately(server)
    text = answer(result)
    assert "https://www.last.fm/api/account/create" in text
    assert "`LASTFM_API_KEY`" in text
    server.expect_user_errors(1)


# --- the engine: picks from what was imported -----------------------------------------


async def import_and_recommend(server: Server) -> tuple[set[str], set[str], Any]:
    """carol, new here, imports a history of 40 real tracks, then asks for picks: the
    played tracks' ids, their names and artists' names, and the card."""
    tracks = world().inside[:40]
    listens = simulate_listening(tracks, seed=5, count=300, podcast_share=0)
    await server.carol.slash(
        server.channel, "import spotify", file=(EXTENDED_NAME, extended_history(listens))
    )
    result = await server.carol.slash(server.channel, "recommend", count=5)
    assert result.response is not None
    names = {t.name for t in tracks} | {t.artist for t in tracks}
    return {t.id for t in tracks}, names, result.response


async def test_the_next_recommend_starts_from_the_imported_history(server: Server) -> None:
    played, names, card = await import_and_recommend(server)

    assert "New here?" not in (card.content or "")  # not the cold start's popular picks
    reason = card.embeds[0].description or ""
    # It names a song carol played, or an artist she plays.
    assert any(name in reason for name in names), reason
    picks = {item.track_id for item in await served(server, card.id)}
    assert len(picks) == 5
    assert played.isdisjoint(picks)  # nothing she already plays


async def test_the_reason_says_it_comes_from_the_members_listening(server: Server) -> None:
    _, _, card = await import_and_recommend(server)

    reason = card.embeds[0].description or ""
    assert "you play" in reason or "your listening" in reason, reason


async def test_help_says_what_is_stored_and_that_uploads_are_not_kept(server: Server) -> None:
    result = await server.alice.slash(server.channel, "help")

    assert result.response is not None
    text = str(result.response.embeds[0].description)
    assert "**What I keep about you**" in text
    assert "read in memory and never kept" in text
    assert "`/listening`" in text
    assert "`/forget-me` deletes it" in text
    shown = "\n".join(str(field.value) for field in result.response.embeds[0].fields)
    assert "`/import spotify file`" in shown
    assert "`/listening state`" in shown
