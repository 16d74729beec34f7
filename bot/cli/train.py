"""`earworm train`: one training run now, as the nightly job does it (bot/learning/run.py).

The feedback is snapshotted, models are trained in a worker process, measured against the
active ones on the newest feedback, and promoted or rejected. A bot running on the same
database notices a promotion within EARWORM_REGISTRY_POLL_SECONDS and swaps the models in.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from bot.cli.common import fail, print_json, run, settings_of

if TYPE_CHECKING:
    from bot.learning.run import CandidateResult

MODEL_CHOICES = ("all", "als", "ncf", "hybrid", "artists")
SHOWN_METRICS = ("hr@10", "ndcg@10", "recall@10", "auc", "coverage@10")


def _print_result(result: CandidateResult) -> None:
    metrics = result.metrics
    rows = f" on {result.training_rows:,} feedback rows" if result.training_rows else ""
    click.echo(f"{result.kind} v{result.version}: {result.status.value}{rows}")
    click.echo(f"  {result.reason}")
    figures = "  ".join(
        f"{name.upper()} {metrics[name]:.4f}"
        for name in SHOWN_METRICS
        if isinstance(metrics.get(name), float)
    )
    if figures:
        click.echo(f"  measured by {metrics.get('validation', 'validation')}: {figures}")
    chosen = metrics.get("hyperparameters")
    if isinstance(chosen, dict) and chosen:
        click.echo("  hyperparameters: " + " ".join(f"{k}={v}" for k, v in chosen.items()))


@click.command("train")
@click.option(
    "--model",
    "model",
    type=click.Choice(MODEL_CHOICES),
    default="all",
    show_default=True,
    help="Which model to train (hybrid: the blend weights over ALS, NCF, content and "
    "popularity; artists: the artist relations /similar and /artist place tracks with).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seeds validation and fit.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's outcome as JSON.")
@click.option(
    "--progress/--no-progress", default=None, help="Say what it is doing (default: on a TTY)."
)
@click.pass_context
def command(
    ctx: click.Context, model: str, seed: int, as_json: bool, progress: bool | None
) -> None:
    """Train ALS, NCF, the hybrid blend and the artist relations now; promote those not worse
    than the active ones."""
    from bot.composition import database_for
    from bot.learning.run import RunOptions, TrainingBusy, run_training

    settings = settings_of(ctx)
    # Off when captured: an error must stay the only line on stderr.
    show = sys.stderr.isatty() if progress is None else progress
    options = RunOptions(
        seed=seed,
        tolerance=settings.promotion_tolerance,
        keep_versions=settings.keep_model_versions,
    )

    async def train_now():  # type: ignore[no-untyped-def]
        async with database_for(settings) as database:
            return await run_training(
                settings,
                database,
                model,
                options,
                progress=(lambda step: click.echo(f"... {step}", err=True)) if show else _quiet,
            )

    try:
        outcome = run(train_now())
    except TrainingBusy as exc:
        fail(str(exc))
    if as_json:
        print_json(outcome.to_json())
    else:
        for result in outcome.results:
            _print_result(result)
    if not outcome.ok:
        fail(str(outcome.error))
    broken = [r for r in outcome.results if r.status.value == "failed"]
    if broken:
        fail("; ".join(f"{r.kind} v{r.version} failed: {r.reason}" for r in broken))


def _quiet(_step: str) -> None:
    """Progress nobody watches."""


COMMANDS = [command]
