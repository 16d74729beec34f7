"""`earworm demo`: set up from nothing and show Earworm working."""

from __future__ import annotations

import click

from bot.cli_common import run, settings_of
from bot.composition import database_for
from bot.settings import Settings
from storage.catalog.importer import import_catalog
from storage.catalog.sources import download
from storage.errors import CatalogImportError
from storage.repositories.tracks import catalog_stats, search_tracks

# The public 114k-track "Spotify Tracks Dataset" (maharshipandya), its Hugging Face copy.
DEFAULT_CATALOG_URL = (
    "https://huggingface.co/datasets/maharshipandya/spotify-tracks-dataset/resolve/main/dataset.csv"
)
DEMO_QUERIES = ("blinding lights", "beyonce", "daft punk", "bohemian rhap", "tayl swi")
SIMILAR_SEEDS = ("blinding lights", "halo beyonce", "one more time daft punk")


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


async def run_demo(settings: Settings) -> None:
    async with database_for(settings) as database:
        click.echo(f"Database ready: {database.engine.url.render_as_string(hide_password=True)}")
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
            stats = await catalog_stats(session)
            click.echo(
                f"Catalog: {stats.tracks:,} tracks, {stats.artists:,} artists, "
                f"{stats.genres:,} genres.\n"
            )
            for query in DEMO_QUERIES:
                tracks = await search_tracks(session, query, limit=3)
                click.echo(f'Search "{query}":')
                if not tracks:
                    click.echo("   (nothing in this catalog)")
                for track in tracks:
                    click.echo(f"   {track.name} — {', '.join(track.artists)}  {track.url}")
        await _show_recommendations(settings)
        click.echo(
            '\nTry it yourself: earworm search "your favourite song", '
            'earworm similar "your favourite song", earworm trending --genre rock'
        )


@click.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Set up the database, import a catalog and show search working."""
    run(run_demo(settings_of(ctx)))


async def _show_recommendations(settings: Settings) -> None:
    """The models that need no listening history: trending and sounds-like."""
    import asyncio

    from bot.commands.trending import load_snapshot
    from bot.content_service import ContentRequestError, answer
    from recommender.trending import CatalogTrending

    snapshot = await load_snapshot(settings)
    if len(snapshot.catalog) == 0:
        return
    # Fitting is CPU work: off the event loop, as the bot will do it.
    chart = await asyncio.to_thread(
        lambda: CatalogTrending().fit(snapshot.feedback, snapshot.catalog).top(5)
    )
    click.echo("\nTrending (top tracks of the top artists):")
    for entry in chart:
        index = snapshot.catalog.vocab.index(entry.item)
        click.echo(f"   {snapshot.catalog.label(index)}: {entry.reason}")
    for query in SIMILAR_SEEDS:
        try:
            found = await answer(settings, [query], k=5, mode="normal")
        except ContentRequestError:
            continue  # this catalog lacks that song; try the next
        seed = found.seeds[0].track
        click.echo(f"\nSounds like {seed.name} — {', '.join(seed.artists)}:")
        for result in found.results:
            index = snapshot.catalog.vocab.index(result.item)
            click.echo(f"   {snapshot.catalog.label(index)}: {result.reason}")
        break
