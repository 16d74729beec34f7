"""`earworm catalog import|stats`: the music catalog, imported from files, folders or URLs."""

from __future__ import annotations

import click

from bot.cli.common import print_json, run, settings_of
from bot.composition import database_for
from storage.catalog.importer import import_catalog
from storage.dto import ImportSummary
from storage.repositories.tracks import catalog_stats


@click.group()
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


COMMANDS = [catalog]
