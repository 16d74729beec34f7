"""`earworm bench training`: the bot's latency and event-loop lag while it retrains on a
million interactions, and the cost of swapping the new models in (see bot/bench/training.py)."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.bench.options import json_option, say, seed_option, write_json
from bot.cli.common import fail, run, settings_of

KIND_CHOICES = ("als", "ncf", "hybrid")


def parse_kinds(text: str) -> tuple[str, ...]:
    """Parse "als,ncf" as ("als", "ncf"); ValueError for an unknown or repeated kind."""
    kinds = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = [kind for kind in kinds if kind not in KIND_CHOICES]
    if not kinds or unknown:
        raise ValueError(f"--kinds takes a comma-separated list of {', '.join(KIND_CHOICES)}")
    if len(set(kinds)) != len(kinds):
        raise ValueError("--kinds names a kind twice")
    return kinds


@click.command("training")
@click.option(
    "--rows",
    default=1_000_000,
    show_default=True,
    type=click.IntRange(100, 20_000_000),
    help="Feedback rows to make from Last.fm HetRec 2K and train on.",
)
@click.option(
    "--idle-seconds",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0.5, 3_600),
    help="Length of the idle window (the load without training).",
)
@click.option(
    "--rate",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.1, 1_000),
    help="Interactions per second, all members together (open loop).",
)
@click.option(
    "--members",
    default=100,
    show_default=True,
    type=click.IntRange(1, 1_000),
    help="Members who drive the load; each gets a Last.fm member's history.",
)
@click.option(
    "--kinds",
    default="als,ncf",
    show_default=True,
    help="What the measured run trains, comma-separated (als, ncf, hybrid).",
)
@click.option(
    "--new-share",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0.01, 0.5),
    help="Newest share of the rows, stored after the seed model: what the run is compared on.",
)
@seed_option("data and load")
@json_option
@click.pass_context
def command(
    ctx: click.Context,
    rows: int,
    idle_seconds: float,
    rate: float,
    members: int,
    kinds: str,
    new_share: float,
    seed: int,
    json_path: Path | None,
) -> None:
    """Serve a steady load through SimCord while ALS and NCF retrain: latency, loop lag, swap.

    Works on a scratch copy of the configured database (EARWORM_DATA_DIR), importing the
    local catalog there first if it has none; the 1M-row default takes 15 minutes or more."""
    from bot.bench.scratch import ensure_local_catalog, scratch_data_dir
    from bot.bench.training import (
        BenchOptions,
        TrainingBenchError,
        print_report,
        run_training_bench,
    )

    settings = settings_of(ctx)
    try:
        options = BenchOptions(
            rows=rows,
            idle_seconds=idle_seconds,
            rate=rate,
            members=members,
            kinds=parse_kinds(kinds),
            new_share=new_share,
            seed=seed,
        )
    except ValueError as exc:
        fail(str(exc))

    try:
        run(ensure_local_catalog(settings, say))
        with scratch_data_dir(settings, "training-bench") as copy:
            report = run(run_training_bench(copy, options, say))
    except (ValueError, TrainingBenchError) as exc:
        fail(str(exc))
    print_report(report)
    write_json(json_path, report.to_json())
