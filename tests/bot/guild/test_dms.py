"""Earworm in a DM with the bot: the member's own commands work there and what they say
is stored without a server; the server-only ones are not offered, or say so."""

from __future__ import annotations

import json

from simcord.builders import UserHandle

from storage.models import FeedbackKind, FeedbackSource
from tests.bot.guild.conftest import Server
from tests.bot.guild.reads import feedback_of, served
from tests.factories import track_id

HALO, BOHEMIAN = track_id(0), track_id(5)
EVERYDAY = {
    "recommend",
    "similar",
    "mix",
    "artist",
    "trending",
    "like",
    "dislike",
    "rate",
    "history",
    "profile",
    "taste",
    "forget-me",
    "export-me",
    "help",
    "import spotify",
    "import lastfm",
    "listening",
}


def in_dm(server: Server) -> UserHandle:
    return server.alice.user


async def test_a_dm_offers_every_command_but_admin(server: Server):
    here = set(in_dm(server).available_commands())
    in_the_server = set(server.carol.available_commands(server.channel))

    admin = {name for name in in_the_server if name.startswith("admin ")}
    assert admin
    assert here == EVERYDAY == in_the_server - admin


async def test_help_in_a_dm_lists_no_admin_commands(server: Server):
    result = await in_dm(server).slash("help")

    assert result.response is not None
    shown = "\n".join(field.value or "" for field in result.response.embeds[0].fields)
    assert "`/recommend" in shown
    assert "/admin" not in shown


async def test_a_card_in_a_dm_takes_reactions_and_buttons_without_a_server(server: Server):
    alice = in_dm(server)

    result = await alice.slash("recommend", count=3)

    card = result.response
    assert card is not None
    assert card.embeds
    assert card.channel_id == alice.dm_channel.id
    picks = await served(server, card.id)
    assert len(picks) == 3
    assert {item.guild_id for item in picks} == {None}
    assert [str(r.emoji) for r in card.message.reactions] == ["👍", "❤️", "👎", "⏭️"]

    await alice.set_reaction(card, "👍", reacted=True)
    pressed = await alice.click(card, label="Love")

    assert pressed.response is not None
    assert pressed.response.ephemeral
    records = await feedback_of(server, alice.id)
    assert {(r.kind, r.source, r.guild_id, r.track_id) for r in records} == {
        (FeedbackKind.LIKE, FeedbackSource.REACTION, None, picks[0].track_id),
        (FeedbackKind.LOVE, FeedbackSource.BUTTON, None, picks[0].track_id),
    }

    await alice.set_reaction(card, "👍", reacted=False)
    assert [r.kind for r in await feedback_of(server, alice.id)] == [FeedbackKind.LOVE]


async def test_like_rate_history_profile_and_export_in_a_dm(server: Server):
    alice = in_dm(server)

    liked = await alice.slash("like", track=HALO)
    rated = await alice.slash("rate", track=BOHEMIAN, stars=4)

    assert liked.response is not None
    assert liked.response.content.startswith("Saved")
    assert rated.response is not None
    assert rated.response.content.startswith("Saved")
    records = await feedback_of(server, alice.id)
    assert {(r.track_id, r.kind, r.guild_id) for r in records} == {
        (HALO, FeedbackKind.LIKE, None),
        (BOHEMIAN, FeedbackKind.RATING, None),
    }

    history = await alice.slash("history")
    assert history.response is not None
    assert "Halo" in (history.response.embeds[0].description or "")

    profile = await alice.slash("profile")
    assert profile.response is not None
    [embed] = profile.response.embeds
    assert embed.title == "🎧 alice's taste"
    assert "this server" not in (embed.footer.text or "")  # no server to compare with
    assert [a.filename for a in profile.response.attachments] == ["taste.png"]

    exported = await alice.slash("export-me")
    assert exported.response is not None
    assert exported.response.ephemeral
    data = json.loads(await exported.response.attachments[0].read())
    assert {entry["guild_id"] for entry in data["feedback"]} == {None}
    assert len(data["feedback"]) == 2


async def test_similar_mix_and_trending_in_a_dm(server: Server):
    alice = in_dm(server)

    choices = await alice.autocomplete("similar", "track", "Queen")
    similar = await alice.slash("similar", track=BOHEMIAN, count=2)
    mix = await alice.slash("mix", track1=HALO, track2=BOHEMIAN, count=2)
    trending = await alice.slash("trending", count=2)

    assert {choice["value"] for choice in choices} == {BOHEMIAN, track_id(6)}
    for result in (similar, mix, trending):
        assert result.response is not None
        assert result.response.embeds
        assert len(await served(server, result.response.id)) == 2
    assert trending.response is not None
    assert trending.response.embeds[0].author.name == "Trending on Earworm"  # everyone's


async def test_the_server_chart_in_a_dm_says_it_needs_a_server(server: Server):
    result = await in_dm(server).slash("trending", scope="server")

    assert result.response is not None
    assert result.response.ephemeral
    assert not result.deferred
    assert "Run `/trending` in a server" in result.response.content
    server.expect_user_errors(1)
