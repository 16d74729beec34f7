"""`earworm bench load`'s machinery at a small size: the real bot under mixed commands and
reactions through SimCord, restarted with a wave in flight, on the test's database (SQLite,
or PostgreSQL in the suite's PostgreSQL pass). Every feedback row is accounted for, no
error goes unhandled, and cooldowns hold."""

from __future__ import annotations

from pathlib import Path

from bot.bench.load import CommandRecord, LoadPlan, cooldown_violations, run_load_test
from bot.settings import load_settings

PLAN = LoadPlan(
    members=40, guilds=4, commands=60, reactions=300, concurrency=30, mash_share=0.1, seed=1
)


async def test_a_small_load_with_a_restart_loses_no_feedback(imported: Path):
    # EARWORM_DATABASE_URL, when the suite runs on PostgreSQL, comes from the environment.
    settings = load_settings(EARWORM_DATA_DIR=str(imported))

    report = await run_load_test(settings, PLAN, "test")

    assert report.problems == []
    assert report.restarted
    assert (report.commands, report.reactions) == (60, 300)
    # Both directions of reactions and the opinion commands were exercised and counted.
    assert report.reaction_adds > report.reaction_removals > 0
    assert report.opinion_commands > 0
    assert report.feedback_expected == report.feedback_stored > 0
    assert report.feedback_missing == report.feedback_unexpected == 0
    assert report.unhandled_count == 0
    assert report.unanswered == []
    # Members who mash a heavy command were refused ("Try again in N s") and the rest held.
    assert sum(n for key, n in report.outcomes.items() if key.endswith(" cooldown")) > 0
    assert report.cooldown_violations == []
    # Real measurements of both kinds of traffic.
    assert report.latency["command (all)"].count == 60
    assert report.latency["reaction (all)"].count == 300
    assert report.commands_per_second > 0
    assert report.reactions_per_second > 0


def test_the_cooldown_check_catches_one_use_too_many() -> None:
    answered = [CommandRecord("recommend", 7, at, 0, "answered") for at in (0.0, 1.0, 2.0)]
    fourth = CommandRecord("similar", 7, 9.0, 0, "answered")  # one budget for all of them

    assert cooldown_violations(answered, uses=3, seconds=10) == []
    [problem] = cooldown_violations([*answered, fourth], uses=3, seconds=10)
    assert "member 7 had 4 heavy commands answered within 10 s" in problem
    # A new window opens after the old one has passed, and a restarted bot starts afresh.
    later = CommandRecord("similar", 7, 10.5, 0, "answered")
    restarted = CommandRecord("similar", 7, 9.0, 1, "answered")
    assert cooldown_violations([*answered, later], uses=3, seconds=10) == []
    assert cooldown_violations([*answered, restarted], uses=3, seconds=10) == []


def test_a_refusal_must_say_when_to_come_back() -> None:
    told = CommandRecord("recommend", 7, 0.0, 0, "cooldown", "Easy there! Try again in 4 s.")
    never = CommandRecord("recommend", 7, 0.0, 0, "cooldown", "Easy there! Try again in 0 s.")

    assert cooldown_violations([told], uses=3, seconds=10) == []
    assert cooldown_violations([never], uses=3, seconds=10) != []


def test_a_track_called_busy_is_not_a_busy_refusal() -> None:
    # Found at full size: "Saved: Busy Earnin' ..." was counted as a refusal, so the
    # ledger missed the like the bot had stored.
    from bot.bench.load import BUSY_REPLY
    from bot.errors import BusyError

    assert BUSY_REPLY.match(str(BusyError(2)))
    assert not BUSY_REPLY.match("Saved: **Busy Earnin'** by Jungle. I'll use it for your picks.")
