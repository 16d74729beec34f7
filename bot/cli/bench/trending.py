"""`earworm bench trending`: the latency of one trending query (p50/p99) with the charts
loaded, on the real catalog and a scaled-up copy (the machinery: bot/bench/trending.py)."""

from __future__ import annotations

from pathlib import Path

import click

from bot.bench.trending import SCALE
from bot.cli.bench.options import json_option, seed_option, write_json
from bot.cli.common import fail, settings_of


@click.command("trending")
@click.option(
    "--queries", default=1_000, show_default=True, type=click.IntRange(1), help="Timed per kind."
)
@click.option(
    "--events", default=100_000, show_default=True, type=click.IntRange(0), help="Feedback events."
)
@click.option(
    "--members", default=2_000, show_default=True, type=click.IntRange(1), help="Feedback givers."
)
@click.option(
    "--scale", default=SCALE, show_default=True, type=click.IntRange(2, 50), help="Scaled copy."
)
@seed_option("feedback and queries")
@json_option
@click.pass_context
def command(
    ctx: click.Context,
    queries: int,
    events: int,
    members: int,
    scale: int,
    seed: int,
    json_path: Path | None,
) -> None:
    """Latency of one trending query (p50/p99) on the real catalog and a scaled-up copy."""
    from bot.bench.catalog import load_real_tracks, machine
    from bot.bench.trending import WARMUP, K, bench_catalog, print_report, scale_up

    folder = (settings_of(ctx).shared_data_dir / "spotify_catalog").resolve()
    if not folder.is_dir():
        fail(f"real catalog not found at {folder} (set EARWORM_SHARED_DATA to its parent folder)")
    real = load_real_tracks(folder)
    if not real:
        fail(f"no tracks in {folder}; check the folder holds the catalog files")
    runs = [
        bench_catalog(name, tracks, events, members, queries, seed)
        for name, tracks in (("real", real), (f"{scale}x", scale_up(real, scale)))
    ]
    command_line = (
        f"earworm bench trending --queries {queries} --events {events} --members {members} "
        f"--scale {scale} --seed {seed}"
    )
    print_report(command_line, runs)
    figures = {"command": command_line, "machine": machine(), "k": K, "warmup": WARMUP}
    write_json(json_path, {**figures, "runs": [run_.to_json() for run_ in runs]})
