"""Cards of tracks outside the catalog (added because a member played them): no audio
features, so the card shows without its sound bars, and everything else as usual."""

from __future__ import annotations

import discord

from bot.ui.cards import card_embed
from storage.history.synthetic import Listen, Track, extended_history
from storage.repositories.tracks import track_details
from tests.bot.guild.conftest import Server
from tests.bot.guild.reads import served
from tests.factories import track_id

DREAMS = Track("4uLU6hMCjMI75M1A2tKUQC", "Dreams", "Fleetwood Mac", "Rumours", 257_000)
HALO = track_id(0)


def fields(embed: discord.Embed) -> dict[str, str]:
    return {str(field.name): str(field.value) for field in embed.fields}


async def test_storage_gives_no_features_and_the_card_no_sound_bars(server: Server) -> None:
    played = [Listen(DREAMS, discord.utils.utcnow().replace(microsecond=0), 257_000, False)]
    await server.alice.slash(
        server.channel,
        "import spotify",
        file=("Streaming_History_Audio_2024_0.json", extended_history(played)),
    )
    async with server.bot.database.sessions() as session:
        dreams, halo = await track_details(session, [DREAMS.id, HALO])

    assert dreams.features == {}
    assert halo.features  # a catalog track has its bars
    outside = card_embed(
        dreams,
        "because you played it",
        heading=None,
        position=0,
        total=1,
        model_kind="hybrid",
        model_version=None,
    )
    inside = card_embed(
        halo, None, heading=None, position=0, total=1, model_kind="hybrid", model_version=None
    )
    assert "Sound" in fields(inside)
    shown = fields(outside)
    assert "Sound" not in shown
    assert shown["Album"] == "Rumours"
    assert shown["Genres"] == "—"
    assert "30-second preview" in shown["Listen"]
    assert outside.title == "Dreams — Fleetwood Mac"
    assert outside.url == f"https://open.spotify.com/track/{DREAMS.id}"


async def test_a_trending_card_of_a_played_track_shows_without_sound_bars(server: Server) -> None:
    """Tracks an import adds join what the bot serves at its next swap (the nightly run's,
    a rollback's, a restart's): serving never reloads the catalog for one member's import."""
    played = [Listen(DREAMS, discord.utils.utcnow().replace(microsecond=0), 257_000, False)]
    await server.alice.slash(
        server.channel,
        "import spotify",
        file=("Streaming_History_Audio_2024_0.json", extended_history(played)),
    )
    for member in (server.alice, server.bob, server.carol):
        await member.slash(server.channel, "like", track=DREAMS.id)
    await server.bot.engine.reload()  # the next swap (as after the nightly run)

    result = await server.bob.slash(server.channel, "trending", scope="server", count=3)

    card = result.response
    assert card is not None
    [first, *_] = sorted(await served(server, card.id), key=lambda item: item.position)
    assert first.track_id == DREAMS.id  # three likes today: the top of this server's chart
    embed = card.embeds[0]
    assert embed.title == "Dreams — Fleetwood Mac"
    assert "Sound" not in fields(embed)
    assert fields(embed)["Album"] == "Rumours"
