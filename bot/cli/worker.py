"""`earworm worker snapshot|train RUN_DIR`: the child processes of a training run.

Not for people: bot/learning/run.py starts them. `snapshot` writes the run's feedback snapshot
from the database; `train` reads only the run directory (bot/learning/worker.py), at low
CPU priority so the bot that started it keeps the cores it needs to answer members.
Progress goes to stderr as `progress: ...` lines; a failure ends with one `error:` line.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from bot.cli.common import fail, run, settings_of

# How much a training yields to the bot on a shared machine (see `man nice`).
TRAINING_NICENESS = 10


def _progress(step: str) -> None:
    click.echo(f"progress: {step}", err=True)


def _run_dir(value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        fail(f"{path}: no such run directory")
    return path


@click.group("worker", hidden=True)
def command() -> None:
    """The child processes of a training run (started by the bot and `earworm train`)."""


@command.command("snapshot")
@click.argument("run_dir")
@click.pass_context
def snapshot(ctx: click.Context, run_dir: str) -> None:
    """Write RUN_DIR/snapshot.npz: the catalog and all feedback."""
    from bot.composition import database_for
    from bot.learning.worker import SNAPSHOT
    from storage.snapshot import write_snapshot

    folder = _run_dir(run_dir)
    settings = settings_of(ctx)

    async def take() -> dict[str, object]:
        async with database_for(settings) as database, database.sessions() as session:
            return await write_snapshot(session, folder / SNAPSHOT)

    try:
        header = run(take())
    except OSError as exc:
        fail(f"cannot write the feedback snapshot: {exc}")
    _progress(f"snapshot of {header['feedback_rows']:,} feedback rows taken")


@command.command("train")
@click.argument("run_dir")
def train(run_dir: str) -> None:
    """Train the candidates RUN_DIR/plan.json names on RUN_DIR/snapshot.npz."""
    from bot.learning import worker as training_worker
    from bot.learning.training import TrainingError
    from storage.snapshot import SnapshotError

    folder = _run_dir(run_dir)
    os.nice(TRAINING_NICENESS)
    try:
        training_worker.run(folder, _progress)
    except (TrainingError, SnapshotError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot read or write the run's files: {exc}")


COMMANDS = [command]
