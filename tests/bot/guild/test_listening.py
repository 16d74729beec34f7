"""/listening and listening capture through SimCord: presence updates fed through the gateway
as Discord sends them (PRESENCE_UPDATE with a Spotify activity); what is stored for a member
who opted in, and that nothing is for anyone else."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import pytest
from simcord import Env
from simcord.actors import MemberActor
from simcord.results import InteractionResult
from sqlalchemy import func, select

from bot.app import EarwormBot, create_bot, intents
from bot.cli.run import privileged_intents_message
from bot.exts.listening import NOT_ENABLED, TURNED_OFF, TURNED_ON
from bot.settings import load_settings
from storage.models import ListeningOptIn, Play, PlaySource, Track, User
from storage.repositories.tracks import get_tracks
from tests.bot.guild.conftest import Server
from tests.bot.world import ARTISTS, NAMES
from tests.factories import track_id

HALO, LIGHTS, QUEEN = track_id(0), track_id(4), track_id(5)
NEW_SONG = "4uLU6hMCjMI75M1A2tKUQC"  # a real Spotify id the catalog lacks


@pytest.fixture
def listening_setting() -> str:
    """EARWORM_LISTENING for the bot (a test parametrizes it to turn it off)."""
    return "on"


@pytest.fixture
def simcord_bot(imported: Path, listening_setting: str) -> EarwormBot:
    return create_bot(
        load_settings(EARWORM_DATA_DIR=str(imported), EARWORM_LISTENING=listening_setting)
    )


def spotify(track: str, start: datetime, seconds: float, **names: str) -> dict[str, Any]:
    """A Spotify activity as Discord sends it in a presence."""
    end = start + timedelta(seconds=seconds)
    return {
        "type": 2,
        "name": "Spotify",
        "id": "spotify:1",
        "flags": 48,
        "session_id": "b6b6e1cd2d3b4ad5b9b1a5f1b2c3d4e5",
        "sync_id": track,
        "party": {"id": "spotify:1"},
        "details": names.get("title", NAMES.get(track, "")),
        "state": names.get("artists", ARTISTS.get(track, "")),
        "assets": {"large_image": "spotify:ab67616d0000b273", "large_text": names.get("album", "")},
        "timestamps": {"start": int(start.timestamp() * 1000), "end": int(end.timestamp() * 1000)},
        "created_at": int(start.timestamp() * 1000),
    }


async def presence(
    env: Env, member: MemberActor, *activities: dict[str, Any], guild: Any = None
) -> None:
    """PRESENCE_UPDATE for `member` in its server (or `guild`), through the gateway."""
    env.backend.emit(
        "PRESENCE_UPDATE",
        {
            "user": {"id": str(member.id)},
            "guild_id": str((guild or member.guild).id),
            "status": "online",
            "activities": list(activities),
            "client_status": {"desktop": "online"},
        },
    )
    await env.settle()


def answer(result: InteractionResult) -> str:
    assert result.response is not None
    assert result.response.ephemeral
    return result.response.content


async def plays(server: Server, user_id: int) -> list[tuple[str, int | None, str]]:
    async with server.bot.database.sessions() as session:
        rows = await session.execute(
            select(Play.track_id, Play.ms_played, Play.source)
            .where(Play.user_id == user_id)
            .order_by(Play.played_at)
        )
        return [(row.track_id, row.ms_played, row.source.value) for row in rows]


async def count(server: Server, model: type, *where: Any) -> int:
    async with server.bot.database.sessions() as session:
        statement = select(func.count()).select_from(model)
        for condition in where:
            statement = statement.where(condition)
        return await session.scalar(statement) or 0


async def opt_in(server: Server, member: MemberActor) -> None:
    assert answer(await member.slash(server.channel, "listening", state="on")) == TURNED_ON


async def listen(server: Server, member: MemberActor, track: str, seconds: float) -> None:
    """`member` plays `track` (3 minutes long) for `seconds`, then plays Queen."""
    now = server.env.now()
    await presence(server.env, member, spotify(track, now, 180))
    await server.env.advance_time(seconds)
    await presence(server.env, member, spotify(QUEEN, server.env.now(), 200))


def test_listening_asks_for_presences_and_members_only_when_on() -> None:
    assert not intents(load_settings()).presences
    on = intents(load_settings(EARWORM_LISTENING="on"))
    assert on.presences
    assert on.members
    assert not on.message_content


async def test_a_played_song_is_recorded_for_a_member_who_opted_in(server: Server) -> None:
    await opt_in(server, server.alice)
    assert await count(server, ListeningOptIn, ListeningOptIn.user_id == server.alice.id) == 1

    await listen(server, server.alice, HALO, 100)

    [(track, ms, source)] = await plays(server, server.alice.id)
    assert (track, source) == (HALO, PlaySource.LISTENING.value)
    assert ms is not None
    assert 100_000 <= ms < 101_000
    # Queen is still playing: recorded once it ends (here: the member stops listening).
    await server.env.advance_time(200)
    await presence(server.env, server.alice)
    assert [t for t, *_ in await plays(server, server.alice.id)] == [HALO, QUEEN]
    [*_, (_, queen_ms, _)] = await plays(server, server.alice.id)
    assert queen_ms == 200_000  # up to the song's end, not to when the status changed


async def test_nothing_is_recorded_or_logged_for_anyone_who_did_not_opt_in(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    await opt_in(server, server.alice)
    caplog.set_level(logging.DEBUG)

    await listen(server, server.bob, LIGHTS, 120)
    await presence(server.env, server.bob)

    ours = [record for record in caplog.records if record.name.startswith("bot.")]
    logged = "\n".join(record.getMessage() for record in ours)
    assert await plays(server, server.bob.id) == []
    assert await count(server, User, User.id == server.bob.id) == 0
    assert "Blinding Lights" not in logged
    assert LIGHTS not in logged
    assert str(server.bob.id) not in logged


async def test_a_song_under_30_seconds_is_left_out(server: Server) -> None:
    await opt_in(server, server.alice)

    await listen(server, server.alice, HALO, 20)

    assert await plays(server, server.alice.id) == []


async def test_a_song_outside_the_catalog_is_added_from_the_activity(server: Server) -> None:
    await opt_in(server, server.alice)
    start = server.env.now()
    names = {"title": "Dreams", "artists": "Fleetwood Mac", "album": "Rumours"}
    await presence(server.env, server.alice, spotify(NEW_SONG, start, 257, **names))
    await server.env.advance_time(257)
    await presence(server.env, server.alice)

    assert [t for t, *_ in await plays(server, server.alice.id)] == [NEW_SONG]
    async with server.bot.database.sessions() as session:
        [track] = await get_tracks(session, [NEW_SONG])
    assert (track.name, track.artists, track.album) == ("Dreams", ("Fleetwood Mac",), "Rumours")
    assert await count(server, Track, Track.id == NEW_SONG, Track.danceability.is_(None)) == 1


async def test_a_member_in_two_servers_gets_each_play_once(server: Server) -> None:
    other = server.env.create_guild("Second server")
    other.create_text_channel("general")
    other.add_member(server.alice.user)
    await opt_in(server, server.alice)
    start = server.env.now()

    for guild in (server.guild, other):
        await presence(server.env, server.alice, spotify(HALO, start, 180), guild=guild)
    await server.env.advance_time(90)
    for guild in (server.guild, other):  # a pause: Discord sends the presence anew
        await presence(server.env, server.alice, spotify(HALO, start, 200), guild=guild)
    await server.env.advance_time(110)
    for guild in (server.guild, other):
        await presence(server.env, server.alice, guild=guild)

    assert [t for t, *_ in await plays(server, server.alice.id)] == [HALO]


async def test_listening_off_stops_it_and_keeps_what_was_recorded(server: Server) -> None:
    await opt_in(server, server.alice)
    await listen(server, server.alice, HALO, 100)

    off = answer(await server.alice.slash(server.channel, "listening", state="off"))

    assert off == TURNED_OFF
    await server.env.advance_time(200)
    await listen(server, server.alice, LIGHTS, 150)
    await presence(server.env, server.alice)
    assert [t for t, *_ in await plays(server, server.alice.id)] == [HALO]
    assert await count(server, ListeningOptIn) == 0
    again = answer(await server.alice.slash(server.channel, "listening", state="off"))
    assert again.startswith("Listening is already **off**")


async def test_forget_me_deletes_the_plays_and_stops_listening(server: Server) -> None:
    await opt_in(server, server.alice)
    await listen(server, server.alice, HALO, 100)
    assert len(await plays(server, server.alice.id)) == 1

    prompt = (await server.alice.slash(server.channel, "forget-me")).response
    assert prompt is not None
    assert "your 1 play (imported or recorded while listening), your listening opt-in" in (
        prompt.content
    )
    await server.alice.click(prompt, label="Delete my data")

    assert "1 play, 1 listening opt-in and 1 member record" in prompt.content
    assert await plays(server, server.alice.id) == []
    assert await count(server, ListeningOptIn) == 0
    # Queen was playing when the data went: it ends now, and nothing comes back.
    await server.env.advance_time(200)
    await presence(server.env, server.alice)
    assert await plays(server, server.alice.id) == []
    assert await count(server, User, User.id == server.alice.id) == 0


async def test_export_me_says_whether_listening_is_on(server: Server) -> None:
    await opt_in(server, server.alice)

    exported = (await server.alice.slash(server.channel, "export-me")).response

    assert exported is not None
    data = json.loads(await exported.attachments[0].read())
    assert data["listening"]["enabled"] is True


@pytest.mark.parametrize("listening_setting", ["off"])
async def test_with_listening_off_the_operator_has_not_enabled_it(server: Server) -> None:
    assert not server.bot.intents.presences
    assert not server.bot.intents.members

    text = answer(await server.alice.slash(server.channel, "listening", state="on"))

    assert text == NOT_ENABLED
    assert "operator has not turned it on" in text
    assert await count(server, ListeningOptIn) == 0


async def test_discord_refusing_the_intents_names_the_switches_to_turn_on(
    imported: Path,
) -> None:
    bot = create_bot(load_settings(EARWORM_DATA_DIR=str(imported), EARWORM_LISTENING="on"))
    portal = discord.Intents.default()  # the developer portal's switches are off
    portal.presences = portal.members = False

    with pytest.raises(discord.PrivilegedIntentsRequired):
        await Env(bot, approved_intents=portal).start()

    message = privileged_intents_message(listening=True)
    assert "Bot → Privileged Gateway Intents" in message
    assert "Presence Intent and Server Members Intent" in message
