"""`earworm demo`: set up from nothing and show the bot working, no token, no network.

1. The database and the catalog: EARWORM_CATALOG, else the public dataset (downloaded
   once), else the local copy in EARWORM_SHARED_DATA/spotify_catalog. Imported once per
   data directory and source.
2. A small real listening history, once per data directory: each of `HISTORY_MEMBERS`
   background members likes the tracks of one real playlist of the TidyTuesday
   `spotify_songs` table that are in the catalog, so collaborative training has
   something to learn from.
3. The scripted session of bot/demo/script.py against SimCord's simulated Discord.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from bot.composition import database_for
from bot.errors import CommandError
from bot.settings import Settings
from storage.catalog.importer import import_catalog
from storage.catalog.sources import download
from storage.database import Database
from storage.errors import CatalogImportError
from storage.models import FeedbackKind, FeedbackSource
from storage.repositories.bot_settings import get_setting, set_setting
from storage.repositories.feedback import FeedbackEvent, record_feedback_many
from storage.repositories.tracks import catalog_stats, get_tracks

# The public 114k-track "Spotify Tracks Dataset" (maharshipandya), its Hugging Face copy.
DEFAULT_CATALOG_URL = (
    "https://huggingface.co/datasets/maharshipandya/spotify-tracks-dataset/resolve/main/dataset.csv"
)
# bot_settings keys: what the demo set up already in this data directory.
CATALOG_DONE = "demo_catalog"
HISTORY_DONE = "demo_history"

PLAYLISTS_FILE = Path("spotify_catalog") / "spotify_songs.zip"
HISTORY_MEMBERS = 40
PLAYLIST_SIZES = range(30, 101)  # tracks; small or huge playlists say little about a taste
MAX_LIKES = 60
# Background members' ids: far from any real snowflake SimCord hands out.
FIRST_HISTORY_MEMBER = 100_000_000_000_000_000


# --- 1. the catalog -------------------------------------------------------------------------


async def _catalog_source(settings: Settings) -> str:
    """EARWORM_CATALOG, else the public dataset (downloaded once), else the local copy."""
    if settings.catalog:
        return settings.catalog
    cached = settings.data_dir / "catalog" / "dataset.csv"
    if cached.exists():
        return str(cached)
    click.echo(f"Downloading the public catalog from {DEFAULT_CATALOG_URL} ...")
    try:
        return str(await download(DEFAULT_CATALOG_URL, cached.parent))
    except CatalogImportError as exc:
        local = settings.shared_data_dir / "spotify_catalog"
        if not local.is_dir():
            raise CatalogImportError(
                f"{exc}. Set EARWORM_CATALOG to a local catalog file or folder and run again."
            ) from None
        click.echo(f"Could not download it ({exc}); using the local copy in {local}.")
        return str(local)


async def ensure_catalog(settings: Settings, database: Database) -> None:
    """Import the catalog unless this data directory holds it already."""
    async with database.sessions() as session:
        done = await get_setting(session, CATALOG_DONE)
        tracks = (await catalog_stats(session)).tracks
    if done and tracks:
        click.echo(f"Catalog already imported from {done}.")
    else:
        source = await _catalog_source(settings)
        click.echo(f"Importing the catalog from {source} ...")
        summary = await import_catalog(
            database, [source], download_dir=settings.data_dir / "downloads"
        )
        click.echo(
            f"Imported {summary.rows_read:,} rows in {summary.seconds:.1f} s: "
            f"{summary.tracks_inserted:,} new, {summary.tracks_updated:,} updated, "
            f"{summary.tracks_unchanged:,} unchanged, {summary.skipped_total:,} skipped."
        )
        async with database.sessions() as session:
            await set_setting(session, CATALOG_DONE, source)
            await session.commit()
    async with database.sessions() as session:
        stats = await catalog_stats(session)
    click.echo(
        f"Catalog: {stats.tracks:,} tracks, {stats.artists:,} artists, {stats.genres:,} genres."
    )


# --- 2. a listening history -----------------------------------------------------------------


@dataclass(frozen=True)
class Playlist:
    id: str
    name: str
    genre: str
    tracks: tuple[str, ...]


def read_playlists(path: Path) -> list[Playlist]:
    """The playlists of the TidyTuesday `spotify_songs` table (a zipped CSV), in file order."""
    names: dict[str, tuple[str, str]] = {}
    tracks: dict[str, dict[str, None]] = defaultdict(dict)  # ordered and unique
    with zipfile.ZipFile(path) as archive:
        member = next(name for name in archive.namelist() if name.endswith(".csv"))
        with archive.open(member) as raw:
            for row in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")):
                playlist = row["playlist_id"]
                names.setdefault(playlist, (row["playlist_name"], row["playlist_genre"]))
                tracks[playlist][row["track_id"]] = None
    return [Playlist(key, *names[key], tuple(tracks[key])) for key in names]


def choose_playlists(playlists: Sequence[Playlist], count: int) -> list[Playlist]:
    """`count` mid-sized playlists, those sharing most of their tracks with other playlists
    first: a collaborative model learns from tastes that overlap (playlists of disjoint
    tracks would teach it nothing). A fixed order: the same members on every machine."""
    eligible = [p for p in playlists if len(p.tracks) in PLAYLIST_SIZES]
    holders = Counter(track for playlist in eligible for track in playlist.tracks)

    def shared(playlist: Playlist) -> float:
        return sum(holders[track] > 1 for track in playlist.tracks) / len(playlist.tracks)

    return sorted(eligible, key=lambda p: (-shared(p), p.id))[:count]


async def ensure_history(settings: Settings, database: Database) -> None:
    """Give the background members their playlists' likes, once per data directory."""
    async with database.sessions() as session:
        done = await get_setting(session, HISTORY_DONE)
    if done:
        click.echo(f"Listening history already recorded: {done}.")
        return
    path = settings.shared_data_dir / PLAYLISTS_FILE
    if not path.is_file():
        click.echo(
            f"No listening history to learn from: {path} is not there (set "
            "EARWORM_SHARED_DATA). The demo goes on with only its three members' feedback."
        )
        return
    click.echo(f"Recording a listening history from the playlists in {path} ...")
    playlists = choose_playlists(await asyncio.to_thread(read_playlists, path), HISTORY_MEMBERS)
    members = likes = 0
    async with database.sessions() as session:
        for number, playlist in enumerate(playlists):
            known = {track.id for track in await get_tracks(session, playlist.tracks)}
            liked = [track for track in playlist.tracks if track in known][:MAX_LIKES]
            if len(liked) < 2:
                continue  # too little of it is in this catalog to say anything
            events = [
                FeedbackEvent(
                    user_id=FIRST_HISTORY_MEMBER + number,
                    guild_id=None,
                    track_id=track,
                    kind=FeedbackKind.LIKE,
                    source=FeedbackSource.IMPORT,
                )
                for track in liked
            ]
            likes += sum(await record_feedback_many(session, events))
            members += 1
        summary = f"{members} members, {likes:,} likes from {len(playlists)} playlists"
        await set_setting(session, HISTORY_DONE, summary)
        await session.commit()
    click.echo(f"Recorded {summary}.")


# --- 3. the session -------------------------------------------------------------------------


async def run_session(settings: Settings) -> None:
    from simcord import Env

    from bot.app import create_bot
    from bot.demo.script import Conversation, Session, summary_lines

    started = time.perf_counter()
    click.echo("Starting the bot in a simulated Discord (the first start learns what the ")
    click.echo("catalog's tracks sound like; that takes a little while on a big catalog) ...")
    bot = create_bot(settings)
    # Training runs in a child process inside a command: give each step time to finish.
    env = Env(bot, settle_timeout=600)
    await env.start()
    try:
        click.echo(f"Bot ready in {time.perf_counter() - started:.0f} s.")
        talk = Conversation()
        outcome = await Session(env, settings.data_dir, talk).play()
        talk.heading("What changed for alice")
        for line in summary_lines(outcome):
            talk.echo(line)
        if outcome.profile is not None:
            talk.echo(f"Her taste profile chart: {outcome.profile}")
    finally:
        await env.shutdown()
    bugs = unexpected_errors(env.errors)
    if bugs:
        more = f" (and {len(bugs) - 1} more)" if len(bugs) > 1 else ""
        raise CommandError(f"the bot failed during the demo: {bugs[0]!r}{more}")
    talk.heading("Try it yourself")
    talk.echo("DISCORD_TOKEN=<your bot token> .venv/bin/earworm run   # the bot on your server")
    talk.echo("make test                                              # every test, as CI runs")
    talk.echo(f"(The demo took {time.perf_counter() - started:.0f} s after setup.)")


def unexpected_errors(errors: Sequence[BaseException]) -> list[BaseException]:
    """What the bot raised other than the refusals it answers politely (bad input,
    cooldowns, failed checks: `bot.app.friendly_refusal`)."""
    from bot.app import friendly_refusal

    return [getattr(e, "original", None) or e for e in errors if not friendly_refusal(e)]


async def run_demo(settings: Settings) -> None:
    async with database_for(settings) as database:
        click.echo(f"Database ready: {database.engine.url.render_as_string(hide_password=True)}")
        await ensure_catalog(settings, database)
        await ensure_history(settings, database)
    await run_session(settings)
