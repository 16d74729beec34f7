"""`earworm search QUERY`: find tracks by name, artist or album."""

from __future__ import annotations

import click

from bot.cli.common import print_json, run, settings_of
from bot.composition import database_for
from storage.dto import TrackSummary
from storage.repositories.tracks import search_tracks


def format_track(track: TrackSummary) -> str:
    album = f" [{track.album}]" if track.album else ""
    return f"{track.name} — {', '.join(track.artists)}{album}  {track.url}"


@click.command()
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


COMMANDS = [search]
