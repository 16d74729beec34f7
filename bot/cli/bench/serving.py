"""`earworm bench serving`: the real bot under SimCord serving a big server (2M feedback rows
from 50k members, the 114k-row catalog) with a model swap half way: latency, compute against
its floor, loop lag, reaction visibility, memory and start-up (see bot/bench/serving.py)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from bot.cli.bench.options import json_option, say, seed_option, write_json
from bot.cli.common import fail, run, settings_of


@click.command("serving")
@click.option(
    "--rows",
    default=2_000_000,
    show_default=True,
    type=click.IntRange(100, 20_000_000),
    help="Feedback rows, made from real playlists and Last.fm listeners.",
)
@click.option(
    "--members",
    default=50_000,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="Members the rows belong to; every one is in the simulated server.",
)
@click.option(
    "--duration",
    default=60.0,
    show_default=True,
    type=click.FloatRange(1, 3_600),
    help="Seconds of load (the model swap comes half way).",
)
@click.option(
    "--catalog",
    "catalog",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A catalog file to import instead of the derived 114k-row Kaggle-format file.",
)
@click.option(
    "--cache-size",
    default=None,
    type=click.IntRange(1, 10_000_000),
    help="Members whose serving state the bot keeps in memory (its member_cache_size).",
)
@click.option(
    "--rate",
    default=20.0,
    show_default=True,
    type=click.FloatRange(0.1, 1_000),
    help="Commands per second, all members together (open loop).",
)
@click.option(
    "--reaction-rate",
    default=200.0,
    show_default=True,
    type=click.FloatRange(0, 100_000),
    help="Reactions per second on the cards posted, into discord.py's gateway parser.",
)
@seed_option("data and load")
@json_option
@click.pass_context
def command(
    ctx: click.Context,
    rows: int,
    members: int,
    duration: float,
    catalog: Path | None,
    cache_size: int | None,
    rate: float,
    reaction_rate: float,
    seed: int,
    json_path: Path | None,
) -> None:
    """Serve commands, reactions and a model swap at scale: every figure of issue 17.

    The first run for a --rows/--members/--seed/--catalog prepares the data (catalog,
    feedback, two ALS versions) in EARWORM_DATA_DIR/bench/serving/ (minutes at 2M rows);
    later runs reuse it. Each run works on a scratch copy of that database."""
    from bot.bench.serving import (
        BenchOptions,
        ServingBenchError,
        ensure_prepared,
        print_report,
        run_serving_bench,
        scratch_copy,
    )

    if members > rows:
        fail(f"--members {members} is more than --rows {rows}: every member needs a row")
    settings = settings_of(ctx)
    options = BenchOptions(
        rows=rows,
        members=members,
        duration=duration,
        catalog=catalog,
        cache_size=cache_size,
        rate=rate,
        reaction_rate=reaction_rate,
        seed=seed,
        command=shlex.join(["earworm", *sys.argv[1:]]),
    )
    try:
        prepared = ensure_prepared(settings, options, say)
        with scratch_copy(settings, prepared.folder) as copy:
            report = run(run_serving_bench(copy, options, prepared, say))
    except ServingBenchError as exc:
        fail(str(exc))
    print_report(report)
    write_json(json_path, report)
