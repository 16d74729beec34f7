"""`earworm import spotify-history|lastfm`: a member's listening history, imported from a
shell (what /import does in Discord, for an operator importing on a member's behalf).

Everything lands in one transaction: a bad file stops the command before anything is
written, and importing the same history again stores nothing new. A bot that is running
picks the plays up at its next refresh or training run.
"""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.common import print_json, run, settings_of
from bot.composition import database_for
from bot.errors import CommandError
from bot.settings import Settings
from storage.history.parsed import HistoryError, ParsedHistory, PlayCollector
from storage.history.service import HistoryImportSummary, import_history
from storage.history.spotify_export import (
    ACCOUNT_DATA,
    ACCOUNT_FILE,
    EXTENDED,
    EXTENDED_FILE,
    parse_spotify_export,
)
from storage.models import PlaySource
from storage.repositories.people import check_snowflake


@click.group("import")
def import_group() -> None:
    """Members' listening histories: Spotify privacy exports and Last.fm scrobbles."""


def history_files(paths: tuple[Path, ...]) -> tuple[list[Path], int]:
    """The files to read: each file as given; in a folder (and its sub-folders) every
    Streaming_History_Audio / endsong / StreamingHistory .json. When extended history is
    among them, the account-data files are left out (they repeat its last year and would
    count every play twice). Returns the files and how many were left out that way."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                child
                for child in path.rglob("*.json")
                if child.is_file()
                and (EXTENDED_FILE.fullmatch(child.name) or ACCOUNT_FILE.fullmatch(child.name))
            )
            if not found:
                raise CommandError(
                    f"{path}: no Spotify streaming history in this folder "
                    "(no Streaming_History_Audio, endsong or StreamingHistory .json file)"
                )
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise CommandError(f"{path}: no such file or folder")
    files = list(dict.fromkeys(path.resolve() for path in files))
    if any(EXTENDED_FILE.fullmatch(path.name) for path in files):
        kept = [path for path in files if not ACCOUNT_FILE.fullmatch(path.name)]
        return kept, len(files) - len(kept)
    return files, 0


def merge(parts: list[ParsedHistory], ignored: int) -> ParsedHistory:
    """One history from several files' histories; a play in two files counts once."""
    formats = {part.format for part in parts}
    merged = ParsedHistory(
        format=EXTENDED if EXTENDED in formats else ACCOUNT_DATA, ignored_files=ignored
    )
    collector = PlayCollector(merged)
    for part in parts:
        merged.rows_read += part.rows_read
        merged.files += part.files
        merged.ignored_files += part.ignored_files
        merged.skipped.update(part.skipped)
        for play in part.plays:
            collector.add(play)
    return merged


def read_exports(files: list[Path], ignored: int, max_bytes: int) -> ParsedHistory:
    parts = []
    for path in files:
        size = path.stat().st_size
        if size > max_bytes:
            raise CommandError(
                f"{path}: {size:,} bytes is more than EARWORM_IMPORT_MAX_BYTES ({max_bytes:,})"
            )
        try:
            parsed = parse_spotify_export(path.read_bytes(), max_upload_bytes=max_bytes)
        except HistoryError as exc:
            raise CommandError(f"{path}: {exc}") from None
        if parsed.files == ["upload"]:
            parsed.files = [path.name]
        parts.append(parsed)
    return merge(parts, ignored)


def member_id(value: int) -> int:
    try:
        return check_snowflake(value, "--user")
    except ValueError as exc:
        raise CommandError(str(exc)) from None


async def store(
    settings: Settings, user_id: int, parsed: ParsedHistory, source: PlaySource
) -> HistoryImportSummary:
    """The whole history in one transaction (a failure keeps nothing)."""
    async with (
        database_for(settings) as database,
        database.sessions() as session,
        session.begin(),
    ):
        return await import_history(session, user_id, parsed, source)


def print_summary(summary: HistoryImportSummary, user_id: int, files: int | None) -> None:
    where = f", {files} file(s)" if files is not None else ""
    click.echo(
        f"Imported a {summary.format} history for member {user_id} in "
        f"{summary.seconds:.1f} s{where}"
    )
    click.echo(f"  rows read        {summary.rows_read:,}")
    click.echo(f"  plays            {summary.plays:,}")
    click.echo(
        f"  matched          {summary.matched:,} (by id {summary.matched_by_id:,}, by name "
        f"{summary.matched_by_name:,}, outside the catalog {summary.outside_catalog:,})"
    )
    click.echo(f"  new              {summary.new:,}")
    click.echo(f"  already stored   {summary.already_stored:,}")
    click.echo(f"  tracks added     {summary.tracks_added:,}")
    click.echo(f"  unmatched        {summary.unmatched:,}")
    for reason, count in sorted(summary.unmatched_reasons.items()):
        click.echo(f"    {reason:<22} {count:,}")
    click.echo(f"  skipped          {sum(summary.skipped.values()):,}")
    for reason, count in sorted(summary.skipped.items()):
        click.echo(f"    {reason:<22} {count:,}")


@import_group.command("spotify-history")
@click.option("--user", "user", required=True, type=int, help="The member's Discord id.")
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="FILE_OR_DIR..."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def spotify_history(ctx: click.Context, user: int, paths: tuple[Path, ...], as_json: bool) -> None:
    """Import a member's Spotify privacy export: .json or .zip files, or folders holding
    its Streaming_History / StreamingHistory / endsong .json files."""
    settings = settings_of(ctx)
    user_id = member_id(user)
    files, ignored = history_files(paths)
    parsed = read_exports(files, ignored, settings.import_max_bytes)
    summary = run(store(settings, user_id, parsed, PlaySource.SPOTIFY_EXPORT))
    if as_json:
        print_json(summary.to_json())
    else:
        print_summary(summary, user_id, len(files))


@import_group.command("lastfm")
@click.option("--user", "user", required=True, type=int, help="The member's Discord id.")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def lastfm(ctx: click.Context, user: int, name: str, as_json: bool) -> None:
    """Import the scrobbles of the Last.fm user NAME for a member (needs LASTFM_API_KEY;
    a profile that hides its recent listening gives its top tracks instead)."""
    from bot.exts.imports import LASTFM_KEY_URL, lastfm_history
    from storage.history.lastfm import LastfmClient

    settings = settings_of(ctx)
    user_id = member_id(user)
    if settings.lastfm_api_key is None:
        raise CommandError(
            f"LASTFM_API_KEY is not set. Get a Last.fm API key at {LASTFM_KEY_URL} "
            "and export it as LASTFM_API_KEY."
        )
    client = LastfmClient(
        settings.lastfm_api_key.get_secret_value(),
        base_url=settings.lastfm_api_url,
        timeout=settings.lastfm_timeout,
    )
    parsed, hidden = run(lastfm_history(client, name))  # LastfmError: one error line
    if hidden and not as_json:
        click.echo(f"{name}'s recent listening is hidden on Last.fm: importing top tracks")
    summary = run(store(settings, user_id, parsed, PlaySource.LASTFM))
    if as_json:
        print_json(summary.to_json())
    else:
        print_summary(summary, user_id, None)


COMMANDS = [import_group]
