"""Hardening, end to end through SimCord: per-member cooldowns on the heavy commands, the
bot-wide limit on model calls, graceful shutdown, and secrets kept out of logs and replies.

Each test builds the bot with its own settings (the `overrides` fixture, parametrized)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from discord import app_commands
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import EarwormBot, create_bot
from bot.bench.bot_load import in_flight_together
from bot.errors import BusyError, UserFacingError, WriterBusyError
from bot.exts.discover import Discover
from bot.exts.profile import Profiles
from bot.logs import configure_logging
from bot.serving.model_calls import ModelCalls
from bot.serving.writer import FeedbackWriter
from bot.settings import load_settings
from bot.ui.guard import RESTARTING
from storage.database import Database, open_database
from storage.models import Feedback, RecommendationServed
from storage.repositories.bot_settings import get_setting, set_setting
from tests.bot.guild.conftest import Server
from tests.factories import track_id

HALO = track_id(0)
BUSY = re.compile(r"I'm busy right now\. Try again in (\d+) s\.")


@pytest.fixture
def overrides() -> dict[str, object]:
    return {}


@pytest.fixture
def simcord_bot(imported: Path, overrides: dict[str, object]) -> EarwormBot:
    return create_bot(load_settings(EARWORM_DATA_DIR=str(imported), **overrides))


def settings(**values: object) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("overrides", [values])


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Let the bot work (real time) until `condition` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, "timed out waiting for the bot"
        await asyncio.sleep(0.005)


def acknowledge(server: Server) -> list[BaseException]:
    return [getattr(error, "original", error) for error in server.env.errors]


# ---------------------------------------------------------------------------- cooldowns


@settings(EARWORM_COOLDOWN_USES=2, EARWORM_COOLDOWN_SECONDS=30)
async def test_heavy_commands_share_a_per_member_cooldown(server: Server):
    first = await server.alice.slash(server.channel, "recommend", count=3)
    second = await server.alice.slash(server.channel, "trending", scope="global", count=3)
    assert first.response
    assert first.response.embeds
    assert second.response
    assert second.response.embeds

    refused = await server.alice.slash(server.channel, "similar", track=HALO)

    assert refused.response is not None
    assert refused.response.ephemeral
    assert re.fullmatch(r"Easy there! Try again in (29|30) s\.", refused.response.content)
    [error] = acknowledge(server)
    assert isinstance(error, app_commands.CommandOnCooldown)
    # Someone else is not held back by alice's use.
    other = await server.bob.slash(server.channel, "recommend", count=3)
    assert other.response
    assert other.response.embeds

    await server.env.advance_time(31)

    again = await server.alice.slash(server.channel, "similar", track=HALO)
    assert again.response
    assert again.response.embeds
    assert len(acknowledge(server)) == 1  # nothing new


@settings(EARWORM_COOLDOWN_USES=2, EARWORM_COOLDOWN_SECONDS=30)
async def test_a_command_refused_for_bad_input_does_not_use_up_a_slot(server: Server):
    for typo in ("zzqx no such song", "https://open.spotify.com/track/nope", "x" * 300):
        refused = await server.alice.slash(server.channel, "similar", track=typo)
        assert refused.response is not None
        assert refused.response.ephemeral
        assert not refused.response.content.startswith("Easy there!")
    assert all(isinstance(error, UserFacingError) for error in acknowledge(server))

    for _ in range(2):  # both slots are still hers
        served = await server.alice.slash(server.channel, "similar", track=HALO)
        assert served.response
        assert served.response.embeds
    third = await server.alice.slash(server.channel, "recommend", count=3)
    assert third.response is not None
    assert third.response.content.startswith("Easy there!")
    assert isinstance(acknowledge(server)[-1], app_commands.CommandOnCooldown)


def test_every_heavy_command_carries_the_shared_cooldown():
    commands = [Discover.recommend, Discover.similar, Discover.mix, Discover.trending]
    checks = [command.checks for command in [*commands, Profiles.profile]]
    shared = set(checks[0])
    assert len(shared) == 1
    assert all(set(found) == shared for found in checks)
    assert not set(Profiles.taste.checks) & shared  # a cheap command stays free


# --------------------------------------------------------------------- model-call limit


async def test_a_call_past_the_limit_waits_then_hears_busy_with_a_retry_time():
    calls = ModelCalls(limit=1, wait=0.2)
    gate = threading.Event()
    held = asyncio.get_running_loop().create_task(calls.run(lambda: gate.wait(30)))
    try:
        await until(lambda: calls.running == 1)
        started = time.perf_counter()
        with pytest.raises(BusyError) as busy:
            await calls.run(lambda: "never runs")
        waited = time.perf_counter() - started
    finally:
        gate.set()
        assert await held
    assert 0.2 <= waited < 2
    assert busy.value.retry_after >= 1
    assert str(busy.value) == f"I'm busy right now. Try again in {busy.value.retry_after} s."
    assert calls.refused == 1
    assert await calls.run(lambda: "served") == "served"  # the slot is free again
    assert calls.running == 0


async def test_a_call_waiting_for_a_slot_gets_it_when_one_frees():
    calls = ModelCalls(limit=1, wait=5)
    gate = threading.Event()
    held = asyncio.get_running_loop().create_task(calls.run(lambda: gate.wait(30)))
    await until(lambda: calls.running == 1)
    waiting = asyncio.get_running_loop().create_task(calls.run(lambda: "second"))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    gate.set()
    assert await waiting == "second"
    assert await held
    assert calls.refused == 0


async def test_a_reserved_slot_serves_the_calls_after_it_without_waiting():
    """What a command holds from before its public "thinking…": the model call that follows
    never hears "busy", however many callers queue meanwhile."""
    calls = ModelCalls(limit=1, wait=0)
    loop = asyncio.get_running_loop()
    async with calls.reserved():
        # Another request (its own context) is refused while the slot is held ...
        other = loop.create_task(calls.run(lambda: "other"), context=contextvars.Context())
        with pytest.raises(BusyError):
            await other
        # ... while this request's calls, and the tasks it starts, go ahead at once.
        assert await calls.run(lambda: "ours") == "ours"
        assert await loop.create_task(calls.run(lambda: "ours too")) == "ours too"
    assert await calls.run(lambda: "free again") == "free again"
    assert calls.refused == 1


async def test_a_command_failing_after_thinking_in_public_tells_only_the_member(server: Server):
    """After a public "thinking…" the first follow-up would be public: the placeholder is
    closed and the member is told privately. Here Discord refuses the card itself."""
    server.env.inject_error("POST", "/webhooks/*/*", status=403, code=50013, message="nope")

    result = await server.bob.slash(server.channel, "recommend", count=3)

    assert result.response is None  # the public "thinking…" is gone
    [told] = result.followups
    assert told.ephemeral
    assert told.content.startswith("Something went wrong on my side")
    assert server.channel.history(viewer=server.alice) == []  # the channel saw nothing
    [error] = acknowledge(server)
    assert "nope" in str(error)


# One use per window, but 0 seconds: cooldowns are off (bob runs two heavy commands).
@settings(EARWORM_MAX_MODEL_CALLS=1, EARWORM_COOLDOWN_USES=1, EARWORM_COOLDOWN_SECONDS=0)
async def test_past_the_model_call_limit_a_member_hears_the_bot_is_busy(server: Server):
    calls = server.bot.engine.model_calls
    # No waiting for a slot here: under SimCord's clock a wait cannot run out while other
    # work is in flight (the timed wait is tested above, without SimCord).
    calls.wait = 0
    gate = threading.Event()
    # Another caller of the engine (the REST API, say) holds the only slot with a call
    # that runs until the gate opens.
    held = asyncio.get_running_loop().create_task(calls.run(lambda: gate.wait(30)))
    try:
        await until(lambda: calls.running == 1)
        refused = await server.bob.slash(server.channel, "recommend", count=3)
    finally:
        gate.set()
        await held

    assert refused.response is not None
    busy = BUSY.fullmatch(refused.response.content)
    assert busy, refused.response.content
    assert int(busy.group(1)) >= 1
    assert refused.response.ephemeral  # told before "thinking…", so only bob sees it
    [error] = server.expect_user_errors(1)
    assert isinstance(error, BusyError)
    assert calls.refused == 1
    # With the slot free again, bob is served.
    retried = await server.bob.slash(server.channel, "recommend", count=3)
    assert retried.response
    assert retried.response.embeds


# --------------------------------------------------------------------- bounded queues


@pytest.mark.sqlite_only("holds SQLite's write lock to stall the writer")
async def test_a_full_feedback_queue_makes_callers_wait_then_asks_them_to_retry(
    database: Database, database_url: str
):
    writer = FeedbackWriter(database, max_queue=2, full_wait=0.3)

    def store(number: int) -> Callable[[AsyncSession], Awaitable[None]]:
        return lambda session: set_setting(session, f"key {number}", "value")

    lock = hold_write_lock(database_url)  # the database falls behind
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        calls = [loop.create_task(writer.run(store(number))) for number in range(8)]
        await asyncio.wait(calls, timeout=3, return_when=asyncio.FIRST_EXCEPTION)
        waited = loop.time() - started
        assert 0.3 <= waited < 3  # the overflow waited for room, then gave up
        assert writer.queued <= 2  # never more than the bound
    finally:
        lock.rollback()
        lock.close()
    results = await asyncio.gather(*calls, return_exceptions=True)
    await writer.close()

    refused = [number for number, result in enumerate(results) if isinstance(result, Exception)]
    assert refused  # some were told to retry ...
    assert len(refused) < len(calls)  # ... the rest waited for room and were written
    assert all(isinstance(results[number], WriterBusyError) for number in refused)
    assert str(results[refused[0]]) == "Lots of reactions right now; try again in a moment."
    async with database.sessions() as session:
        stored = [await get_setting(session, f"key {number}") for number in range(len(calls))]
    assert [value is None for value in stored] == [
        number in refused for number in range(len(calls))
    ]


# ------------------------------------------------------------------------------ shutdown


def hold_write_lock(database_url: str) -> sqlite3.Connection:
    """Another connection takes SQLite's write lock: the bot's writes queue behind it."""
    connection = sqlite3.connect(make_url(database_url).database or "", isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    return connection


async def count_rows(url: str, model: type) -> int:
    database = await open_database(url)
    try:
        async with database.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        await database.close()


async def shut_down_with_work_in_flight(
    server: Server,
    start: Callable[[], Awaitable[Any]],
    late: Callable[[], Awaitable[Any]],
) -> Any:
    """Hold SQLite's write lock so what `start()` begins stays in flight, shut the bot down,
    check that `late()` (sent meanwhile) hears the bot is restarting and that the shutdown
    waits; then release the lock and let it end. Returns what `start()` returned."""
    bot = server.bot
    lock = hold_write_lock(bot.settings.resolved_database_url)
    try:
        async with in_flight_together(server.env):
            begun = await start()
            await until(lambda: bot.in_flight.count == 1)
            stopping = asyncio.get_running_loop().create_task(bot.shutdown())
            await until(lambda: bot.stopping)
            refused = await late()
            await until(lambda: refused.response is not None)
            assert not stopping.done()  # still waiting for the work in flight
            lock.rollback()
            await stopping
    finally:
        lock.close()
    assert refused.response is not None
    assert refused.response.content == RESTARTING
    assert refused.response.ephemeral
    return begun


@pytest.mark.sqlite_only("holds SQLite's write lock to keep work in flight")
@settings(EARWORM_COOLDOWN_SECONDS=0, EARWORM_SHUTDOWN_TIMEOUT=10)
async def test_shutdown_stores_what_is_queued(server: Server, caplog: pytest.LogCaptureFixture):
    """Reactions and a card's picks wait in the writer's queue while the database is
    locked; the card itself shows at once. The shutdown waits until all of it is stored."""
    caplog.set_level(logging.INFO, logger="bot.app")
    bot = server.bot
    url = bot.settings.resolved_database_url
    card = (await server.alice.slash(server.channel, "recommend", count=3)).response
    assert card is not None
    assert bot.database.engine.pool.checkedin() > 0  # type: ignore[attr-defined]

    lock = hold_write_lock(url)
    try:
        async with in_flight_together(server.env):
            for member in (server.alice, server.bob, server.carol):
                await member.react(card, "👍")  # queued: the writer waits for the lock
            command = await server.bob.slash(server.channel, "recommend", count=3)
            # Shown while the lock is held.
            await until(lambda: command.response is not None and bool(command.response.embeds))
            assert bot.in_flight.count == 0
            stopping = asyncio.get_running_loop().create_task(bot.shutdown())
            await until(lambda: bot.stopping)
            await asyncio.sleep(0.2)
            assert not stopping.done()  # still storing what was queued
            lock.rollback()
            await stopping
    finally:
        lock.close()

    assert await count_rows(url, Feedback) == 3  # every queued reaction was stored
    assert await count_rows(url, RecommendationServed) == 6  # both cards
    assert bot.database.engine.pool.checkedin() == 0  # type: ignore[attr-defined]
    steps = [r.getMessage() for r in caplog.records if r.name == "bot.app"]
    assert any(step.startswith("feedback writer flushed") for step in steps)
    assert steps[-1] == "database closed"
    wal = Path(f"{make_url(url).database}-wal")  # removed when the last connection closes
    assert not await asyncio.to_thread(wal.exists)


@pytest.mark.sqlite_only("holds SQLite's write lock to keep a button press in flight")
@settings(EARWORM_COOLDOWN_SECONDS=0, EARWORM_SHUTDOWN_TIMEOUT=10)
async def test_shutdown_lets_a_card_button_answer_and_refuses_new_presses(server: Server):
    url = server.bot.settings.resolved_database_url
    card = (await server.alice.slash(server.channel, "recommend", count=3)).response
    assert card is not None

    pressed = await shut_down_with_work_in_flight(
        server,
        lambda: server.bob.click(card, label="Like"),  # its write waits for the lock
        lambda: server.carol.click(card, label="Love"),
    )

    assert pressed.response is not None  # bob heard back before the bot left
    assert "Saved: you like" in pressed.response.content
    assert await count_rows(url, Feedback) == 1  # bob's like; carol's press stored nothing


@pytest.mark.sqlite_only("holds SQLite's write lock to keep a button press in flight")
@settings(EARWORM_COOLDOWN_SECONDS=0, EARWORM_SHUTDOWN_TIMEOUT=10)
async def test_shutdown_lets_a_view_button_answer_and_refuses_new_presses(server: Server):
    """Views (the /forget-me confirmation, /history's pages) pass the same gate as commands
    and card buttons: a press being handled answers, a press after the shutdown began
    hears the bot is restarting and does nothing."""
    url = server.bot.settings.resolved_database_url
    await server.alice.slash(server.channel, "like", track=HALO)
    for number in range(9):
        await server.bob.slash(server.channel, "like", track=track_id(number))
    for number in range(3):
        await server.bob.slash(server.channel, "dislike", track=track_id(number))
    pages = (await server.bob.slash(server.channel, "history")).response
    prompt = (await server.alice.slash(server.channel, "forget-me")).response
    assert pages is not None
    assert prompt is not None

    confirmed = await shut_down_with_work_in_flight(
        server,
        lambda: server.alice.click(prompt, label="Delete my data"),  # its delete waits
        lambda: server.bob.click(pages, label="Next"),
    )

    assert confirmed.response is not None  # alice heard back before the bot left
    assert confirmed.response.content.startswith("Done: I deleted")
    assert await count_rows(url, Feedback) == 12  # only bob's rows are left


# ------------------------------------------------------------------------------- secrets

SECRETS = {
    "DISCORD_TOKEN": "MTk4NjIyNDgzNDcx.discord-token.Zk9x",
    "SPOTIFY_CLIENT_SECRET": "spotify-secret-5f3b9c",
    "EARWORM_API_TOKEN": "api-token-77e1d0aa",
}


@pytest.fixture
def stderr_logs(simcord_bot: EarwormBot) -> Iterator[logging.Handler]:
    """Logging as `earworm` sets it up (bot/logs.py), for the length of the test."""
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(simcord_bot.settings)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@settings(**SECRETS)
async def test_secrets_stay_out_of_logs_and_admin_status(
    server: Server,
    stderr_logs: logging.Handler,
    capsys: pytest.CaptureFixture[str],
):
    # Discord fails with an error that quotes every secret: the bot logs its traceback.
    quoted = " ".join(SECRETS.values())
    server.env.inject_error("POST", "/webhooks/*", message=f"upstream said: {quoted}")
    failed = await server.alice.slash(server.channel, "recommend", count=3)
    [told] = failed.followups  # privately: the public "thinking…" was closed
    assert told.content.startswith("Something went wrong on my side")
    [error] = acknowledge(server)
    status = await server.carol.slash(server.channel, "admin status")

    # The exception the bot logged did quote the secrets ...
    assert all(secret in str(error) for secret in SECRETS.values())
    # ... and none left the process.
    logged = capsys.readouterr().err
    assert "/recommend failed" in logged
    assert "upstream said: *** *** ***" in logged
    shown = [told.content]
    for message in (*status.followups, status.response):
        if message is not None:
            shown += [message.content, *(str(embed.to_dict()) for embed in message.embeds)]
    assert any("Earworm status" in text for text in shown)
    for secret in SECRETS.values():
        assert secret not in logged
        assert all(secret not in text for text in shown)


async def test_model_calls_run_on_their_own_threads_no_more_at_once_than_it_has():
    """Scoring is CPU work: more threads than cores only take turns at the GIL with the
    event loop. Calls beyond `threads` wait for one, on the pool's own threads."""
    calls = ModelCalls(limit=4, wait=5, threads=2)
    lock = threading.Lock()
    running, most, names = 0, 0, set()

    def call() -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            names.add(threading.current_thread().name)
        time.sleep(0.05)
        with lock:
            running -= 1
        return "done"

    results = await asyncio.gather(*(calls.run(call) for _ in range(4)), calls.work(call))
    assert results == ["done"] * 5
    assert most == 2
    assert len(names) == 2
    assert all(name.startswith("earworm-model") for name in names)
    calls.close()
