"""EARWORM_SHARDS: the bot runs as an AutoShardedBot and every shard serves its own guilds:
commands, reactions on cards and each server's own trending chart."""

from __future__ import annotations

from pathlib import Path

import discord
import pytest
from simcord import Env

from bot.app import EarwormBot, ShardedEarwormBot, create_bot
from bot.settings import load_settings
from storage.models import FeedbackKind
from tests.bot.guild.reads import feedback_of, served
from tests.bot.world import NAMES
from tests.factories import track_id

SHARDS = 3
# A track charts on a server once this many members like it (FeedbackTrending.min_users).
FANS = 3


@pytest.fixture
def simcord_bot(imported: Path, request: pytest.FixtureRequest) -> EarwormBot:
    shards, shard_ids = getattr(request, "param", (str(SHARDS), ""))
    return create_bot(
        load_settings(
            EARWORM_DATA_DIR=str(imported), EARWORM_SHARDS=shards, EARWORM_SHARD_IDS=shard_ids
        )
    )


def test_shards_setting_picks_the_sharded_bot(imported: Path):
    plain = create_bot(load_settings(EARWORM_DATA_DIR=str(imported)))
    auto = create_bot(load_settings(EARWORM_DATA_DIR=str(imported), EARWORM_SHARDS="auto"))
    fixed = create_bot(load_settings(EARWORM_DATA_DIR=str(imported), EARWORM_SHARDS="4"))

    assert not isinstance(plain, discord.AutoShardedClient)
    assert isinstance(auto, ShardedEarwormBot)
    assert auto.shard_count is None  # asked of Discord at connect time
    assert isinstance(fixed, ShardedEarwormBot)
    assert fixed.shard_count == 4
    assert fixed.shard_ids is None  # all four here


@pytest.mark.parametrize("simcord_bot", [("4", "2-3")], indirect=True)
async def test_a_process_runs_only_its_share_of_the_shards(simcord_env: Env):
    bot = simcord_env.bot
    assert isinstance(bot, ShardedEarwormBot)
    assert (bot.shard_count, sorted(bot.shards)) == (4, [2, 3])
    guild = simcord_env.create_guild("on shard 3", shard_id=3)
    channel = guild.create_text_channel("music")
    member = guild.add_member(simcord_env.create_user("fan"))

    card = (await member.slash(channel, "recommend", count=2)).response
    assert card is not None
    assert card.embeds[0].author.name == "Picks for you"
    assert bot.get_guild(guild.id).shard_id == 3


async def test_each_shard_serves_commands_reactions_and_its_own_chart(simcord_env: Env):
    bot = simcord_env.bot
    assert isinstance(bot, ShardedEarwormBot)
    assert bot.shard_count == SHARDS
    reads = _Bot(bot)
    # A different favourite per server, none of them among the catalog's most popular.
    favourites = [track_id(7), track_id(8), track_id(2)]

    for shard, favourite in zip(range(SHARDS), favourites, strict=True):
        guild = simcord_env.create_guild(f"shard {shard} fans", shard_id=shard)
        channel = guild.create_text_channel("music")
        members = [
            guild.add_member(simcord_env.create_user(f"fan{shard}-{n}")) for n in range(FANS)
        ]
        assert bot.get_guild(guild.id).shard_id == shard

        card = (await members[0].slash(channel, "recommend", count=3)).response
        assert card is not None
        assert card.embeds
        [shown, *_] = [item.track_id for item in await served(reads, card.id)]
        await members[0].react(card, "👍")
        for member in members:
            assert (await member.slash(channel, "like", track=favourite)).response is not None

        stored = await feedback_of(reads, members[0].id)
        assert {(row.kind, row.guild_id) for row in stored} == {(FeedbackKind.LIKE, guild.id)}
        assert {row.track_id for row in stored} == {shown, favourite}

        await simcord_env.advance_time(bot.engine.min_refresh_seconds + 1)
        chart = (await members[1].slash(channel, "trending", count=3)).response
        assert chart is not None
        assert chart.embeds[0].author.name == "Trending on this server"
        charted = [item.track_id for item in await served(reads, chart.id)]
        # This server's favourite leads its chart, as this server's; the other servers'
        # likes (counted on other shards) only fill in from Earworm's chart after it.
        assert charted[0] == favourite, [NAMES[track] for track in charted]
        assert "popular in this server: 3 members" in str(chart.embeds[0].to_dict())


class _Bot:
    """What tests/bot/guild/reads.py needs of a Server: the bot."""

    def __init__(self, bot: EarwormBot) -> None:
        self.bot = bot
