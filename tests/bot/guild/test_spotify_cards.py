"""Album art on cards from Spotify (a local fake of its Web API): shown when Spotify
answers, and when it fails the cards still work, without art and without an error."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import EarwormBot, create_bot
from bot.settings import load_settings
from storage.repositories.served import ServedItem, served_for_message
from tests.bot.guild.conftest import Server
from tests.bot.world import TRACKS
from tests.factories import track_id
from tests.fakes.spotify_server import FakeSpotify

BOHEMIAN = track_id(5)


@pytest.fixture
def spotify() -> Iterator[FakeSpotify]:
    """A fake Spotify that knows every catalog track."""
    with FakeSpotify() as fake:
        for number, name, artist, *_ in TRACKS:
            fake.add_track(track_id(number), name, [artist])
        yield fake


@pytest.fixture
def simcord_bot(imported: Path, spotify: FakeSpotify) -> EarwormBot:
    """The bot with Spotify credentials, pointed at the fake."""
    return create_bot(load_settings(EARWORM_DATA_DIR=str(imported), **spotify.settings()))


def art_of(track: str) -> str:
    return f"https://i.scdn.co/image/{track}-300"  # the fake's 300 px image


async def served(server: Server, message_id: int) -> list[ServedItem]:
    async with server.bot.database.sessions() as session:
        return await served_for_message(session, message_id)


async def test_cards_show_the_album_art_of_the_pick_shown(server: Server, spotify: FakeSpotify):
    result = await server.alice.slash(server.channel, "recommend", count=3)

    card = result.response
    assert card is not None
    picks = await served(server, card.id)
    assert card.embeds[0].thumbnail.url == art_of(picks[0].track_id)

    await server.bob.click(card, label="Next")

    assert card.message.embeds[0].thumbnail.url == art_of(picks[1].track_id)
    assert spotify.track_requests == 2


@pytest.mark.parametrize("endpoint", ["tracks", "token"])
async def test_with_spotify_down_cards_show_without_art_and_no_error(
    server: Server, spotify: FakeSpotify, endpoint: str, caplog: pytest.LogCaptureFixture
):
    spotify.fail(500, endpoint=endpoint)  # until healed

    result = await server.alice.slash(server.channel, "similar", track=BOHEMIAN, count=3)

    card = result.response
    assert card is not None
    assert card.content == ""
    picks = await served(server, card.id)
    assert len(picks) == 3
    assert card.embeds[0].thumbnail.url is None
    assert card.embeds[0].url == f"https://open.spotify.com/track/{picks[0].track_id}"

    pressed = await server.bob.click(card, label="Next")

    assert pressed.followups == []
    assert card.message.embeds[0].footer.text.startswith("Pick 2 of 3")
    assert card.message.embeds[0].thumbnail.url is None
    assert server.env.errors == []
    # One warning for the outage; no traceback, nothing at ERROR.
    warnings = [r for r in caplog.records if r.name == "bot.serving.spotify"]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
