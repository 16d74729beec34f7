"""`earworm bench profiles`: recall of the bounded content profile that serving uses against
the exact one, on held-out playlist tracks (the machinery: bot/bench/profiles.py)."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.bench.options import json_option, say, write_json
from bot.cli.common import fail, settings_of
from bot.cli.eval import parse_seeds


@click.command("profiles")
@click.option("--seeds", default="0-2", show_default=True, help="Splits to average, e.g. 0-4.")
@click.option(
    "--members",
    default=200,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Playlists scored per seed.",
)
@json_option
@click.pass_context
def command(ctx: click.Context, seeds: str, members: int, json_path: Path | None) -> None:
    """Recall of the bounded content profile (serving) against the exact one."""
    from bot.bench.profiles import print_report, run_profile_bench
    from recommender.evaluation.datasets import DatasetError, load_spotify_playlists

    seed_list = parse_seeds(seeds)
    folder = settings_of(ctx).shared_data_dir
    try:
        dataset = load_spotify_playlists(folder)
    except DatasetError as exc:
        fail(str(exc))
    assert dataset.catalog is not None  # the playlists dataset always has one
    report = run_profile_bench(
        dataset.catalog, dataset.interactions, seeds=seed_list, members=members, progress=say
    )
    report["command"] = f"earworm bench profiles --seeds {seeds} --members {members}"
    print_report(report, click.echo)
    write_json(json_path, report)
