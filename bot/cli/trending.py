"""`earworm trending`: what is popular now, in a server or across Earworm.

Each call reads the catalog and all feedback, fits both trending charts (see
recommender/trending.py) and prints the server's chart, topped up from Earworm's and then
from the catalog's, so a fresh install or a quiet server still gets a chart and its reasons
say where each track came from.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from bot.cli.common import fail, print_json, run, settings_of

if TYPE_CHECKING:
    from bot.settings import Settings
    from recommender.data import Interactions, ItemCatalog
    from recommender.trending import CatalogTrending, ChartEntry, FeedbackTrending

MAX_CHART = 100  # a longer "trending" list is a catalog dump, not a chart
MAX_HALF_LIFE_DAYS = 3_650.0
MAX_SNOWFLAKE = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The catalog and every feedback row, with the server (guild id, "" in DMs) of each."""

    catalog: ItemCatalog
    feedback: Interactions
    servers: list[str]


async def load_snapshot(settings: Settings) -> Snapshot:
    from bot.composition import database_for
    from bot.serving.catalog import interactions, item_catalog
    from storage.repositories.snapshots import catalog_rows, feedback_rows

    async with database_for(settings) as database, database.sessions() as session:
        catalog = await catalog_rows(session)
        feedback = await feedback_rows(session)
    return Snapshot(
        catalog=item_catalog(catalog),
        feedback=interactions(feedback),
        servers=["" if guild is None else str(guild) for guild in feedback.guilds],
    )


def fit_charts(
    snapshot: Snapshot, half_life_days: float, now: float
) -> tuple[CatalogTrending, FeedbackTrending]:
    from recommender.trending import CatalogTrending, FeedbackTrending

    catalog_chart = CatalogTrending().fit(snapshot.feedback, snapshot.catalog)
    feedback_chart = FeedbackTrending(half_life_days=half_life_days).fit(
        snapshot.feedback, snapshot.catalog, groups=snapshot.servers, now=now
    )
    return catalog_chart, feedback_chart


def entry_json(rank: int, entry: ChartEntry, catalog: ItemCatalog) -> dict[str, object]:
    index = catalog.vocab.index(entry.item)
    return {
        "rank": rank,
        "id": entry.item,
        "name": catalog.names[index],
        "artists": list(catalog.artists[index]),
        "score": round(entry.score, 4),
        "reason": entry.reason,
        "chart": entry.chart,
        "url": f"https://open.spotify.com/track/{entry.item}",
    }


def _checked_guild(guild: str | None) -> str | None:
    if guild is None:
        return None
    text = guild.strip()
    if not text.isdecimal() or not 0 < int(text) <= MAX_SNOWFLAKE:
        fail(
            f"--guild must be a Discord server id (a number like 123456789012345678), got "
            f"{guild!r}; in Discord, right-click the server and choose Copy Server ID"
        )
    return str(int(text))


def _check_options(k: int, half_life_days: float) -> None:
    if k < 1:
        fail(f"--k must be at least 1, got {k}; try --k 10")
    if not (math.isfinite(half_life_days) and 0 < half_life_days <= MAX_HALF_LIFE_DAYS):
        fail(
            f"--half-life-days must be a number of days above 0 and at most "
            f"{MAX_HALF_LIFE_DAYS:.0f}, got {half_life_days}; the default is 7"
        )


def _print_chart(rows: list[dict[str, object]], genre: str | None) -> None:
    if not rows:
        where = f" in {genre}" if genre else ""
        click.echo(
            f"Nothing is trending{where} yet: no track has recent likes or a popularity. "
            "Import a catalog with popularity, or ask again once members react."
        )
        return
    for row in rows:
        artists = ", ".join(str(artist) for artist in row["artists"])  # type: ignore[attr-defined]
        click.echo(f"{row['rank']:>3}. {row['name']} — {artists}  {row['url']}")
        click.echo(f"     {row['reason']}")


@click.command("trending")
@click.option(
    "--k",
    "k",
    default=10,
    show_default=True,
    type=int,
    help=f"How many tracks (at most {MAX_CHART}; more is capped).",
)
@click.option("--genre", default=None, help="Only tracks of this genre (e.g. pop, hip hop).")
@click.option(
    "--guild",
    default=None,
    help="A Discord server id: that server's chart, topped up from Earworm's.",
)
@click.option(
    "--half-life-days",
    default=7.0,
    show_default=True,
    type=float,
    help="Days after which a like counts half.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the chart as a JSON list.")
@click.pass_context
def command(
    ctx: click.Context,
    k: int,
    genre: str | None,
    guild: str | None,
    half_life_days: float,
    as_json: bool,
) -> None:
    """What is trending now: the server's chart, Earworm's, or the catalog's top tracks."""
    from recommender.trending import UnknownGenreError, trending_chart

    _check_options(k, half_life_days)
    server = _checked_guild(guild)
    snapshot = run(load_snapshot(settings_of(ctx)))
    if not len(snapshot.catalog):
        fail("the catalog is empty; import tracks first with `earworm catalog import SOURCE`")
    catalog_chart, feedback_chart = fit_charts(snapshot, half_life_days, now=time.time())
    try:
        entries = trending_chart(
            min(k, MAX_CHART), catalog_chart, feedback_chart, guild=server, genre=genre
        )
    except UnknownGenreError as exc:
        fail(f"{exc} (or leave --genre out)")
    rows = [
        entry_json(rank, entry, snapshot.catalog) for rank, entry in enumerate(entries, start=1)
    ]
    if as_json:
        print_json(rows)
    else:
        _print_chart(rows, genre)


COMMANDS = [command]
