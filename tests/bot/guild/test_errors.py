"""When things go wrong: Discord failing under the bot (errors injected with
`env.inject_error`), the central error handler's answers, and deferral of the slow commands.

Each failure must reach the member as a short message, keep its traceback in the log, and
leave the database as if the failed step had not happened (a retry records nothing twice).
"""

from __future__ import annotations

import logging

import discord
import pytest
from discord import app_commands
from sqlalchemy import func, select, text

from bot.ui.cards import BUTTON_FAILED
from storage.models import Feedback, FeedbackKind, RecommendationServed
from tests.bot.guild.conftest import Server
from tests.bot.guild.reads import feedback_of, served, shown_position
from tests.factories import track_id

APOLOGY = "Something went wrong on my side. Please try again in a moment."
HALO, BOHEMIAN = track_id(0), track_id(5)
DEFERRED_CHANNEL_MESSAGE = 5  # the interaction callback type of a defer with "thinking"


async def count_rows(server: Server, model: type) -> int:
    async with server.bot.database.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def raised(server: Server) -> list[BaseException]:
    """What the bot's commands raised, unwrapped (reading them acknowledges them, so the
    test, not SimCord's teardown, judges them)."""
    return [getattr(error, "original", error) for error in server.env.errors]


def tracebacks(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == logger and record.levelno >= logging.ERROR and record.exc_info
    ]


def footer(message: discord.Message) -> str:
    return message.embeds[0].footer.text or ""


# ------------------------------------------------------------ Discord fails under the bot


async def test_a_card_discord_refuses_is_told_and_a_retry_stores_one_card(
    server: Server, caplog: pytest.LogCaptureFixture
):
    server.env.inject_error("POST", "/webhooks/*")  # the card, sent after the defer

    failed = await server.alice.slash(server.channel, "recommend", count=3)

    # "Earworm is thinking…" never hangs there: it is closed, and the apology goes to alice
    # alone (after a public "thinking…" it would otherwise be the channel's to read).
    assert failed.response is None
    [apology] = failed.followups
    assert apology.content == APOLOGY
    assert apology.ephemeral
    assert apology.embeds == []
    [error] = raised(server)
    assert isinstance(error, discord.HTTPException)
    assert error.status == 500
    assert tracebacks(caplog, "bot.app")
    assert await count_rows(server, RecommendationServed) == 0

    retried = await server.alice.slash(server.channel, "recommend", count=3)

    card = retried.response
    assert card is not None
    assert card.embeds
    assert await count_rows(server, RecommendationServed) == 3
    assert len(await served(server, card.id)) == 3
    assert await count_rows(server, Feedback) == 0
    assert raised(server) == [error]  # nothing new


@pytest.mark.parametrize(("status", "code"), [(403, 50013), (500, 0)])
async def test_a_card_whose_reactions_cannot_be_seeded_still_works(
    server: Server, status: int, code: int
):
    server.env.inject_error(
        "PUT", "/channels/*/messages/*/reactions/*", status=status, code=code, times=None
    )

    result = await server.alice.slash(server.channel, "recommend", count=3)

    card = result.response
    assert card is not None
    assert card.embeds
    assert card.message.reactions == []
    [first, *_] = await served(server, card.id)
    pressed = await server.bob.click(card, label="Like")
    assert pressed.response is not None
    assert pressed.response.ephemeral
    assert pressed.response.content.startswith("Saved: you like")
    await server.alice.react(card, "👎")  # members can still react themselves
    [like] = await feedback_of(server, server.bob.id)
    [dislike] = await feedback_of(server, server.alice.id)
    assert (like.track_id, like.kind) == (first.track_id, FeedbackKind.LIKE)
    assert (dislike.track_id, dislike.kind) == (first.track_id, FeedbackKind.DISLIKE)
    assert raised(server) == []


async def test_a_failed_next_is_told_and_the_card_stays_on_its_pick(
    server: Server, caplog: pytest.LogCaptureFixture
):
    result = await server.alice.slash(server.channel, "recommend", count=3)
    card = result.response
    assert card is not None
    picks = await served(server, card.id)
    server.env.inject_error("PATCH", "/webhooks/*/messages/@original")

    pressed = await server.bob.click(card, label="Next")

    [told] = pressed.followups
    assert told.ephemeral
    assert told.content == BUTTON_FAILED
    assert footer(card.message).startswith("Pick 1 of 3")
    assert await shown_position(server, card.id) == 0
    assert tracebacks(caplog, "bot.ui.cards")
    # A reaction still counts for the pick on screen, not the one that failed to show.
    await server.bob.react(card, "👍")
    liked = [r for r in await feedback_of(server, server.bob.id) if r.kind is FeedbackKind.LIKE]
    assert [r.track_id for r in liked] == [picks[0].track_id]

    again = await server.bob.click(card, label="Next")

    assert again.followups == []
    assert footer(card.message).startswith("Pick 2 of 3")
    assert await shown_position(server, card.id) == 1
    skips = [r for r in await feedback_of(server, server.bob.id) if r.kind is FeedbackKind.SKIP]
    assert [r.track_id for r in skips] == [picks[0].track_id]  # pressed twice, stored once
    assert raised(server) == []


async def test_a_like_whose_reply_fails_is_told_and_a_retry_is_not_a_second_like(
    server: Server,
):
    server.env.inject_error("POST", "/interactions/*/callback")

    failed = await server.alice.slash(server.channel, "like", track=HALO)

    assert failed.response is not None
    assert failed.response.ephemeral
    assert failed.response.content == APOLOGY
    assert len(raised(server)) == 1

    retried = await server.alice.slash(server.channel, "like", track=HALO)

    assert retried.response is not None
    assert retried.response.content.startswith("You already told me you like **Halo**")
    [like] = await feedback_of(server, server.alice.id)
    assert (like.track_id, like.kind) == (HALO, FeedbackKind.LIKE)


async def test_when_discord_fails_the_apology_too_the_handler_only_logs(
    server: Server, caplog: pytest.LogCaptureFixture
):
    server.env.inject_error("POST", "/interactions/*/callback", times=None)

    result = await server.alice.slash(server.channel, "history")

    assert result.response is None
    [error] = raised(server)  # the command's failure, and no second one from the handler
    assert isinstance(error, discord.HTTPException)
    assert tracebacks(caplog, "bot.app")
    assert any(
        record.name == "bot.app" and "could not tell the member" in record.getMessage()
        for record in caplog.records
    )


# ------------------------------------------------------------- the central error handler


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("similar", {"track": "zzzz no such song"}),
        ("like", {"track": "zzzz no such song"}),
        ("mix", {"track1": HALO, "track2": "zzzz no such song"}),
    ],
)
async def test_an_unknown_track_asks_to_pick_from_the_list(
    server: Server, command: str, options: dict[str, str]
):
    result = await server.alice.slash(server.channel, command, **options)

    assert result.response is not None
    assert result.response.ephemeral
    assert not result.deferred
    message = result.response.content
    assert "zzzz no such song" in message
    assert "pick a suggestion from the list" in message
    assert len(message) < 200
    server.expect_user_errors(1)
    assert await count_rows(server, Feedback) == 0
    assert await count_rows(server, RecommendationServed) == 0


async def test_a_bug_gets_the_apology_and_the_log_keeps_the_traceback(
    server: Server, caplog: pytest.LogCaptureFixture
):
    async with server.bot.database.sessions() as session:  # the database breaks
        await session.execute(text("ALTER TABLE feedback RENAME TO feedback_lost"))
        await session.commit()

    result = await server.alice.slash(server.channel, "history")

    assert result.response is not None
    assert result.response.ephemeral
    assert result.response.content == APOLOGY
    [error] = raised(server)
    # SQLite and PostgreSQL word it differently.
    assert any(
        words in str(error)
        for words in ("no such table: feedback", 'relation "feedback" does not exist')
    )
    [record] = tracebacks(caplog, "bot.app")
    assert record.getMessage() == "/history failed"
    assert record.exc_info is not None
    assert record.exc_info[1] is error


@pytest.fixture
def guarded_commands(server: Server) -> None:
    """Two commands of the test's own, guarded as future commands might be."""

    @app_commands.command(name="slow-ping", description="At most once a minute")
    @app_commands.checks.cooldown(1, 60.0)
    async def slow_ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong", ephemeral=True)

    @app_commands.command(name="tidy-up", description="Needs Manage Messages")
    @app_commands.checks.has_permissions(manage_messages=True)
    async def tidy_up(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("tidied", ephemeral=True)

    server.bot.tree.add_command(slow_ping)
    server.bot.tree.add_command(tidy_up)


@pytest.mark.simcord(strict_sync=False)
@pytest.mark.usefixtures("guarded_commands")
async def test_a_cooldown_says_when_to_retry(server: Server):
    first = await server.alice.slash(server.channel, "slow-ping")
    second = await server.alice.slash(server.channel, "slow-ping")

    assert first.response is not None
    assert first.response.content == "pong"
    assert second.response is not None
    assert second.response.ephemeral
    assert second.response.content == "Easy there! Try again in 60 s."
    [error] = raised(server)
    assert isinstance(error, app_commands.CommandOnCooldown)


@pytest.mark.simcord(strict_sync=False)
@pytest.mark.usefixtures("guarded_commands")
async def test_a_missing_permission_is_named(server: Server):
    result = await server.alice.slash(server.channel, "tidy-up")

    assert result.response is not None
    assert result.response.ephemeral
    assert result.response.content == "You need the Manage Messages permission to use that command."
    [error] = raised(server)
    assert isinstance(error, app_commands.MissingPermissions)


# -------------------------------------------------------------------------------- deferral


def first_callback_type(server: Server, since: int) -> int | None:
    """The type of the bot's first answer to the interaction after request `since`."""
    for request in server.env.http_requests[since:]:
        if request.method == "POST" and request.path.endswith("/callback"):
            return int(request.json["type"])
    return None


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("recommend", {"count": 3}),
        ("similar", {"track": BOHEMIAN}),
        ("mix", {"track1": HALO, "track2": BOHEMIAN}),
        ("profile", {}),
        ("export-me", {}),
    ],
)
async def test_slow_commands_defer_first(server: Server, command: str, options: dict[str, str]):
    await server.alice.slash(server.channel, "like", track=HALO)  # something for /profile
    since = len(server.env.http_requests)

    result = await server.alice.slash(server.channel, command, **options)

    assert first_callback_type(server, since) == DEFERRED_CHANNEL_MESSAGE
    answered = result.response
    assert answered is not None
    assert answered.embeds or answered.attachments
    assert raised(server) == []
