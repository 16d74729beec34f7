"""`earworm similar TRACK` and `earworm mix TRACK...`: tracks that sound like one track, or
that blend up to five (the content model, bot/serving/content.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import click

from bot.cli.common import fail, print_json, run, settings_of
from bot.serving.content import DEFAULT_K, ContentAnswer, ContentRequestError, answer

if TYPE_CHECKING:
    from recommender.base import Recommendation
    from recommender.data import ItemCatalog


# --- output -------------------------------------------------------------------------------


def recommendation_json(catalog: ItemCatalog, result: Recommendation) -> dict[str, object]:
    """One result as every recommending command prints it with --json."""
    index = catalog.vocab.index(result.item)
    return {
        "id": result.item,
        "name": catalog.names[index],
        "artists": list(catalog.artists[index]),
        "genres": list(catalog.genres[index]),
        "score": round(result.score, 4),
        "reason": result.reason,
        "url": f"https://open.spotify.com/track/{result.item}",
    }


def print_results(catalog: ItemCatalog, results: Sequence[Recommendation]) -> None:
    """Numbered lines: track, artists and score, then the reason and the link."""
    for position, result in enumerate(results, start=1):
        index = catalog.vocab.index(result.item)
        artists = ", ".join(catalog.artists[index])
        click.echo(f"{position:>3}. {catalog.names[index]} — {artists}  ({result.score:.2f})")
        click.echo(f"     {result.reason}")
        click.echo(f"     https://open.spotify.com/track/{result.item}")


def result_json(answer: ContentAnswer) -> list[dict[str, object]]:
    return [recommendation_json(answer.model.catalog, result) for result in answer.results]


def print_answer(answer: ContentAnswer, as_json: bool) -> None:
    if as_json:
        print_json(result_json(answer))
        return
    catalog = answer.model.catalog
    seeds = " + ".join(f"{s.track.name} — {', '.join(s.track.artists)}" for s in answer.seeds)
    genre_note = ", sharing a genre" if answer.mode == "genre" else ""
    click.echo(f"Tracks like {seeds}{genre_note}:")
    if not answer.results:
        hint = "--mode normal or another track" if answer.mode == "genre" else "another track"
        click.echo(f"  nothing similar found; try {hint}.")
    print_results(catalog, answer.results)


# --- the commands' shared options and body -----------------------------------------------


def content_options(genre_help: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """--k, --mode and --json, the same for `similar` and `mix`."""

    def decorate(function: Callable[..., None]) -> Callable[..., None]:
        function = click.option("--json", "as_json", is_flag=True, help="Print as JSON.")(function)
        function = click.option(
            "--mode",
            type=click.Choice(["normal", "genre"]),
            default="normal",
            show_default=True,
            help=genre_help,
        )(function)
        return click.option(
            "--k", "k", default=DEFAULT_K, show_default=True, help="How many tracks (1-100)."
        )(function)

    return decorate


def respond(ctx: click.Context, queries: Sequence[str], k: int, mode: str, as_json: bool) -> None:
    try:
        found = run(answer(settings_of(ctx), queries, k, mode))
    except ContentRequestError as exc:
        fail(str(exc))
    print_answer(found, as_json)


@click.command("similar")
@click.argument("track")
@content_options(genre_help="genre: only tracks that share a genre with TRACK.")
@click.pass_context
def similar(ctx: click.Context, track: str, k: int, mode: str, as_json: bool) -> None:
    """Tracks that sound like TRACK: a Spotify id, a Spotify track URL, or a search query.

    Never TRACK or another version of it; at most two tracks per artist in each ten.
    """
    respond(ctx, [track], k, mode, as_json)


@click.command("mix")
@click.argument("tracks", nargs=-1)
@content_options(genre_help="genre: only tracks that share a genre with one of the seeds.")
@click.pass_context
def mix(ctx: click.Context, tracks: tuple[str, ...], k: int, mode: str, as_json: bool) -> None:
    """Tracks that blend 1 to 5 TRACKS (Spotify ids, track URLs or search queries).

    Ranked by how alike they are to all the seeds together; never a seed or another
    version of one, and at most two tracks per artist in each ten.
    """
    respond(ctx, list(tracks), k, mode, as_json)


COMMANDS = [similar, mix]
