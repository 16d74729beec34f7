"""`earworm bench embeddings`: genre-precision@10 of the content model's track representations
(scaled features, genre network, autoencoder) on held-out tracks; see bot/bench/embeddings.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bot.cli.bench.options import json_option, say, write_json
from bot.cli.common import fail, run, settings_of
from bot.cli.eval import parse_seeds


@click.command("embeddings")
@click.option("--seeds", default="0-2", show_default=True, help="Splits to average, e.g. 0-4.")
@click.option(
    "--queries",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Held-out query tracks per seed.",
)
@click.option(
    "--held-out",
    "held_out_share",
    default=0.2,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Share of songs whose genres no model sees.",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="Folder with spotify_catalog/spotify_songs.zip [default: EARWORM_SHARED_DATA].",
)
@click.option(
    "--imported", is_flag=True, help="Use the imported catalog instead of the shared dataset."
)
@json_option
@click.pass_context
def command(
    ctx: click.Context,
    seeds: str,
    queries: int,
    held_out_share: float,
    data_dir: Path | None,
    imported: bool,
    json_path: Path | None,
) -> None:
    """Compare track representations for content similarity by genre-precision@10."""
    seed_list = parse_seeds(seeds)
    if imported and data_dir is not None:
        fail("--imported and --data-dir exclude each other")
    settings = settings_of(ctx)
    if imported:
        from bot.serving.content import load_catalog

        catalog = run(load_catalog(settings))
        source = "the imported catalog"
        if len(catalog) == 0:
            fail("the catalog is empty. Import one first: earworm catalog import PATH_OR_URL")
    else:
        from recommender.evaluation.datasets import DatasetError, load_spotify_playlists

        folder = data_dir or settings.shared_data_dir
        try:
            catalog = load_spotify_playlists(folder).catalog
        except DatasetError as exc:
            fail(str(exc))
        source = f"spotify_songs in {folder}"
        assert catalog is not None  # the playlists dataset always has one

    from bot.bench.embeddings import run_embedding_bench

    report = run_embedding_bench(
        catalog,
        seeds=seed_list,
        queries=queries,
        held_out_share=held_out_share,
        progress=say,
    )
    report["source"] = source
    report["command"] = (
        f"earworm bench embeddings --seeds {seeds} --queries {queries} "
        f"--held-out {held_out_share:g}" + (" --imported" if imported else "")
    )
    print_report(report)
    write_json(json_path, report)


def print_report(report: dict[str, Any]) -> None:
    echo = click.echo
    echo(report["command"])
    echo(
        f"{report['source']}: {report['tracks']:,} tracks, {report['genres']} genres; "
        f"{report['held_out_share']:.0%} of songs held out per seed, "
        f"{min(report['queries_per_seed'])}-{max(report['queries_per_seed'])} "
        f"held-out queries per seed, seeds {','.join(map(str, report['seeds']))}"
    )
    echo("")
    echo(f"genre-precision@{report['k']} on held-out tracks (mean ± std over seeds):")
    echo(f"{'representation':<14} {'precision':>17} {'fit s':>7}  per seed")
    for name, result in report["results"].items():
        cell = f"{result['mean']:.4f} ± {result['std']:.4f}"
        seeds = ", ".join(f"{value:.4f}" for value in result["per_seed"])
        echo(f"{name:<14} {cell:>17} {result['fit_seconds']:>7.2f}  {seeds}")
