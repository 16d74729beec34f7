"""/similar's three modes, /mix and /artist through SimCord, on the small world of
tests/bot/style_world.py where style and sound disagree: Take On Me's sound twin is a 2021
pop song; its world is 80s synth-pop played in one playlist."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.repositories.served import ServedItem, served_for_message
from storage.repositories.tracks import track_details
from tests.bot.guild.conftest import Server
from tests.bot.style_world import (
    BOHEMIAN,
    LONELY_BARD,
    NEON_NIGHTS,
    NUMBER,
    TAKE_ON_ME,
    UNTITLED,
    imported_style_world,
)
from tests.factories import track_id

EIGHTIES = {track_id(NUMBER[name]) for name in ("Sweet Dreams", "Don't You Want Me",
                                                "Tainted Love", "Shout")}  # fmt: skip


@pytest.fixture
def imported(env: dict[str, str], tmp_path: Path) -> Path:
    """The data directory of a database holding the style world."""
    return imported_style_world(Path(env["EARWORM_DATA_DIR"]), tmp_path)


async def served(server: Server, message_id: int) -> list[ServedItem]:
    async with server.bot.database.sessions() as session:
        items = await served_for_message(session, message_id)
    return sorted(items, key=lambda item: item.position)


async def card_of(server: Server, command: str, **options: object) -> tuple[str, list[ServedItem]]:
    result = await server.alice.slash(server.channel, command, **options)
    card = result.response
    assert card is not None, server.env.transcript()[-2000:]
    assert not card.ephemeral
    return card.embeds[0].author.name, await served(server, card.id)


async def test_normal_mode_stays_in_the_seeds_world(server: Server):
    title, items = await card_of(server, "similar", track=TAKE_ON_ME, count=4)

    assert title == "Like Take On Me by a-ha"
    assert {item.track_id for item in items} == EIGHTIES  # not its 2021 sound twin
    assert all("often played alongside a-ha" in item.reason for item in items)
    assert all(item.reason.startswith("also 80s synth-pop") for item in items)
    server.expect_user_errors(0)


async def test_sound_mode_is_the_audio_features_alone(server: Server):
    title, items = await card_of(server, "similar", track=TAKE_ON_ME, mode="sound", count=3)

    assert title == "Sounds like Take On Me by a-ha"
    assert items[0].track_id == NEON_NIGHTS  # the same audio features, another world
    assert "to Take On Me by a-ha" in items[0].reason


async def test_genre_mode_stays_in_the_genres(server: Server):
    title, items = await card_of(server, "similar", track=BOHEMIAN, mode="genre", count=5)

    assert title == "Sounds like Bohemian Rhapsody by Queen (same genre)"
    async with server.bot.database.sessions() as session:
        tracks = await track_details(session, [item.track_id for item in items])
    assert tracks
    # Rock, or (genre mode's rule) a track whose genre nobody knows: never another genre.
    assert all("rock" in track.genres or not track.genres for track in tracks)
    assert sum("rock" in track.genres for track in tracks) == 4  # every other rock song


async def test_seeds_without_genre_or_release_date_are_answered(server: Server):
    for seed in (UNTITLED, LONELY_BARD):
        _, items = await card_of(server, "similar", track=seed, count=3)
        assert len(items) == 3
        assert seed not in {item.track_id for item in items}
    server.expect_user_errors(0)


async def test_mix_uses_the_blend(server: Server):
    title, items = await card_of(server, "mix", track1=TAKE_ON_ME, track2=BOHEMIAN, count=6)

    assert title == "A mix of 2 tracks"
    assert len(items) == 6
    assert not {TAKE_ON_ME, BOHEMIAN} & {item.track_id for item in items}
    assert all(item.reason.startswith("like ") for item in items)  # names the seed it is like
    assert any("a-ha" in item.reason for item in items)
    assert any("Queen" in item.reason for item in items)


async def test_artist_autocomplete_is_the_catalogs_artists(server: Server):
    typed = await server.alice.autocomplete(server.channel, "artist", "name", "eur")
    everything = await server.alice.autocomplete(server.channel, "artist", "name", "")
    inside = await server.alice.autocomplete(server.channel, "artist", "name", "league")

    assert [choice["value"] for choice in typed] == ["Eurythmics"]
    assert 0 < len(everything) <= 25
    assert everything[0]["value"] == "Queen"  # the artist with the most tracks first
    assert [choice["value"] for choice in inside] == ["The Human League"]


async def test_artist_shows_related_artists_with_why(server: Server):
    title, items = await card_of(server, "artist", name="A-HA", count=4)

    assert title == "Artists like a-ha"
    assert {item.track_id for item in items} == EIGHTIES  # each one's best-known song
    assert all("often played alongside a-ha" in item.reason for item in items)
    assert all("80s synth-pop" in item.reason for item in items)
    assert items[0].model_kind == "artists"


async def test_an_artist_with_one_track_is_answered(server: Server):
    title, items = await card_of(server, "artist", name="Lonely Bard", count=3)

    assert title == "Artists like Lonely Bard"
    assert len(items) == 3  # nobody plays them with anyone: close in sound and era instead
    assert LONELY_BARD not in {item.track_id for item in items}


async def test_an_unknown_artist_is_answered_privately_with_the_autocomplete(server: Server):
    result = await server.alice.slash(server.channel, "artist", name="Queeen")

    assert result.response is not None
    assert result.response.ephemeral
    text = result.response.content
    assert "I don't know the artist “Queeen”" in text
    assert "Did you mean: Queen?" in text
    assert "pick one from the list" in text
    server.expect_user_errors(1)
