"""`earworm bench catalog`: import seconds and peak memory, and search latency, on the real
catalog and a derived 114k-row file (the machinery: bot/bench/catalog.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
from tqdm import tqdm

from bot.bench.catalog import IMPORT_TARGET_ROWS, print_report, run_benchmark
from bot.cli.bench.options import json_option, seed_option, write_json
from bot.cli.common import fail, settings_of


def _command_line(rows: int, queries: int, seed: int) -> str:
    return f"earworm bench catalog --rows {rows} --queries {queries} --seed {seed}"


@click.command("catalog")
@click.option(
    "--rows",
    default=IMPORT_TARGET_ROWS,
    show_default=True,
    type=click.IntRange(1),
    help="Rows in the derived Kaggle-format file.",
)
@click.option(
    "--queries", default=1_000, show_default=True, type=click.IntRange(1), help="Timed searches."
)
@seed_option("the derived file and queries")
@json_option
@click.pass_context
def command(ctx: click.Context, rows: int, queries: int, seed: int, json_path: Path | None) -> None:
    """Import seconds and peak memory, and search latency, on the real and a derived catalog.

    Imports run in fresh processes: (a) the real spotify_catalog folder, (b) a derived
    Kaggle-format file of ROWS rows into a new database, (c) that file again into the same
    database (nothing changes). The searches then run against database (b).
    """
    settings = settings_of(ctx)
    folder = (settings.shared_data_dir / "spotify_catalog").resolve()
    if not folder.is_dir():
        fail(f"real catalog not found at {folder} (set EARWORM_SHARED_DATA to its parent folder)")
    command_line = _command_line(rows, queries, seed)
    with (
        tempfile.TemporaryDirectory(prefix="earworm-bench-") as scratch,
        # disable=None: a bar on a terminal, nothing when the output is piped or captured.
        tqdm(total=5, desc="bench", unit="step", disable=None, leave=False) as bar,
    ):
        report = run_benchmark(command_line, folder, Path(scratch), rows, queries, seed, bar)
    print_report(report)
    write_json(json_path, report.to_json())
