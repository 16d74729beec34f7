"""Recommendation cards: what a card shows, its buttons, what it remembers, and that all of
it keeps working after the bot restarts.

Most cards here come from a tiny command of the test's own (`/show-card`) that sends a
PickList the test wrote, so every field is known in advance; /similar makes the rest."""

from __future__ import annotations

from dataclasses import dataclass, replace

import discord
import pytest
from discord import app_commands

from bot.app import create_bot
from bot.serving.picks import Pick, PickList
from bot.ui.cards import send_card
from storage.models import FeedbackKind, FeedbackSource
from storage.repositories.tracks import track_details
from tests.bot.guild.conftest import Server
from tests.bot.guild.reads import feedback_of, served, shown_position
from tests.factories import track_id

pytestmark = pytest.mark.simcord(strict_sync=False)

ART = "https://i.scdn.co/image/halo-cover"
HALO, CRAZY, FORMATION = track_id(0), track_id(1), track_id(2)


@dataclass
class CardCommand:
    """What `/show-card` sends next."""

    picks: PickList | None = None
    album_art: str | None = None


@pytest.fixture
def card_command(server: Server) -> CardCommand:
    wanted = CardCommand()

    @app_commands.command(name="show-card", description="Show the test's picks as a card")
    async def show_card(interaction: discord.Interaction) -> None:
        assert wanted.picks is not None
        await send_card(interaction, wanted.picks, wanted.album_art)

    server.bot.tree.add_command(show_card)
    return wanted


async def picks_of(server: Server, *ids: str, **fields: object) -> PickList:
    async with server.bot.database.sessions() as session:
        details = await track_details(session, list(ids))
    picks = tuple(Pick(track, f"reason {n}") for n, track in enumerate(details))
    base = PickList("Picks for you", picks, "hybrid", "7")
    return replace(base, **fields)  # type: ignore[arg-type]


async def show(server: Server, command: CardCommand, picks: PickList, **kwargs: object):
    command.picks = picks
    command.album_art = kwargs.get("album_art")  # type: ignore[assignment]
    result = await server.bob.slash(server.channel, "show-card")
    assert result.response is not None
    return result.response


def footer(card) -> str:
    return card.embeds[0].footer.text


# --------------------------------------------------------------------------- the card


async def test_card_shows_the_first_pick_with_links_bars_and_footer(
    server: Server, card_command: CardCommand
):
    picks = await picks_of(server, HALO, CRAZY, FORMATION)
    card = await show(server, card_command, picks, album_art=ART)

    assert not card.ephemeral
    assert card.content == ""
    embed = card.embeds[0]
    assert embed.title == "Halo — Beyoncé"
    assert embed.url == f"https://open.spotify.com/track/{HALO}"
    assert embed.author.name == "Picks for you"
    assert embed.description == "reason 0"
    fields = {field.name: field.value for field in embed.fields}
    assert fields["Album"] == "Halo (Album)"
    assert fields["Genres"] == "pop"
    bars = fields["Sound"].splitlines()
    assert [line.split("`")[1].strip() for line in bars] == ["Dance", "Energy", "Mood", "Acoustic"]
    assert all(len(line.split()[-1]) == 10 and set(line.split()[-1]) <= {"▰", "▱"} for line in bars)
    assert f"https://open.spotify.com/embed/track/{HALO}" in fields["Listen"]
    assert embed.thumbnail.url == ART
    assert footer(card) == "Pick 1 of 3 · hybrid v7"

    buttons = [c["label"] for row in card.components for c in row["components"]]
    assert buttons == ["Like", "Love", "Dislike", "Next"]
    reactions = card.message.reactions
    assert [str(r.emoji) for r in reactions] == ["👍", "❤️", "👎", "⏭️"]
    assert all(r.count == 1 for r in reactions)  # the bot's own, seeded


async def test_every_pick_is_stored_as_served_with_the_first_shown(
    server: Server, card_command: CardCommand
):
    picks = await picks_of(server, HALO, CRAZY, FORMATION)
    card = await show(server, card_command, picks)

    items = await served(server, card.id)
    assert [(i.position, i.track_id) for i in items] == [(0, HALO), (1, CRAZY), (2, FORMATION)]
    assert {(i.user_id, i.guild_id, i.channel_id) for i in items} == {
        (server.bob.id, server.guild.id, server.channel.id)
    }
    assert {(i.model_kind, i.model_version) for i in items} == {("hybrid", "7")}
    assert [i.reason for i in items] == ["reason 0", "reason 1", "reason 2"]
    assert [i.shown_at is not None for i in items] == [True, False, False]
    # Seeding the reactions recorded nobody's feedback.
    assert await feedback_of(server, server.bob.id) == []


async def test_catalog_text_is_escaped_and_a_notice_is_shown(
    server: Server, card_command: CardCommand
):
    picks = await picks_of(server, HALO, notice="No trained model yet: popular picks.")
    track = replace(picks.picks[0].track, name="**Halo** @everyone", album="_Live_")
    picks = replace(picks, picks=(Pick(track, "like *this*"),))
    card = await show(server, card_command, picks)

    embed = card.embeds[0]
    assert embed.title == "\\*\\*Halo\\*\\* @\u200beveryone — Beyoncé"
    assert embed.description == "like \\*this\\*"
    assert {f.name: f.value for f in embed.fields}["Album"] == "\\_Live\\_"
    assert card.content == "No trained model yet: popular picks."


async def test_long_names_stay_within_discord_limits(server: Server, card_command: CardCommand):
    picks = await picks_of(server, HALO)
    track = replace(picks.picks[0].track, name="n" * 400, album="a" * 2000)
    picks = replace(picks, picks=(Pick(track, "r" * 5000),))
    card = await show(server, card_command, picks)

    embed = card.embeds[0]
    assert len(embed.title) == 256
    assert len(embed.description) == 4096
    assert all(len(field.value) <= 1024 for field in embed.fields)


async def test_no_picks_gets_a_friendly_message_and_no_card(
    server: Server, card_command: CardCommand
):
    empty = PickList("Picks for you", (), "hybrid", "7", notice="Nothing new in that genre.")
    card = await show(server, card_command, empty)

    assert card.embeds == []
    assert card.components == []
    assert card.content.startswith("Nothing new in that genre.\n")
    assert "/like" in card.content
    assert await served(server, card.id) == []


# ------------------------------------------------------------------------ the buttons


async def test_like_button_saves_for_the_presser_and_twice_is_once(
    server: Server, card_command: CardCommand
):
    card = await show(server, card_command, await picks_of(server, HALO, CRAZY))

    first = await server.alice.click(card, label="Like")
    assert first.response is not None
    assert first.response.ephemeral
    assert "Saved: you like **Halo**" in first.response.content
    again = await server.alice.click(card, label="Like")
    assert again.response is not None
    assert again.response.ephemeral
    assert "already" in again.response.content

    [like] = await feedback_of(server, server.alice.id)
    assert (like.track_id, like.kind, like.source) == (
        HALO,
        FeedbackKind.LIKE,
        FeedbackSource.BUTTON,
    )
    assert (like.message_id, like.guild_id) == (card.id, server.guild.id)
    assert await feedback_of(server, server.bob.id) == []


async def test_love_and_dislike_buttons(server: Server, card_command: CardCommand):
    card = await show(server, card_command, await picks_of(server, HALO))

    loved = await server.alice.click(card, label="Love")
    disliked = await server.carol.click(card, label="Dislike")

    assert loved.response is not None
    assert "love" in loved.response.content
    assert disliked.response is not None
    assert "not for you" in disliked.response.content
    [love] = await feedback_of(server, server.alice.id)
    [dislike] = await feedback_of(server, server.carol.id)
    assert (love.kind, love.track_id) == (FeedbackKind.LOVE, HALO)
    assert (dislike.kind, dislike.track_id) == (FeedbackKind.DISLIKE, HALO)


async def test_next_shows_the_following_pick_in_place(server: Server, card_command: CardCommand):
    card = await show(server, card_command, await picks_of(server, HALO, CRAZY))

    pressed = await server.alice.click(card, label="Next")

    assert pressed.response is not None
    assert pressed.response.id == card.id  # the same message, edited
    edited = pressed.response.embeds[0]
    assert edited.title == "Crazy in Love — Beyoncé"
    assert edited.description == "reason 1"
    assert edited.author.name == "Picks for you"
    assert edited.footer.text == "Pick 2 of 2 · hybrid v7"
    assert [c["label"] for row in pressed.response.components for c in row["components"]] == [
        "Like",
        "Love",
        "Dislike",
        "Next",
    ]
    assert await shown_position(server, card.id) == 1
    [skip] = await feedback_of(server, server.alice.id)
    assert (skip.kind, skip.track_id, skip.source) == (
        FeedbackKind.SKIP,
        HALO,
        FeedbackSource.BUTTON,
    )

    # Reactions and buttons now mean the new pick.
    await server.bob.react(card, "👍")
    await server.carol.click(card, label="Love")
    [like] = await feedback_of(server, server.bob.id)
    [love] = await feedback_of(server, server.carol.id)
    assert (like.track_id, love.track_id) == (CRAZY, CRAZY)


async def test_next_after_a_like_is_not_a_skip(server: Server, card_command: CardCommand):
    card = await show(server, card_command, await picks_of(server, HALO, CRAZY, FORMATION))
    await server.alice.react(card, "👍")  # alice likes Halo, then moves on
    await server.alice.click(card, label="Next")
    await server.alice.click(card, label="Next")  # Crazy in Love: not liked, so skipped
    kinds = sorted((f.kind, f.track_id) for f in await feedback_of(server, server.alice.id))
    assert kinds == sorted([(FeedbackKind.LIKE, HALO), (FeedbackKind.SKIP, CRAZY)])


async def test_next_at_the_last_pick_says_so(server: Server, card_command: CardCommand):
    card = await show(server, card_command, await picks_of(server, HALO))

    pressed = await server.alice.click(card, label="Next")

    assert pressed.response is not None
    assert pressed.response.ephemeral
    assert "last pick" in pressed.response.content
    assert "/recommend" in pressed.response.content
    assert footer(now_showing(server, card)) == "Pick 1 of 1 · hybrid v7"
    assert await shown_position(server, card.id) == 0


def now_showing(server: Server, card) -> discord.Message:
    """The card as the channel shows it now."""
    return next(m for m in server.channel.history() if m.id == card.id)


# ---------------------------------------------------------------------- after restart


async def test_buttons_and_reactions_on_old_cards_work_after_a_restart(
    server: Server, card_command: CardCommand
):
    card = await show(server, card_command, await picks_of(server, HALO, CRAZY, FORMATION))
    await server.alice.click(card, label="Next")  # the card shows Crazy in Love

    await server.env.restart_bot(create_bot(server.bot.settings))

    await server.bob.react(card, "👍")
    [like] = await feedback_of(server, server.bob.id)
    assert (like.track_id, like.kind, like.source) == (
        CRAZY,
        FeedbackKind.LIKE,
        FeedbackSource.REACTION,
    )
    loved = await server.carol.click(card, label="Love")
    assert loved.response is not None
    assert "Crazy in Love" in loved.response.content

    pressed = await server.alice.click(card, label="Next")
    assert pressed.response is not None
    assert pressed.response.embeds[0].title == "Formation — Beyoncé"
    assert pressed.response.embeds[0].footer.text == "Pick 3 of 3 · hybrid v7"
    assert await shown_position(server, card.id) == 2
    await server.bob.unreact(card, "👍")
    assert await feedback_of(server, server.bob.id) == []


async def test_similar_makes_a_card_from_the_engine(server: Server):
    result = await server.alice.slash(server.channel, "similar", track=HALO, count=3)

    card = result.response
    assert card is not None
    assert not card.ephemeral
    embed = card.embeds[0]
    assert embed.author.name == "Like Halo by Beyoncé"  # mode normal: style, then sound
    assert embed.footer.text.startswith("Pick 1 of 3 · content")
    items = await served(server, card.id)
    assert len(items) == 3
    assert HALO not in [item.track_id for item in items]
    assert embed.url == f"https://open.spotify.com/track/{items[0].track_id}"
    assert embed.description == items[0].reason
