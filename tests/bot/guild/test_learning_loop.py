"""The learning loop through Discord, with SimCord's virtual clock: the nightly run, members
reacting during a run, failures injected into the real training worker (and a real kill of
it), rollback, and concurrent /admin retrain. Training runs in real worker processes."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bot.app import EarwormBot, create_bot
from bot.bench.bot_load import in_flight_together
from bot.learning.run import RunOutcome
from bot.settings import load_settings
from storage.models import FeedbackKind, ModelStatus
from storage.repositories.feedback import count_feedback
from tests.bot.guild.conftest import Server
from tests.bot.guild.test_admin import (
    admin_cog,
    enough_to_train,
    fields,
    record,
    registry,
    shown,
)
from tests.factories import track_id

LIKE = FeedbackKind.LIKE
FIRST_MEMBER = 900_000_000_000_000_000
training = pytest.mark.simcord(settle_timeout=120)


@pytest.fixture
def simcord_bot(imported: Path) -> EarwormBot:
    # Following the registry every 30 s would cost 2,880 database reads per virtual day.
    return create_bot(load_settings(EARWORM_DATA_DIR=str(imported), registry_poll_seconds=3600))


async def wait_until(condition: Callable[[], bool], seconds: float = 60) -> None:
    """Wait in real time (the worker processes run on the real clock)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.to_thread(time.sleep, 0.05)


async def train_als(server: Server) -> RunOutcome:
    outcome = await admin_cog(server).runner.start("als")
    assert outcome.ok, outcome.error
    return outcome


def newer_likes(server: Server) -> list[tuple[int, int | None, int, FeedbackKind]]:
    """Each of enough_to_train's members likes two more tracks."""
    return [
        (FIRST_MEMBER + member, server.guild.id, (2 * member + step) % 9, LIKE)
        for member in range(4)
        for step in (3, 4)
    ]


@training
async def test_the_nightly_run_trains_at_its_time_and_skips_without_new_feedback(
    server: Server,
) -> None:
    settings = server.bot.settings
    settings.training_min_new_rows = 10
    settings.nightly_models = "als"
    await record(server, enough_to_train(server))  # 12 rows
    cog = admin_cog(server)
    first = cog.daily_training.next_iteration
    assert first is not None
    assert (first.hour, first.minute) == (4, 0)

    await server.env.advance_time((first - server.env.now()).total_seconds() + 1)
    await wait_until(lambda: cog.runner.last is not None)

    assert await registry(server) == [("als", 1, ModelStatus.ACTIVE)]
    assert server.bot.engine.serving is not None
    assert server.bot.engine.serving.active.versions == {"als": 1}

    # The next night nothing new arrived: the run is skipped, and /admin status says so.
    await server.env.advance_time(24 * 3600)
    skip = cog.runner.last_skip
    assert skip is not None
    assert (skip.new_rows, skip.needed) == (0, 10)
    assert await registry(server) == [("als", 1, ModelStatus.ACTIVE)]
    status = await server.carol.slash(server.channel, "admin status")
    last = fields(shown(status))["Last training"]
    assert "Latest run from here (als) finished" in last
    assert "als v1 active (no active model to compare with" in last
    assert "Nightly run skipped <t:" in last
    assert last.endswith("0 new feedback rows and plays, 10 needed")


@training
async def test_members_reacting_during_a_run_lose_no_feedback(server: Server) -> None:
    await record(server, enough_to_train(server))
    runner = admin_cog(server).runner
    run = runner.start("als")

    card = shown(await server.alice.slash(server.channel, "recommend", count=3))
    await server.alice.react(card, "👍")
    await server.bob.react(card, "👍")
    await server.bob.slash(server.channel, "like", track=track_id(5))
    await server.alice.slash(server.channel, "rate", track=track_id(7), stars=4)
    still_running = runner.running
    outcome = await run

    assert still_running  # the reactions above arrived while the run was going
    assert outcome.ok, outcome.error
    async with server.bot.database.sessions() as session:
        stored = await count_feedback(session)
    assert stored == 12 + 4  # every reaction and command is stored
    [trained] = outcome.results
    # What the snapshot missed is counted as new for the next run, not lost.
    assert trained.training_rows is not None
    assert await runner.new_feedback_rows() == stored - trained.training_rows


@training
async def test_a_failing_run_leaves_recommendations_unchanged_and_is_reported(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    await record(server, enough_to_train(server))
    await train_als(server)
    member = FIRST_MEMBER
    before = await server.bot.engine.recommend(member, server.guild.id, 5)

    monkeypatch.setenv("EARWORM_TRAINING_FAULT", "raise")
    result = await server.carol.slash(server.channel, "admin retrain", model="als")

    [embed] = shown(result).embeds
    assert embed.title == "Training (als) failed"
    assert "RuntimeError: injected failure in the training worker" in (embed.description or "")
    assert "The models that were active still serve." in (embed.description or "")
    after = await server.bot.engine.recommend(member, server.guild.id, 5)
    assert after == before
    assert after.model_version == "als v1"
    status = await server.carol.slash(server.channel, "admin status")
    assert "Latest run from here (als) **failed** <t:" in fields(shown(status))["Last training"]
    assert await registry(server) == [
        ("als", 2, ModelStatus.FAILED),
        ("als", 1, ModelStatus.ACTIVE),
    ]


@training
async def test_killing_the_training_process_mid_run_is_recorded_as_failed(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    await record(server, enough_to_train(server))
    monkeypatch.setenv("EARWORM_TRAINING_FAULT", "hang")  # the worker stops while fitting
    runner = admin_cog(server).runner
    run = runner.start("als")
    # "als: validating" is the last step before the injected hang: wait for it, not for "als (1/1)"
    await wait_until(
        lambda: runner.current is not None and "als: validating" in runner.current.progress
    )
    assert runner.current is not None
    assert runner.current.pid is not None
    status = await server.carol.slash(server.channel, "admin status")
    assert fields(shown(status))["Training now"].startswith("yes: als, started <t:")
    assert "als: validating" in fields(shown(status))["Training now"]

    os.kill(runner.current.pid, signal.SIGKILL)
    outcome = await run

    assert outcome.error == "the train process was killed (SIGKILL)"
    assert await registry(server) == [("als", 1, ModelStatus.FAILED)]
    card = shown(await server.alice.slash(server.channel, "recommend", count=3))
    assert " — " in (card.embeds[0].title or "")  # still serving: "Track — Artist"
    listed = await server.carol.slash(server.channel, "admin models")
    description = shown(listed).embeds[0].description or ""
    assert "`als v1` **failed**" in description
    assert "the train process was killed (SIGKILL)" in description


@training
async def test_rollback_restores_the_earlier_recommendations(server: Server) -> None:
    server.bot.settings.promotion_tolerance = 0.99  # promote v2, whatever it scores
    await record(server, enough_to_train(server))
    await train_als(server)
    await record(server, newer_likes(server))
    await server.bot.engine.reload()  # serve the new likes now (as after a restart)

    async def scores() -> np.ndarray:
        return await server.bot.engine.scores_for(FIRST_MEMBER)

    first_picks = await server.bot.engine.recommend(FIRST_MEMBER, server.guild.id, 5)
    first_scores = await scores()
    [second] = (await train_als(server)).results
    assert second.status is ModelStatus.ACTIVE
    assert not np.allclose(await scores(), first_scores)  # v2 ranks differently

    result = await server.carol.slash(server.channel, "admin rollback", version=1)

    assert shown(result).content.startswith("Rolled back als: v2 → v1. v1 serves now.")
    assert np.array_equal(await scores(), first_scores)
    assert await server.bot.engine.recommend(FIRST_MEMBER, server.guild.id, 5) == first_picks
    card = shown(await server.alice.slash(server.channel, "recommend", count=3))
    assert "als v1" in (card.embeds[0].footer.text or "")


@training
async def test_two_concurrent_retrains_start_one_run(server: Server) -> None:
    await record(server, enough_to_train(server))

    # Both in flight together (SimCord settles once, after both are sent).
    # Settle within a minute: the registry and schedule loops' next ticks are minutes away.
    async with in_flight_together(server.env, settle_within=60):
        first = await server.carol.slash(server.channel, "admin retrain", model="als")
        second = await server.carol.slash(server.channel, "admin retrain", model="als")

    openings = sorted(r.response.content[:30] for r in (first, second) if r.response)
    assert openings == ["A training (als) is already ru", "Training started (als)… I'll p"]
    for result in (first, second):
        [embed] = shown(result).embeds
        assert embed.title == "Training (als) finished"
    assert await registry(server) == [("als", 1, ModelStatus.ACTIVE)]
