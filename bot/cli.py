"""The `earworm` command line. Every command that needs the database migrates it first."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli_common import EarwormGroup, fail, print_json, run, settings_of
from bot.composition import database_for
from bot.logs import configure_logging
from bot.settings import Settings, load_settings
from storage import migrate
from storage.catalog.importer import import_catalog
from storage.dto import ImportSummary, TrackSummary
from storage.repositories.tracks import catalog_stats, search_tracks

if TYPE_CHECKING:
    from bot.app import EarwormBot

log = logging.getLogger(__name__)


@click.group(cls=EarwormGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="earworm")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Earworm: a Discord bot that recommends music and learns from reactions."""
    settings = load_settings()
    ctx.obj = settings
    # Text or JSON lines on stderr (EARWORM_LOG_FORMAT), secrets redacted from every record.
    configure_logging(settings)


# --- database ---------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema and backups."""


async def _migrate(settings: Settings, action: str, revision: str) -> str | None:
    """Run one migration command and return the revision the database ends at."""
    from storage.engine import make_engine

    engine = make_engine(settings.resolved_database_url)
    try:
        await getattr(migrate, action)(engine, revision)
        return await migrate.current_revision(engine)
    finally:
        await engine.dispose()


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Apply migrations (every command that needs the database does this by itself)."""
    click.echo(f"database at revision {run(_migrate(settings_of(ctx), 'upgrade', revision))}")


@db.command("downgrade")
@click.argument("revision")
@click.pass_context
def db_downgrade(ctx: click.Context, revision: str) -> None:
    """Revert migrations down to REVISION ("base" removes every table)."""
    reached = run(_migrate(settings_of(ctx), "downgrade", revision))
    click.echo(f"database at revision {reached or 'base'}")


@db.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@click.pass_context
def db_backup(ctx: click.Context, path: Path, force: bool) -> None:
    """Copy the live SQLite database to PATH, consistent even while the bot writes."""
    from storage.backup import backup_sqlite, pg_dump_hint, sqlite_path
    from storage.engine import is_sqlite

    url = settings_of(ctx).resolved_database_url
    if not is_sqlite(url):
        fail(pg_dump_hint(url, str(path)))
    result = backup_sqlite(sqlite_path(url), path, force=force)
    size = result.bytes / 1_000_000
    click.echo(
        f"backed up {result.source} to {result.target} ({size:.1f} MB in {result.seconds:.1f} s)"
    )


# --- catalog ----------------------------------------------------------------------------


@main.group()
def catalog() -> None:
    """The music catalog: tracks with audio features and genres."""


def _print_summary(summary: ImportSummary) -> None:
    click.echo(f"Imported {len(summary.sources)} source(s) in {summary.seconds:.1f} s")
    click.echo(f"  formats          {', '.join(sorted(set(summary.formats)))}")
    click.echo(f"  rows read        {summary.rows_read:,}")
    click.echo(f"  tracks in files  {summary.tracks_in_file:,}")
    click.echo(f"  inserted         {summary.tracks_inserted:,}")
    click.echo(f"  updated          {summary.tracks_updated:,}")
    click.echo(f"  unchanged        {summary.tracks_unchanged:,}")
    click.echo(f"  rows skipped     {summary.skipped_total:,}")
    for reason, count in sorted(summary.rows_skipped.items()):
        click.echo(f"    {reason:<22} {count:,}")


@catalog.command("import")
@click.argument("sources", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a TTY).")
@click.pass_context
def catalog_import(
    ctx: click.Context, sources: tuple[str, ...], as_json: bool, progress: bool | None
) -> None:
    """Import SOURCES: files, folders or http(s) URLs of CSV, gzip or zip catalog files."""
    settings = settings_of(ctx)

    async def go() -> ImportSummary:
        async with database_for(settings) as database:
            return await import_catalog(
                database,
                list(sources),
                download_dir=settings.data_dir / "downloads",
                progress=progress,
            )

    summary = run(go())
    if as_json:
        print_json(summary.to_json())
    else:
        _print_summary(summary)


@catalog.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def catalog_stats_command(ctx: click.Context, as_json: bool) -> None:
    """How many tracks, artists and genres the catalog holds."""
    settings = settings_of(ctx)

    async def go() -> dict[str, int]:
        async with database_for(settings) as database, database.sessions() as session:
            return (await catalog_stats(session)).to_json()

    stats = run(go())
    if as_json:
        print_json(stats)
    else:
        for name, count in stats.items():
            click.echo(f"{name:<8} {count:,}")


# --- search -----------------------------------------------------------------------------


def format_track(track: TrackSummary) -> str:
    album = f" [{track.album}]" if track.album else ""
    return f"{track.name} — {', '.join(track.artists)}{album}  {track.url}"


@main.command()
@click.argument("query")
@click.option(
    "--limit", default=10, show_default=True, type=click.IntRange(1, 100), help="Most results."
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.pass_context
def search(ctx: click.Context, query: str, limit: int, as_json: bool) -> None:
    """Find tracks by name, artist or album (accents and case ignored, prefixes match)."""
    settings = settings_of(ctx)

    async def go() -> list[TrackSummary]:
        async with database_for(settings) as database, database.sessions() as session:
            return await search_tracks(session, query, limit)

    tracks = run(go())
    if as_json:
        print_json([track.to_json() for track in tracks])
    elif not tracks:
        click.echo("No tracks found. Try fewer or shorter words, or import a catalog first.")
    else:
        for position, track in enumerate(tracks, start=1):
            click.echo(f"{position:>2}. {format_track(track)}")


@main.command("run")
@click.pass_context
def run_bot(ctx: click.Context) -> None:
    """Connect to Discord with DISCORD_TOKEN and serve until stopped."""
    settings = settings_of(ctx)
    if settings.discord_token is None:
        fail(
            "DISCORD_TOKEN is not set. Create a bot in the Discord developer portal, "
            "then export its token."
        )

    import aiohttp
    import discord

    from bot.app import create_bot

    bot = create_bot(settings)
    try:
        asyncio.run(serve(bot, settings.discord_token.get_secret_value()))
    except discord.LoginFailure:
        fail("Discord rejected DISCORD_TOKEN. Copy the bot token again from the developer portal.")
    except discord.PrivilegedIntentsRequired:
        fail("Discord refused an intent Earworm asked for; this is a bug, please report it.")
    except (aiohttp.ClientError, OSError) as exc:
        fail(f"cannot reach Discord ({exc}). Check the network and try again.")


async def serve(bot: EarwormBot, token: str) -> None:
    """Run the bot until Discord closes the connection or a SIGTERM/SIGINT asks it to stop;
    a signal starts the graceful shutdown (EarwormBot.shutdown), which this waits for."""
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if stopping:
            log.warning("%s again: already shutting down", name)
            return
        log.info("%s received: shutting down", name)
        stopping.append(loop.create_task(bot.shutdown(), name="earworm-signal-shutdown"))

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        async with bot:
            await bot.start(token)
    finally:
        # start() returns once the connection is closed; a shutdown may still be writing
        # feedback and closing the database: let it finish (close() waits for the same).
        await (stopping[0] if stopping else bot.close())
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        log.info("stopped")


def _register_extra_commands() -> None:
    import importlib
    import pkgutil

    from bot import commands
    from bot.bench import bench
    from bot.db_copy import migrate_sqlite_to_postgres
    from bot.demo import demo

    db.add_command(migrate_sqlite_to_postgres)

    main.add_command(demo)
    main.add_command(bench)
    for module in pkgutil.iter_modules(commands.__path__):
        if not module.name.startswith("_"):
            found = importlib.import_module(f"{commands.__name__}.{module.name}")
            main.add_command(found.command)


_register_extra_commands()
