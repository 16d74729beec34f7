"""Feedback from any member: reactions on cards (add, remove, duplicates, what is ignored),
/like, /dislike, /rate and /history."""

from __future__ import annotations

import pytest
from simcord import OptionError

from storage.models import FeedbackKind, FeedbackSource
from storage.repositories.feedback import FeedbackRecord, user_feedback
from storage.repositories.served import shown_pick
from tests.bot.guild.conftest import Server
from tests.factories import track_id

HALO = track_id(0)


async def feedback_of(server: Server, user_id: int) -> list[FeedbackRecord]:
    async with server.bot.database.sessions() as session:
        return await user_feedback(session, user_id)


async def a_card(server: Server):
    """Bob's card of tracks like Halo; the track it shows."""
    result = await server.bob.slash(server.channel, "similar", track=HALO, count=3)
    card = result.response
    assert card is not None
    async with server.bot.database.sessions() as session:
        shown = await shown_pick(session, card.id)
    assert shown is not None
    return card, shown.track_id


# ------------------------------------------------------------------------- reactions


async def test_alices_thumbs_up_on_bobs_card_is_her_like_and_removing_undoes_it(server: Server):
    card, shown = await a_card(server)

    await server.alice.react(card, "👍")
    [like] = await feedback_of(server, server.alice.id)
    assert (like.track_id, like.kind, like.source) == (
        shown,
        FeedbackKind.LIKE,
        FeedbackSource.REACTION,
    )
    assert (like.message_id, like.guild_id) == (card.id, server.guild.id)
    assert await feedback_of(server, server.bob.id) == []

    await server.alice.unreact(card, "👍")
    assert await feedback_of(server, server.alice.id) == []


async def test_each_seeded_emoji_is_its_feedback(server: Server):
    card, shown = await a_card(server)

    for emoji in ("👍", "❤️", "👎", "⏭️"):
        await server.alice.react(card, emoji)

    kinds = {
        (record.kind, record.track_id) for record in await feedback_of(server, server.alice.id)
    }
    assert kinds == {
        (FeedbackKind.LIKE, shown),
        (FeedbackKind.LOVE, shown),
        (FeedbackKind.DISLIKE, shown),
        (FeedbackKind.SKIP, shown),
    }
    await server.alice.unreact(card, "❤️")
    kinds = {record.kind for record in await feedback_of(server, server.alice.id)}
    assert kinds == {FeedbackKind.LIKE, FeedbackKind.DISLIKE, FeedbackKind.SKIP}


async def test_a_duplicate_gateway_event_is_one_row(server: Server):
    card, _ = await a_card(server)
    await server.alice.react(card, "👍")

    # Discord may deliver an event twice: replay the same MESSAGE_REACTION_ADD.
    backend = server.env.backend
    stored = backend.get_message(server.channel.id, card.id)
    backend._emit_reaction("MESSAGE_REACTION_ADD", stored, "👍", server.alice.id)
    await server.env.settle()

    assert len(await feedback_of(server, server.alice.id)) == 1


async def test_the_bots_own_reactions_record_nothing(server: Server):
    card, _ = await a_card(server)

    assert [r.count for r in card.message.reactions] == [1, 1, 1, 1]
    assert server.bot.user is not None
    assert await feedback_of(server, server.bot.user.id) == []


async def test_reactions_on_other_messages_and_other_emoji_are_ignored(server: Server):
    card, _ = await a_card(server)
    chat = await server.alice.send(server.channel, "what a tune")

    await server.bob.react(chat, "👍")
    await server.bob.react(card, "🎉")
    await server.bob.unreact(card, "🎉")

    assert await feedback_of(server, server.bob.id) == []


async def test_removing_a_reaction_after_next_still_undoes_it(server: Server):
    card, first = await a_card(server)
    await server.alice.react(card, "👍")
    await server.bob.click(card, label="Next")

    await server.alice.unreact(card, "👍")

    assert [r.kind for r in await feedback_of(server, server.alice.id)] == []
    # Bob's skip of the first pick stays.
    [skip] = await feedback_of(server, server.bob.id)
    assert (skip.kind, skip.track_id) == (FeedbackKind.SKIP, first)


# -------------------------------------------------------------------------- commands


async def test_like_and_dislike_commands(server: Server):
    liked = await server.alice.slash(server.channel, "like", track=HALO)
    assert liked.response is not None
    assert liked.response.ephemeral
    assert liked.response.content.startswith("Saved: you like **Halo** — Beyoncé")
    again = await server.alice.slash(server.channel, "like", track=HALO)
    assert again.response is not None
    assert "already" in again.response.content

    disliked = await server.alice.slash(server.channel, "dislike", track="Garage Demo")
    assert disliked.response is not None
    assert disliked.response.ephemeral
    assert "**Garage Demo**" in disliked.response.content

    stored = {(r.track_id, r.kind, r.source) for r in await feedback_of(server, server.alice.id)}
    assert stored == {
        (HALO, FeedbackKind.LIKE, FeedbackSource.COMMAND),
        (track_id(7), FeedbackKind.DISLIKE, FeedbackSource.COMMAND),
    }


async def test_rate_stores_the_stars_and_replaces_them(server: Server):
    rated = await server.alice.slash(server.channel, "rate", track=HALO, stars=4)
    assert rated.response is not None
    assert rated.response.ephemeral
    assert "★★★★☆ (4/5)" in rated.response.content
    await server.alice.slash(server.channel, "rate", track=HALO, stars=2)

    [rating] = await feedback_of(server, server.alice.id)
    assert (rating.kind, rating.value, rating.message_id) == (FeedbackKind.RATING, 2, None)


@pytest.mark.parametrize("stars", [0, 6])
async def test_discord_rejects_stars_out_of_range(server: Server, stars: int):
    with pytest.raises(OptionError):
        await server.alice.slash(server.channel, "rate", track=HALO, stars=stars)
    assert await feedback_of(server, server.alice.id) == []


async def test_unknown_track_is_a_friendly_error(server: Server):
    result = await server.alice.slash(server.channel, "like", track="zzzz nothing like it")
    assert result.response is not None
    assert result.response.ephemeral
    assert "couldn't find" in result.response.content
    server.expect_user_errors(1)


async def test_track_autocomplete_offers_at_most_25(server: Server):
    choices = await server.alice.autocomplete(server.channel, "like", "track", "Queen")
    assert 0 < len(choices) <= 25
    assert {choice["value"] for choice in choices} == {track_id(5), track_id(6)}


# --------------------------------------------------------------------------- history


async def test_history_without_feedback_gives_a_hint(server: Server):
    result = await server.alice.slash(server.channel, "history")
    assert result.response is not None
    assert result.response.ephemeral
    assert "/like" in result.response.content


async def test_history_pages_ten_at_a_time(server: Server):
    for number in range(9):
        await server.alice.slash(server.channel, "like", track=track_id(number))
    for number in range(3):
        await server.alice.slash(server.channel, "dislike", track=track_id(number))

    result = await server.alice.slash(server.channel, "history")
    page = result.response
    assert page is not None
    assert page.ephemeral
    assert len(page.embeds[0].description.splitlines()) == 10
    assert page.embeds[0].footer.text == "Page 1 of 2 · 12 in all"
    # Newest first: the dislikes came last.
    assert page.embeds[0].description.splitlines()[0].startswith("👎 disliked **")
    buttons = {c["label"]: c for row in page.components for c in row["components"]}
    assert buttons["Previous"]["disabled"]

    turned = await server.alice.click(page, label="Next")
    assert turned.response is not None
    second = turned.response.embeds[0]
    assert len(second.description.splitlines()) == 2
    assert second.footer.text == "Page 2 of 2 · 12 in all"
    assert all(line.startswith("👍 liked") for line in second.description.splitlines())

    back = await server.alice.click(turned.response, label="Previous")
    assert back.response is not None
    assert back.response.embeds[0].footer.text == "Page 1 of 2 · 12 in all"
