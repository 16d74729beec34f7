"""`earworm bench models`: ALS and NCF training time and peak memory at 100k-5M interactions,
and `recommend` latency at 30k and 300k items (see bot/bench/models.py for how the data is
scaled up from Last.fm HetRec 2K)."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.bench.options import json_option, say, seed_option, write_json
from bot.cli.common import fail, settings_of

MODELS = ("als", "ncf")


def _counts(option: str, text: str, *, allow_none: bool = False) -> tuple[int, ...]:
    from bot.bench.models import parse_count

    if allow_none and text.strip().lower() in {"", "none"}:
        return ()
    try:
        counts = [parse_count(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        fail(f"{option}: {exc}")
    if not counts:
        fail(f"{option} is empty; give counts such as 100k,1m")
    if len(set(counts)) != len(counts):
        fail(f"{option} {text!r}: a count is given twice")
    return tuple(counts)


def _models(text: str) -> tuple[str, ...]:
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in MODELS]
    if unknown or not names:
        fail(f"--models {text!r}: choose from {', '.join(MODELS)}")
    return tuple(dict.fromkeys(names))


@click.command("models")
@click.option(
    "--sizes", default="100k,1m,5m", show_default=True, help="Training sizes, in interactions."
)
@click.option("--models", default="als,ncf", show_default=True, help="Models to measure.")
@click.option(
    "--latency-items",
    default="30k,300k",
    show_default=True,
    help="Catalog sizes for recommend latency ('none': skip).",
)
@click.option(
    "--queries",
    default=1_000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Timed recommend calls per catalog size (random users).",
)
@click.option(
    "--ncf-max-epochs",
    default=20,
    show_default=True,
    type=click.IntRange(1, 1_000),
    help="Cap on NCF's epochs per stage when timing training (it stops earlier on its own).",
)
@click.option(
    "--ncf-latency-epochs",
    default=1,
    show_default=True,
    type=click.IntRange(1, 1_000),
    help="NCF epochs per stage before timing recommend (latency does not depend on them).",
)
@seed_option("data and models")
@json_option
@click.pass_context
def command(
    ctx: click.Context,
    sizes: str,
    models: str,
    latency_items: str,
    queries: int,
    ncf_max_epochs: int,
    ncf_latency_epochs: int,
    seed: int,
    json_path: Path | None,
) -> None:
    """Train ALS and NCF on Last.fm scaled up, and time recommend on big catalogs."""
    from bot.bench.models import BenchError, BenchOptions, format_report, run_model_bench

    options = BenchOptions(
        sizes=_counts("--sizes", sizes, allow_none=True),
        models=_models(models),
        latency_items=_counts("--latency-items", latency_items, allow_none=True),
        queries=queries,
        max_epochs=ncf_max_epochs,
        latency_epochs=ncf_latency_epochs,
        seed=seed,
    )
    settings = settings_of(ctx)
    command_line = (
        f"earworm bench models --sizes {sizes} --models {models} --latency-items {latency_items} "
        f"--queries {queries} --ncf-max-epochs {ncf_max_epochs} "
        f"--ncf-latency-epochs {ncf_latency_epochs} --seed {seed}"
    )
    try:
        report = run_model_bench(
            options,
            settings.shared_data_dir,
            progress=say,
        )
    except BenchError as exc:
        fail(str(exc))
    report["command"] = command_line
    write_json(json_path, report)
    for line in format_report(report, command_line):
        click.echo(line)
