"""/forget-me (confirm, cancel, time out; only the caller's data goes) and /export-me."""

from __future__ import annotations

import json

import pytest
from simcord.backend.errors import SetupError
from simcord.components import walk_components
from simcord.results import InteractionResult, ResponseMessage
from sqlalchemy import func, select

from storage.models import Feedback, FeedbackKind, FeedbackSource, RecommendationServed, User
from storage.repositories.feedback import FeedbackEvent, record_feedback
from storage.repositories.served import ServedItem, record_served
from tests.bot.guild.conftest import Server
from tests.factories import track_id

MESSAGE = 777_777_777_777_777_777


@pytest.fixture
async def feedback(server: Server) -> Server:
    """alice: two reactions, a rating (in a DM) and a card of two picks; bob: one like."""
    events = [
        (server.alice.id, server.guild.id, 0, FeedbackKind.LIKE, MESSAGE, None),
        (server.alice.id, server.guild.id, 5, FeedbackKind.DISLIKE, MESSAGE + 1, None),
        (server.alice.id, None, 2, FeedbackKind.RATING, None, 4),
        (server.bob.id, server.guild.id, 0, FeedbackKind.LIKE, MESSAGE, None),
    ]
    async with server.bot.database.sessions() as session, session.begin():
        for user, guild, number, kind, message, stars in events:
            await record_feedback(
                session,
                FeedbackEvent(
                    user_id=user,
                    guild_id=guild,
                    track_id=track_id(number),
                    kind=kind,
                    source=FeedbackSource.REACTION if message else FeedbackSource.COMMAND,
                    message_id=message,
                    value=stars,
                ),
            )
        await record_served(
            session,
            [
                ServedItem(
                    message_id=MESSAGE,
                    channel_id=server.channel.id,
                    guild_id=server.guild.id,
                    user_id=server.alice.id,
                    track_id=track_id(number),
                    position=position,
                    model_kind="hybrid",
                )
                for position, number in enumerate((0, 1))
            ],
        )
    return server


async def stored(server: Server, user_id: int) -> tuple[int, ...]:
    """(feedback, recommendations served, user) rows about `user_id`."""
    counts = []
    async with server.bot.database.sessions() as session:
        for model, column in (
            (Feedback, Feedback.user_id),
            (RecommendationServed, RecommendationServed.user_id),
            (User, User.id),
        ):
            statement = select(func.count()).select_from(model).where(column == user_id)
            counts.append(await session.scalar(statement) or 0)
    return tuple(counts)


def prompt_of(result: InteractionResult) -> ResponseMessage:
    message = result.response
    assert message is not None
    return message


def buttons(message: ResponseMessage) -> dict[str, dict[str, object]]:
    return {
        str(component.get("label")): component
        for component in walk_components(message.components)
        if component.get("type") == 2
    }


@pytest.mark.usefixtures("feedback")
async def test_forget_me_asks_first_with_a_red_button(server: Server) -> None:
    prompt = prompt_of(await server.alice.slash(server.channel, "forget-me"))

    assert prompt.ephemeral
    assert "your 3 feedback entries (likes" in prompt.content
    shown = buttons(prompt)
    assert set(shown) == {"Delete my data", "Cancel"}
    assert shown["Delete my data"]["style"] == 4  # danger: red
    assert await stored(server, server.alice.id) == (3, 2, 1)


@pytest.mark.usefixtures("feedback")
async def test_confirm_deletes_every_row_about_the_caller_only(server: Server) -> None:
    assert await stored(server, server.alice.id) == (3, 2, 1)
    assert await stored(server, server.bob.id) == (1, 0, 1)
    result = await server.alice.slash(server.channel, "forget-me")

    await server.alice.click(prompt_of(result), label="Delete my data")

    assert await stored(server, server.alice.id) == (0, 0, 0)
    assert await stored(server, server.bob.id) == (1, 0, 1)
    done = prompt_of(result)
    assert done.content.startswith(
        "Done: I deleted 3 feedback entries, 2 recommendations shown to you and 1 member record."
    )
    assert done.ephemeral
    assert buttons(done) == {}


@pytest.mark.usefixtures("feedback")
async def test_cancel_keeps_everything(server: Server) -> None:
    result = await server.alice.slash(server.channel, "forget-me")

    await server.alice.click(prompt_of(result), label="Cancel")

    assert await stored(server, server.alice.id) == (3, 2, 1)
    assert prompt_of(result).content == "Cancelled: nothing was deleted."
    assert buttons(prompt_of(result)) == {}


@pytest.mark.usefixtures("feedback")
async def test_no_one_else_can_press_the_button(server: Server) -> None:
    result = await server.alice.slash(server.channel, "forget-me")

    # The prompt is ephemeral: bob cannot even see it, let alone press it.
    with pytest.raises(SetupError, match="not visible"):
        await server.bob.click(prompt_of(result), label="Delete my data")

    assert await stored(server, server.alice.id) == (3, 2, 1)
    assert await stored(server, server.bob.id) == (1, 0, 1)


@pytest.mark.usefixtures("feedback")
async def test_the_prompt_times_out_after_a_minute_with_buttons_disabled(server: Server) -> None:
    result = await server.alice.slash(server.channel, "forget-me")

    await server.env.advance_time(59)
    assert not any(button.get("disabled") for button in buttons(prompt_of(result)).values())
    await server.env.advance_time(2)

    prompt = prompt_of(result)
    assert "nothing was deleted" in prompt.content
    assert all(button.get("disabled") for button in buttons(prompt).values())
    assert len(buttons(prompt)) == 2
    with pytest.raises(SetupError, match="disabled"):
        await server.alice.click(prompt, label="Delete my data")
    assert await stored(server, server.alice.id) == (3, 2, 1)


async def test_forget_me_with_nothing_stored(server: Server) -> None:
    result = await server.carol.slash(server.channel, "forget-me")

    await server.carol.click(prompt_of(result), label="Delete my data")

    assert "nothing to delete" in prompt_of(result).content


@pytest.mark.usefixtures("feedback")
async def test_export_me_is_an_ephemeral_json_file_of_my_feedback(server: Server) -> None:
    result = await server.alice.slash(server.channel, "export-me")

    message = prompt_of(result)
    assert message.ephemeral
    assert "3 feedback entries" in message.content
    [attachment] = message.attachments
    assert attachment.filename == f"earworm-data-{server.alice.id}.json"
    data = json.loads(await attachment.read())
    assert data["user_id"] == str(server.alice.id)
    assert sorted((row["track_id"], row["kind"]) for row in data["feedback"]) == [
        (track_id(0), "like"),
        (track_id(2), "rating"),
        (track_id(5), "dislike"),
    ]
    assert [row["value"] for row in data["feedback"] if row["kind"] == "rating"] == [4]


async def test_export_me_with_nothing_stored(server: Server) -> None:
    result = await server.carol.slash(server.channel, "export-me")

    message = prompt_of(result)
    assert "0 feedback entries" in message.content
    data = json.loads(await message.attachments[0].read())
    assert (data["feedback"], data["recommendations_served"]) == ([], [])


@pytest.mark.usefixtures("feedback")
async def test_forget_me_and_export_me_work_in_dms(server: Server) -> None:
    exported = await server.alice.user.slash("export-me")
    data = json.loads(await prompt_of(exported).attachments[0].read())
    assert len(data["feedback"]) == 3

    result = await server.alice.user.slash("forget-me")
    await server.alice.user.click(prompt_of(result), label="Delete my data")

    assert await stored(server, server.alice.id) == (0, 0, 0)
