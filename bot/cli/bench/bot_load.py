"""`earworm bench bot`: command and autocomplete latency, event-loop lag and reaction
ingestion of the real bot under load through SimCord (see bot/bench/bot_load.py)."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.bench.options import json_option, likes_option, say, seed_option, write_json
from bot.cli.common import fail, run, settings_of


@click.command("bot")
@click.option(
    "--members",
    default=100,
    show_default=True,
    type=click.IntRange(1, 1_000),
    help="Members in the server; each wave has every one of them in flight at once.",
)
@click.option(
    "--rate",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.1, 10_000),
    help="Steady phase: interactions per second, all members together (open loop).",
)
@click.option(
    "--duration",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0.1, 3_600),
    help="Steady phase: seconds.",
)
@click.option(
    "--rounds",
    default=5,
    show_default=True,
    type=click.IntRange(1, 1_000),
    help="Burst phase: waves with every member in flight at once.",
)
@click.option(
    "--reactions",
    default=10_000,
    show_default=True,
    type=click.IntRange(0, 1_000_000),
    help="Distinct reaction events to ingest.",
)
@click.option(
    "--reaction-wave",
    default=500,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Reactions emitted together before waiting for the bot to handle them.",
)
@likes_option
@seed_option("data and load")
@json_option
@click.pass_context
def command(
    ctx: click.Context,
    members: int,
    rate: float,
    duration: float,
    rounds: int,
    reactions: int,
    reaction_wave: int,
    likes: int,
    seed: int,
    json_path: Path | None,
) -> None:
    """Load the bot through SimCord: latency, loop lag and reactions per second.

    Uses the configured data directory (EARWORM_DATA_DIR): point it at an empty folder; the
    first run imports the local catalog and seeds feedback there."""
    from bot.bench.bot_load import (
        BotBenchReport,
        check_reactions,
        prepare,
        print_report,
        run_load,
    )
    from bot.bench.scratch import scratch_data_dir
    from bot.settings import Settings

    settings = settings_of(ctx)
    try:
        check_reactions(members, reactions)
    except ValueError as exc:
        fail(str(exc))

    try:
        run(prepare(settings, members, likes, seed, say))
    except ValueError as exc:
        fail(str(exc))

    async def main(copy: Settings) -> BotBenchReport:
        return await run_load(
            copy,
            members=members,
            rounds=rounds,
            rate=rate,
            duration=duration,
            reactions=reactions,
            reaction_wave=reaction_wave,
            seed=seed,
            say=say,
        )

    try:
        with scratch_data_dir(settings, "bot-bench") as copy:
            report = run(main(copy))
    except ValueError as exc:
        fail(str(exc))
    print_report(report)
    write_json(json_path, report.to_json())
