"""`earworm bench import`: a 100,000-play Spotify history imported with the real command
(seconds, peak memory), and what serving its member then costs (bot/bench/history_import.py)."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.bench.options import json_option, say, seed_option, write_json
from bot.cli.common import fail, run, settings_of


@click.command("import")
@click.option(
    "--plays",
    default=100_000,
    show_default=True,
    type=click.IntRange(1, 2_000_000),
    help="Streams in the history.",
)
@click.option(
    "--tracks",
    default=3_000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Distinct catalog tracks they are spread over.",
)
@seed_option("the history")
@json_option
@click.pass_context
def command(ctx: click.Context, plays: int, tracks: int, seed: int, json_path: Path | None) -> None:
    """Import speed and peak memory of a big Spotify history; serving its member after.

    Uses the configured data directory (the local catalog is imported there once); every
    run works on a copy."""
    from bot.bench.history_import import print_report, run_import_bench
    from bot.bench.scratch import ensure_local_catalog, scratch_data_dir

    settings = settings_of(ctx)
    try:
        run(ensure_local_catalog(settings, say))
        with scratch_data_dir(settings, "bench import") as copy:
            report = run(run_import_bench(copy, plays=plays, tracks=tracks, seed=seed, say=say))
    except ValueError as exc:
        fail(str(exc))
    report["command"] = f"earworm bench import --plays {plays} --tracks {tracks} --seed {seed}"
    print_report(report, click.echo)
    write_json(json_path, report)
