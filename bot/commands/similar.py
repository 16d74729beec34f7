"""`earworm similar TRACK`: tracks that sound like one track."""

from __future__ import annotations

import click

from bot.content_service import content_options, respond


@click.command("similar")
@click.argument("track")
@content_options(genre_help="genre: only tracks that share a genre with TRACK.")
@click.pass_context
def command(ctx: click.Context, track: str, k: int, mode: str, as_json: bool) -> None:
    """Tracks that sound like TRACK: a Spotify id, a Spotify track URL, or a search query.

    Never TRACK or another version of it; at most two tracks per artist in each ten.
    """
    respond(ctx, [track], k, mode, as_json)
