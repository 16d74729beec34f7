"""The commands that show cards: /recommend, /similar, /mix, /trending, and their genre
options."""

from __future__ import annotations

import pytest
from simcord import OptionError

from storage.repositories.served import ServedItem, served_for_message
from tests.bot.guild.conftest import Server
from tests.factories import track_id

HALO, BOHEMIAN = track_id(0), track_id(5)


async def served(server: Server, message_id: int) -> list[ServedItem]:
    async with server.bot.database.sessions() as session:
        return await served_for_message(session, message_id)


def deferred_first(server: Server) -> bool:
    """Whether the bot's first answer to the last command was a defer (type 5)."""
    callbacks = [entry for entry in server.env.transcript().splitlines() if "/callback" in entry]
    return bool(callbacks) and "{'type': 5}" in callbacks[-1]


async def test_recommend_defers_then_shows_a_card_of_personal_picks(server: Server):
    result = await server.alice.slash(server.channel, "recommend", count=3)

    assert deferred_first(server)
    card = result.response
    assert card is not None
    assert not card.ephemeral
    embed = card.embeds[0]
    assert embed.author.name == "Picks for you"
    assert embed.footer.text.startswith("Pick 1 of 3 · hybrid")
    items = await served(server, card.id)
    assert [item.position for item in items] == [0, 1, 2]
    assert {item.user_id for item in items} == {server.alice.id}
    assert embed.url == f"https://open.spotify.com/track/{items[0].track_id}"
    assert [str(r.emoji) for r in card.message.reactions] == ["👍", "❤️", "👎", "⏭️"]


async def test_recommend_in_a_genre(server: Server):
    result = await server.alice.slash(server.channel, "recommend", genre="ROCK")

    card = result.response
    assert card is not None
    assert card.embeds[0].author.name == "Picks for you in rock"
    tracks = {item.track_id for item in await served(server, card.id)}
    assert tracks <= {track_id(5), track_id(6)}


async def test_an_unknown_genre_is_answered_privately_before_deferring(server: Server):
    result = await server.alice.slash(server.channel, "recommend", genre="polka")

    assert result.response is not None
    assert result.response.ephemeral
    assert "polka" in result.response.content
    assert not deferred_first(server)
    server.expect_user_errors(1)


async def test_discord_rejects_a_count_out_of_range(server: Server):
    with pytest.raises(OptionError):
        await server.alice.slash(server.channel, "recommend", count=11)


async def test_similar_in_genre_mode(server: Server):
    result = await server.alice.slash(
        server.channel, "similar", track=BOHEMIAN, mode="genre", count=1
    )

    card = result.response
    assert card is not None
    assert card.embeds[0].author.name == "Sounds like Bohemian Rhapsody by Queen (same genre)"
    [item] = await served(server, card.id)
    assert item.track_id == track_id(6)  # the only other rock song
    assert item.model_kind == "content"


async def test_mix_of_two_songs(server: Server):
    result = await server.alice.slash(server.channel, "mix", track1=HALO, track2=BOHEMIAN, count=4)

    card = result.response
    assert card is not None
    assert card.embeds[0].author.name == "A mix of 2 tracks"
    tracks = [item.track_id for item in await served(server, card.id)]
    assert len(tracks) == 4
    assert not {HALO, BOHEMIAN} & set(tracks)


async def test_trending_on_the_server_and_everywhere(server: Server):
    here = await server.alice.slash(server.channel, "trending")
    everywhere = await server.alice.slash(server.channel, "trending", scope="global", count=2)

    assert here.response is not None
    assert here.response.embeds[0].author.name == "Trending on this server"
    assert everywhere.response is not None
    assert everywhere.response.embeds[0].author.name == "Trending on Earworm"
    assert len(await served(server, everywhere.response.id)) == 2


async def test_genre_autocomplete(server: Server):
    everything = await server.alice.autocomplete(server.channel, "recommend", "genre", "")
    assert 0 < len(everything) <= 25
    assert {choice["value"] for choice in everything} == {
        "pop",
        "hip hop",
        "synth-pop",
        "rock",
        "indie",
    }
    assert everything[0]["value"] == "pop"  # the biggest genre first

    typed = await server.alice.autocomplete(server.channel, "trending", "genre", "po")
    assert [choice["value"] for choice in typed] == ["pop", "synth-pop"]
