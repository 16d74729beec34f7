"""`earworm mix TRACK...`: tracks that blend up to five seed tracks."""

from __future__ import annotations

import click

from bot.content_service import content_options, respond


@click.command("mix")
@click.argument("tracks", nargs=-1)
@content_options(genre_help="genre: only tracks that share a genre with one of the seeds.")
@click.pass_context
def command(ctx: click.Context, tracks: tuple[str, ...], k: int, mode: str, as_json: bool) -> None:
    """Tracks that blend 1 to 5 TRACKS (Spotify ids, track URLs or search queries).

    Ranked by how alike they are to all the seeds together; never a seed or another
    version of one, and at most two tracks per artist in each ten.
    """
    respond(ctx, list(tracks), k, mode, as_json)
