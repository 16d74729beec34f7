"""`earworm similar TRACK`, `earworm similar --batch FILE`, `earworm mix TRACK...` and
`earworm artists NAME`: tracks like one track or a blend of up to five, in each mode, and
artists like an artist (bot/serving/content.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.common import fail, print_json, run, settings_of
from bot.serving.content import (
    DEFAULT_K,
    MODES,
    ArtistsAnswer,
    BatchLine,
    ContentAnswer,
    ContentRequestError,
    answer,
    answer_batch,
    artists_answer,
)

if TYPE_CHECKING:
    from recommender.base import Recommendation
    from recommender.data import ItemCatalog

MODE_HELP = (
    "normal: the seed's genres, era and related artists first, then closeness in sound; "
    "sound: how it sounds alone (audio features); genre: {genre}"
)


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
    note = {"genre": ", sharing a genre", "sound": ", by sound alone"}.get(answer.mode, "")
    click.echo(f"Tracks like {seeds}{note}:")
    if not answer.results:
        hint = "--mode normal or another track" if answer.mode == "genre" else "another track"
        click.echo(f"  nothing similar found; try {hint}.")
    print_results(catalog, answer.results)


def batch_json(line: BatchLine, catalog: ItemCatalog) -> dict[str, object]:
    """One batch line's JSON: its results (id, name, artists, score, reason) or error."""
    if line.error is not None or line.results is None:
        return {"query": line.query, "error": line.error or "no answer"}
    return {
        "query": line.query,
        "seed": line.seed.id if line.seed is not None else None,
        "results": [
            {
                key: value
                for key, value in recommendation_json(catalog, result).items()
                if key in ("id", "name", "artists", "score", "reason")
            }
            for result in line.results
        ],
    }


# --- the commands' shared options and body -----------------------------------------------


def content_options(genre_help: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """--k, --mode and --json, the same for `similar` and `mix`."""

    def decorate(function: Callable[..., None]) -> Callable[..., None]:
        function = click.option("--json", "as_json", is_flag=True, help="Print as JSON.")(function)
        function = click.option(
            "--mode",
            type=click.Choice(MODES),
            default="normal",
            show_default=True,
            help=MODE_HELP.format(genre=genre_help),
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


def _lines(path: Path) -> Iterator[str]:
    """The file's lines, read as they are answered (undecodable bytes replaced)."""
    with path.open(encoding="utf-8", errors="replace", newline=None) as stream:
        yield from stream


def respond_batch(ctx: click.Context, path: Path, k: int, mode: str) -> None:
    """One JSON line per seed line of `path`, written as soon as it is answered."""

    def emit(line: BatchLine, catalog: ItemCatalog) -> None:
        click.echo(json.dumps(batch_json(line, catalog), ensure_ascii=False))

    try:
        run(answer_batch(settings_of(ctx), _lines(path), k, mode, emit))
    except ContentRequestError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")


@click.command("similar")
@click.argument("track", required=False)
@click.option(
    "--batch",
    "batch",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A file with one seed per line (id, link or query): one JSON line per seed, "
    '{"query", "results": [...]} or {"query", "error"}; the models load once. Blank lines '
    "are skipped.",
)
@content_options(genre_help="only tracks that share a genre with TRACK.")
@click.pass_context
def similar(
    ctx: click.Context, track: str | None, batch: Path | None, k: int, mode: str, as_json: bool
) -> None:
    """Tracks like TRACK: a Spotify id, a Spotify track URL, or a search query.

    Never TRACK or another version of it; at most two tracks per artist in each ten.
    With --batch FILE instead of TRACK, every line of FILE is a seed (JSON lines out).
    """
    if (track is None) == (batch is None):
        fail("give one TRACK, or --batch FILE with one track per line")
    if batch is not None:
        respond_batch(ctx, batch, k, mode)
        return
    assert track is not None
    respond(ctx, [track], k, mode, as_json)


@click.command("mix")
@click.argument("tracks", nargs=-1)
@content_options(genre_help="only tracks that share a genre with one of the seeds.")
@click.pass_context
def mix(ctx: click.Context, tracks: tuple[str, ...], k: int, mode: str, as_json: bool) -> None:
    """Tracks that blend 1 to 5 TRACKS (Spotify ids, track URLs or search queries).

    Ranked by how alike they are to all the seeds together; never a seed or another
    version of one, and at most two tracks per artist in each ten.
    """
    respond(ctx, list(tracks), k, mode, as_json)


def artists_json(found: ArtistsAnswer) -> dict[str, object]:
    artists = []
    for match in found.matches:
        track = found.tracks.get(match.best_track)
        artists.append(
            {
                "name": match.name,
                "score": round(match.score, 4),
                "relation": round(match.relation, 4),
                "reason": match.reason,
                "best_known_track": None
                if track is None
                else {"id": track.id, "name": track.name, "url": track.url},
            }
        )
    return {
        "artist": found.name,
        "relations": found.similarity.relations.label,
        "artists": artists,
    }


@click.command("artists")
@click.argument("name")
@click.option("--k", "k", default=DEFAULT_K, show_default=True, help="How many artists (1-100).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def artists(ctx: click.Context, name: str, k: int, as_json: bool) -> None:
    """Artists like NAME (as the catalog spells it; case and spaces aside): played alongside
    it first, then of its genres and era; each with why and its best-known track."""
    try:
        found = run(artists_answer(settings_of(ctx), name, k))
    except ContentRequestError as exc:
        fail(str(exc))
    if as_json:
        print_json(artists_json(found))
        return
    click.echo(f"Artists like {found.name} (relations: {found.similarity.relations.label}):")
    if not found.matches:
        click.echo("  none found: the catalog knows too little about this artist.")
    for position, match in enumerate(found.matches, start=1):
        track = found.tracks.get(match.best_track)
        click.echo(f"{position:>3}. {match.name}  ({match.score:.2f})")
        click.echo(f"     {match.reason}")
        if track is not None:
            click.echo(f"     best known for {track.name}: {track.url}")


COMMANDS = [similar, mix, artists]
