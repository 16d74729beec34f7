"""`earworm bench similar`: latency of `similar` at 1x and 10x the catalog, the recall a
cluster index would cost, and genre-precision@10 (see bot/bench/similar.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bot.cli.bench.options import json_option, say, seed_option, write_json
from bot.cli.common import fail, run, settings_of


@click.command("similar")
@click.option("--queries", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@click.option(
    "--scale",
    default=10,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Also measure on a copy this many times the catalog (1: skip).",
)
@seed_option("the queries and the copy")
@click.option("--cli/--no-cli", "time_cli", default=True, help="Also time the whole command.")
@json_option
@click.pass_context
def command(
    ctx: click.Context, queries: int, scale: int, seed: int, time_cli: bool, json_path: Path | None
) -> None:
    """Benchmark content similarity on the imported catalog (import one first)."""
    from bot.bench.similar import run_content_bench
    from bot.serving.content import load_catalog

    settings = settings_of(ctx)
    catalog = run(load_catalog(settings))
    if len(catalog) == 0:
        fail("the catalog is empty. Import one first: earworm catalog import PATH_OR_URL")
    report = run_content_bench(
        catalog,
        queries=queries,
        scale=scale,
        seed=seed,
        cli_track=str(catalog.ids[0]) if time_cli else None,
        progress=say,
    )
    report["command"] = (
        f"earworm bench similar --queries {queries} --scale {scale} --seed {seed}"
        + ("" if time_cli else " --no-cli")
    )
    print_report(report)
    write_json(json_path, report)


def print_report(report: dict[str, Any]) -> None:
    echo = click.echo
    host = report["machine"]
    echo(report["command"])
    echo(f"machine: {host['cpu_count']} CPUs, {host['platform']}, Python {host['python']}")
    sizes = [("1x", report["catalog"])]
    if "scaled" in report:
        sizes.append((f"{report['scaled']['factor']}x", report["scaled"]))
    for name, size in sizes:
        model = size["model"]
        variance = model.get("explained_variance")
        # PCA keeps a share of the variance; a learned embedding has no such figure.
        space = f"{variance:.0%} of variance" if variance is not None else model["representation"]
        echo(
            f"{name}: {size['tracks']:,} tracks, fitted in {size['fit_s']:.1f} s; "
            f"features dropped: {', '.join(model['features_dropped']) or 'none'}; "
            f"{model['dimensions']} dimensions ({space}); {model['clusters']} clusters"
        )
    echo("")
    echo(f"similar, one query at a time, model loaded, k={report['k']} (ms):")
    echo(f"{'catalog':<8} {'mode':<7} {'n':>5} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    for name, size in sizes:
        for mode, stats in size["latency"].items():
            echo(
                f"{name:<8} {mode:<7} {stats['queries']:>5} {stats['p50_ms']:>8.2f} "
                f"{stats['p90_ms']:>8.2f} {stats['p99_ms']:>8.2f} {stats['max_ms']:>8.2f}"
            )
    echo("")
    echo("cluster index against brute force (raw top 10, before diversity rules):")
    header = ("catalog", "clusters", "scanned", "recall@10", "p50 ms", "p99 ms")
    echo("{:<8} {:>8} {:>8} {:>10} {:>8} {:>8}".format(*header))
    for name, size in sizes:
        for probe in size["cluster_index"]:
            searched = "all" if probe["probe"] == 0 else str(probe["probe"])
            echo(
                f"{name:<8} {searched:>8} {probe['scanned']:>8.1%} {probe['recall_at_10']:>10.3f} "
                f"{probe['p50_ms']:>8.2f} {probe['p99_ms']:>8.2f}"
            )
    echo("")
    echo("genre-precision@10 (share of the 10 similar tracks sharing a genre with the seed):")
    for name, value in report["genre_precision_at_10"].items():
        echo(f"  {name:<32} {value:.3f}")
    if "cli_seconds" in report:
        echo("")
        echo(f"earworm similar, whole process, cached model: {report['cli_seconds']:.2f} s")
