"""`earworm bench load`: the real bot under mixed load through SimCord, restarted midway, on
SQLite and/or PostgreSQL; every feedback row counted (see bot/bench/load.py)."""

from __future__ import annotations

import math
from pathlib import Path

import click

from bot.cli.bench.options import json_option, likes_option, say, seed_option, write_json
from bot.cli.common import fail, run, settings_of


@click.command("load")
@click.option(
    "--members",
    default=1_000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Simulated members, spread evenly over the guilds.",
)
@click.option("--guilds", default=20, show_default=True, type=click.IntRange(1, 1_000))
@click.option(
    "--commands",
    default=10_000,
    show_default=True,
    type=click.IntRange(0, 10**7),
    help="Slash commands in all (/recommend, /similar, /trending, /mix, /like, ...).",
)
@click.option(
    "--reactions",
    default=50_000,
    show_default=True,
    type=click.IntRange(0, 10**7),
    help="Reactions added or removed on the cards the commands posted.",
)
@click.option(
    "--database",
    "databases",
    default="sqlite",
    show_default=True,
    type=click.Choice(["sqlite", "postgres", "both"]),
    help="both: SQLite then PostgreSQL, back to back, one table.",
)
@click.option(
    "--postgres-url",
    default=None,
    metavar="URL",
    help="A PostgreSQL server (postgresql://user@host:port/postgres) where the run may "
    "create a database; it is dropped afterwards.",
)
@click.option(
    "--restart-at",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0, 1, max_open=True),
    help="Share of the actions after which the bot restarts (0: no restart).",
)
@click.option(
    "--concurrency",
    default=100,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Actions in flight together (one wave); the simulated clock moves 1 s per wave.",
)
@click.option(
    "--tick",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.001, 3600),
    help="Simulated seconds between waves. Longer ticks let /history pages time out sooner "
    "(600 s), which keeps SimCord's per-settle scan of open views short on long runs.",
)
@likes_option
@seed_option("data and load")
@json_option
@click.pass_context
def command(
    ctx: click.Context,
    members: int,
    guilds: int,
    commands: int,
    reactions: int,
    databases: str,
    postgres_url: str | None,
    restart_at: float,
    concurrency: int,
    tick: float,
    likes: int,
    seed: int,
    json_path: Path | None,
) -> None:
    """Load the bot with commands and reactions through SimCord, restart it midway, and
    check that no feedback row was lost or doubled, no error went unhandled and cooldowns
    held. Prints commands/s, reactions/s and p99 latencies per database.

    Uses the configured data directory (EARWORM_DATA_DIR, SQLite): the first run imports the
    local catalog and seeds feedback there; every run works on a copy."""
    from bot.bench.bot_load import prepare
    from bot.bench.load import LoadPlan, LoadReport, run_on
    from storage.engine import is_sqlite

    settings = settings_of(ctx)
    plan = LoadPlan(
        members=members,
        guilds=guilds,
        commands=commands,
        reactions=reactions,
        restart_at=restart_at,
        concurrency=concurrency,
        tick=tick,
        seed=seed,
    )
    chosen = ["sqlite", "postgres"] if databases == "both" else [databases]
    if "postgres" in chosen and not postgres_url:
        fail("--database postgres needs --postgres-url (a server where it may create a database)")
    if not is_sqlite(settings.resolved_database_url):
        fail("bench load prepares an SQLite database to copy from; unset EARWORM_DATABASE_URL")
    try:
        plan.check()
    except ValueError as exc:
        fail(str(exc))

    try:
        run(prepare(settings, min(members, 1_000), likes, seed, say))
    except ValueError as exc:
        fail(str(exc))
    reports: list[LoadReport] = []
    for database in chosen:
        say(f"{database}:")
        try:
            reports.append(run(run_on(settings, plan, database, postgres_url, say)))
        except ValueError as exc:
            fail(str(exc))
    print_reports(reports)
    write_json(json_path, [report.to_json() for report in reports])
    problems = [f"{r.database}: {problem}" for r in reports for problem in r.problems]
    if problems:
        for problem in problems[:-1]:
            click.echo(f"problem: {problem}", err=True)
        fail(problems[-1])


def print_reports(reports: list[object]) -> None:
    from bot.bench.load import LoadReport

    rows = [report for report in reports if isinstance(report, LoadReport)]
    if not rows:
        return
    first = rows[0]
    plan = first.plan
    click.echo(
        f"{plan.members:,} members in {plan.guilds} guilds; {plan.commands:,} commands and "
        f"{plan.reactions:,} reactions, {plan.concurrency} in flight per wave; restart at "
        f"{plan.restart_at:.0%}; cooldown {first.cooldown_uses} per {first.cooldown_seconds:g} s"
    )
    header = (
        f"{'database':10} {'cmd/s':>7} {'react/s':>8} {'cmd p50':>8} {'cmd p99':>8} "
        f"{'re p50':>7} {'re p99':>7} {'lag p99':>8} {'restart':>8} {'rows':>14} {'cooldown':>8}"
    )
    click.echo(header)
    for report in rows:
        commands = report.latency.get("command (all)")
        reactions = report.latency.get("reaction (all)")
        lag = report.loop_lag
        refused = sum(n for key, n in report.outcomes.items() if key.endswith(" cooldown"))
        stored = f"{report.feedback_stored:,}/{report.feedback_expected:,}"
        click.echo(
            f"{report.database:10} {report.commands_per_second:>7.1f} "
            f"{report.reactions_per_second:>8.1f} {_ms(commands, 'p50_ms'):>8} "
            f"{_ms(commands, 'p99_ms'):>8} {_ms(reactions, 'p50_ms'):>7} "
            f"{_ms(reactions, 'p99_ms'):>7} {_ms(lag, 'p99_ms'):>8} "
            f"{report.restart_seconds:>7.2f}s {stored:>14} {refused:>8}"
        )
    click.echo("(latencies in ms; rows: feedback stored/expected; cooldown: refusals)")
    for report in rows:
        verdict = "; ".join(report.problems) or (
            "no row lost or doubled, no unhandled error, cooldowns held"
        )
        click.echo(f"{report.database}: {verdict}")


def _ms(summary: object, field: str) -> str:
    value = getattr(summary, field, math.nan) if summary is not None else math.nan
    return "-" if math.isnan(value) else f"{value:.0f}"
