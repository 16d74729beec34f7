"""`earworm train`: fit the collaborative models on the feedback, validate and register them.

The work is in bot/training.py (no click there, so the nightly job can call it); this is
the command line around it: options, error lines and the summary.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from bot.cli_common import fail, print_json, run, settings_of

if TYPE_CHECKING:
    from bot.training import TrainedModel

MODEL_CHOICES = ("als", "ncf", "hybrid", "all")
SHOWN_METRICS = ("hr@10", "ndcg@10", "recall@10", "auc", "coverage@10")


def _quiet(step: str) -> None:
    """Progress nobody watches."""


def _hyperparameters(values: dict[str, Any]) -> str:
    return " ".join(f"{name}={value}" for name, value in values.items()) or "none"


def _print_summary(trained: list[TrainedModel]) -> None:
    for item in trained:
        metrics = item.metrics
        click.echo(
            f"{item.kind} v{item.version}: trained on {item.training_rows:,} feedback rows "
            f"({metrics['members']:,} members, {metrics['tracks']:,} tracks) "
            f"in {metrics['fit_seconds']:.1f} s; now active"
        )
        figures = "  ".join(
            f"{name.upper()} {metrics[name]:.4f}"
            for name in SHOWN_METRICS
            if isinstance(metrics.get(name), float)
        )
        click.echo(
            f"  validation on {metrics['validation_members']:,} members "
            f"(leave-one-out, seed {metrics['seed']}, full ranking over "
            f"{metrics['validation_tracks']:,} tracks): {figures}"
        )
        click.echo(f"  hyperparameters: {_hyperparameters(metrics['hyperparameters'])}")
        note = metrics["tuning"].get("note") or metrics["tuning"].get("stopping")
        if note:
            click.echo(f"  chosen by: {note}")
        click.echo(f"  artifact: {item.artifact}")


@click.command("train")
@click.option(
    "--model",
    "model",
    type=click.Choice(MODEL_CHOICES),
    default="all",
    show_default=True,
    help="Which model to train (hybrid: the blend weights over ALS, NCF, content and popularity).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seeds validation and fit.")
@click.option("--json", "as_json", is_flag=True, help="Print what was registered as JSON.")
@click.option(
    "--progress/--no-progress", default=None, help="Say what it is doing (default: on a TTY)."
)
@click.pass_context
def command(
    ctx: click.Context, model: str, seed: int, as_json: bool, progress: bool | None
) -> None:
    """Train ALS, NCF and the hybrid blend on all feedback, validate them, make them active."""
    from bot.training import KINDS, TrainingError, train

    settings = settings_of(ctx)
    kinds = list(KINDS) if model == "all" else [model]
    # Off when captured: an error must stay the only line on stderr.
    show = sys.stderr.isatty() if progress is None else progress
    try:
        trained = run(
            train(
                settings,
                kinds,
                seed=seed,
                progress=(lambda step: click.echo(f"... {step}", err=True)) if show else _quiet,
            )
        )
    except TrainingError as exc:
        fail(str(exc))
    if as_json:
        print_json([item.to_json() for item in trained])
    else:
        _print_summary(trained)
