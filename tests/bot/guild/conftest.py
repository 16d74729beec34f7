"""SimCord fixtures: the real bot (`create_bot`) against a simulated Discord, on a database
holding the hand-made world of tests/bot/world.py. No token, no network."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import discord
import pytest
from simcord import Env
from simcord.actors import MemberActor
from simcord.builders import ChannelHandle, GuildHandle

from bot.app import EarwormBot, create_bot
from bot.errors import UserFacingError
from bot.settings import load_settings


def _cause(error: BaseException) -> BaseException:
    original = getattr(error, "original", None)
    return original if isinstance(original, BaseException) else error


@pytest.fixture
def simcord_bot(imported: Path) -> EarwormBot:
    return create_bot(load_settings(EARWORM_DATA_DIR=str(imported)))


@dataclass
class Server:
    """One guild with a #music channel and members alice, bob and the admin carol."""

    env: Env
    guild: GuildHandle
    channel: ChannelHandle
    alice: MemberActor
    bob: MemberActor
    carol: MemberActor  # has Manage Server

    def expect_user_errors(self, count: int | None = None) -> list[UserFacingError]:
        """Acknowledge the UserFacingErrors raised so far (SimCord records every error a
        command raises, also the ones the bot answers with a friendly message); any other
        error fails the test."""
        errors = self.env.errors
        unexpected = [error for error in errors if not isinstance(_cause(error), UserFacingError)]
        assert not unexpected, unexpected
        found = [_cause(error) for error in errors]
        if count is not None:
            assert len(found) == count, found
        return found  # type: ignore[return-value]

    @property
    def bot(self) -> EarwormBot:
        bot = self.env.bot
        assert isinstance(bot, EarwormBot)
        return bot


@pytest.fixture
def server(simcord_env: Env) -> Server:
    guild = simcord_env.create_guild("Earworm fans")
    channel = guild.create_text_channel("music")
    alice = guild.add_member(simcord_env.create_user("alice"))
    bob = guild.add_member(simcord_env.create_user("bob"))
    admins = guild.create_role("admins", permissions=discord.Permissions(manage_guild=True))
    carol = guild.add_member(simcord_env.create_user("carol"), roles=[admins])
    return Server(simcord_env, guild, channel, alice, bob, carol)
