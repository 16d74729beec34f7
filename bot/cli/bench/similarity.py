"""`earworm bench similarity`: `/similar`'s modes against held-out playlist co-membership,
genre precision, era and sound, the ten-line rule to beat, latency at 114k tracks, and the
artist relations against Last.fm (see bot/bench/similarity.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from bot.cli.bench.options import json_option, say, seed_option, write_json
from bot.cli.common import fail, settings_of


@click.command("similarity")
@click.option(
    "--data",
    "data",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="The playlist-based catalog files. [default: EARWORM_SHARED_DATA/spotify_catalog]",
)
@click.option("--splits", default=3, show_default=True, type=click.IntRange(1, 20))
@click.option(
    "--queries",
    default=2000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="(seed, held-out playlist) queries per split.",
)
@click.option(
    "--latency-rows",
    default=114_000,
    show_default=True,
    type=click.IntRange(0, 1_000_000),
    help="Rows of the derived Kaggle-format catalog timed (0: skip).",
)
@click.option("--latency-queries", default=1000, show_default=True, type=click.IntRange(0))
@click.option(
    "--lastfm/--no-lastfm",
    default=True,
    help="The artist-level check against HetRec Last.fm (evaluation only), when present.",
)
@click.option(
    "--embedding-epochs",
    default=None,
    type=click.IntRange(1, 1000),
    help="Cap the content model's training epochs (quick runs; default: the model's own).",
)
@seed_option("the splits, queries and the derived catalog")
@json_option
@click.pass_context
def command(
    ctx: click.Context,
    data: Path | None,
    splits: int,
    queries: int,
    latency_rows: int,
    latency_queries: int,
    lastfm: bool,
    embedding_epochs: int | None,
    seed: int,
    json_path: Path | None,
) -> None:
    """Measure /similar's modes against held-out playlists (the local catalog files)."""
    from bot.bench.similarity import run_similarity_bench

    settings = settings_of(ctx)
    folder = data or settings.shared_data_dir / "spotify_catalog"
    if not folder.is_dir():
        fail(f"the playlist-based catalog files are not at {folder}; pass --data FOLDER")
    lastfm_folder = settings.shared_data_dir / "lastfm_hetrec2k"
    use_lastfm = lastfm and (lastfm_folder / "user_artists.dat").is_file()
    try:
        report = run_similarity_bench(
            folder,
            splits=splits,
            queries=queries,
            seed=seed,
            latency_rows=latency_rows,
            latency_queries=latency_queries,
            lastfm=lastfm_folder if use_lastfm else None,
            epochs=embedding_epochs,
            progress=say,
        )
    except ValueError as exc:
        fail(str(exc))
    command_line = (
        f"earworm bench similarity --splits {splits} --queries {queries} "
        f"--latency-rows {latency_rows} --latency-queries {latency_queries} --seed {seed}"
        + ("" if lastfm else " --no-lastfm")
        + (f" --embedding-epochs {embedding_epochs}" if embedding_epochs else "")
    )
    report["command"] = command_line
    print_report(report)
    write_json(json_path, report)


def _cell(summary: dict[str, float], digits: int) -> str:
    mean, std = summary["mean"], summary["std"]
    if not math.isfinite(mean):
        return "—"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def print_report(report: dict[str, Any]) -> None:
    from bot.bench.similarity import GENRE_VARIANTS, METHOD_LABELS

    echo = click.echo
    host = report["machine"]
    echo(report["command"])
    echo(f"machine: {host['cpu_count']} CPUs, {host['platform']}, Python {host['python']}")
    catalog = report["catalog"]
    splits = report["co_membership"]["splits"]
    echo(
        f"catalog: {catalog['tracks']:,} tracks, {catalog['playlists']} playlists "
        f"({catalog['playlist_rows']:,} rows); {len(splits)} split(s) of 75 % fit / 25 % test "
        f"playlists, {splits[0]['queries']:,} queries each, k={report['k']}"
    )
    columns = (
        ("p10", "P@10", 3),
        ("hr10", "HR@10", 3),
        ("ndcg10", "NDCG@10", 3),
        ("genre_p10", "genre P@10", 3),
        ("year_gap", "med |Δyear|", 1),
        ("emb_dist", "sound dist", 3),
        ("ms", "ms/query", 2),
    )
    for variant in GENRE_VARIANTS:
        note = "what serving sees; leaks" if variant == "all" else "leak-free"
        echo("")
        echo(f"genres from {variant} rows ({note}):")
        echo(f"{'method':<48}" + "".join(f"{title:>16}" for _, title, _ in columns))
        for method, label in METHOD_LABELS.items():
            figures = report["co_membership"]["results"][variant][method]
            echo(
                f"{label:<48}"
                + "".join(f"{_cell(figures[key], digits):>16}" for key, _, digits in columns)
            )
    if "latency" in report:
        latency = report["latency"]
        echo("")
        echo(
            f"latency at {latency['rows']:,} rows ({latency['tracks']:,} tracks, "
            f"{latency['tracks_with_year']:,} with a release year; content fit "
            f"{latency['content_fit_s']} s, style index {latency['style_build_s']} s), "
            f"k={report['k']} with reasons (ms):"
        )
        echo(f"{'mode':<48}{'n':>6}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}")
        for mode, stats in latency["latency"].items():
            echo(
                f"{mode:<48}{stats['queries']:>6}{stats['p50_ms']:>9.2f}{stats['p90_ms']:>9.2f}"
                f"{stats['p99_ms']:>9.2f}{stats['max_ms']:>9.2f}"
            )
    if "lastfm" in report:
        lastfm = report["lastfm"]
        echo("")
        echo(
            f"artist relations against Last.fm co-listening ({lastfm['licence']}): "
            f"{lastfm['matched_artists']:,} matched artists, {lastfm['probes']} probes "
            f"with {lastfm['min_listeners']}+ listeners"
        )
        for name, figures in lastfm["results"].items():
            echo(f"  {name:<44} P@10 {figures['p10']:.3f}  HR@10 {figures['hr10']:.3f}")
