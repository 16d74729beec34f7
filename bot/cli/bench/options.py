"""What every `earworm bench` command shares, defined once: `--json FILE` (every figure the
benchmark prints, also written as JSON), `--seed`, progress lines on stderr, and the seeded
likes the load benchmarks put in a fresh data directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

json_option = click.option(
    "--json",
    "json_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write every figure as JSON to this file.",
)


def seed_option(what: str = "data and queries") -> Any:
    """`--seed N` (default 0), saying what it seeds."""
    return click.option("--seed", default=0, show_default=True, type=int, help=f"Seeds {what}.")


likes_option = click.option(
    "--likes",
    default=20,
    show_default=True,
    type=click.IntRange(2, 1_000),
    help="Seeded likes per member for training ALS (first run on a data directory only).",
)


def say(step: str) -> None:
    """A progress line on stderr (stdout keeps the report)."""
    click.echo(f"... {step}", err=True)


def write_json(path: Path | None, figures: Any) -> None:
    if path is not None:
        path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
