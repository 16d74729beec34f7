"""`earworm simulate`: real playlists as members, the real bot through SimCord, like-rate per
round for the full system, trending-only and random picks, and with --history the full
system after members import a listening history (see bot/bench/simulate.py)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from bot.cli.common import fail, run, settings_of


@click.command("simulate")
@click.option(
    "--users", default=200, show_default=True, type=int, help="Simulated members (playlists)."
)
@click.option("--rounds", default=5, show_default=True, type=int, help="Rounds of picks.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seeds members and picks.")
@click.option(
    "--background",
    default=None,
    type=click.IntRange(min=0),
    help="Other playlists (never members) recorded as background listeners. [default: all]",
)
@click.option(
    "--history",
    is_flag=True,
    help="Deal the members into two arms of other playlists: half first import a listening "
    "history made from half of their playlist (through /import spotify); everyone is judged "
    "against the other half: the like-rate with and without histories in one run (policy "
    "`history`).",
)
@click.option(
    "--json",
    "json_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the like-rates as JSON to this file.",
)
@click.option(
    "--plot",
    "plot_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also draw the like-rates as a PNG line chart to this file.",
)
@click.pass_context
def command(
    ctx: click.Context,
    users: int,
    rounds: int,
    seed: int,
    background: int | None,
    history: bool,
    json_path: Path | None,
    plot_path: Path | None,
) -> None:
    """Play real tastes against the bot and report the like-rate per round.

    Uses the configured data directory (EARWORM_DATA_DIR) for the catalog, imported there
    once; every run works on a temporary copy of it."""
    from bot.bench.scratch import ensure_local_catalog, scratch_data_dir
    from bot.bench.simulate import SimulationReport, playlists_path, plot, print_table, simulate
    from bot.settings import Settings

    if users < 1:
        fail(f"--users must be 1 or more, not {users}")
    if history and users < 2:
        fail(f"--history needs --users 2 or more (half import a history), not {users}")
    if rounds < 1:
        fail(f"--rounds must be 1 or more, not {rounds}")
    settings = settings_of(ctx)

    def say(step: str) -> None:
        click.echo(f"... {step}", err=True)

    async def main(copy: Settings) -> SimulationReport:
        return await simulate(
            copy,
            users=users,
            rounds=rounds,
            seed=seed,
            say=say,
            background=background,
            history=history,
        )

    try:
        playlists_path(settings)
        run(ensure_local_catalog(settings, say))
        with scratch_data_dir(settings, "simulate") as copy:
            report = run(main(copy))
    except ValueError as exc:
        fail(str(exc))
    print_table(report)
    if json_path is not None:
        json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    if plot_path is not None:
        plot(report, plot_path)


COMMANDS = [command]
