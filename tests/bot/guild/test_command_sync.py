"""Slash commands reach every Discord the bot connects to: start-up asks Discord what it
has (one request) and syncs only when that differs from the bot's own tree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from simcord import Env

from bot.app import EarwormBot, create_bot
from bot.command_sync import same_commands
from bot.demo.render import result_messages
from bot.settings import load_settings

COMMANDS_PATH = "/commands"


def syncs(env: Env) -> list[Any]:
    """The bulk "put every command" requests the bot sent to this Discord."""
    return [r for r in env.http_requests if r.method == "PUT" and r.path.endswith(COMMANDS_PATH)]


def lookups(env: Env) -> list[Any]:
    return [r for r in env.http_requests if r.method == "GET" and r.path.endswith(COMMANDS_PATH)]


async def recommend_in_a_new_discord(bot: EarwormBot) -> Env:
    """A Discord that has never seen the bot: a member runs /recommend and gets a card."""
    env = Env(bot)  # strict: a command Discord does not know cannot be run
    await env.start()
    guild = env.create_guild("Fans")
    channel = guild.create_text_channel("music")
    member = guild.add_member(env.create_user("dana"))
    result = await member.slash(channel, "recommend", count=3)
    [card] = result_messages(result)
    assert card.embeds, card.content
    return env


async def test_two_discords_in_a_row_on_one_database_both_get_the_commands(imported: Path):
    """Development then production: the same data directory, another application."""
    first = await recommend_in_a_new_discord(
        create_bot(load_settings(EARWORM_DATA_DIR=str(imported)))
    )
    assert len(syncs(first)) == 1
    await first.shutdown()

    second = await recommend_in_a_new_discord(
        create_bot(load_settings(EARWORM_DATA_DIR=str(imported)))
    )
    assert len(syncs(second)) == 1
    await second.shutdown()


async def test_a_restart_against_the_same_discord_syncs_nothing(imported: Path):
    settings = load_settings(EARWORM_DATA_DIR=str(imported))
    env = await recommend_in_a_new_discord(create_bot(settings))
    try:
        before_syncs, before_lookups = len(syncs(env)), len(lookups(env))
        await env.restart_bot(create_bot(settings))
        assert len(lookups(env)) == before_lookups + 1  # one request at start-up
        assert len(syncs(env)) == before_syncs  # Discord has them: its rate limit is spared
    finally:
        await env.shutdown()


async def test_commands_removed_in_the_developer_portal_are_registered_again(imported: Path):
    settings = load_settings(EARWORM_DATA_DIR=str(imported))
    env = await recommend_in_a_new_discord(create_bot(settings))
    try:
        env.backend.commands.clear()  # what deleting them in the portal leaves
        await env.restart_bot(create_bot(settings))
        assert len(syncs(env)) == 2
        guild = env.create_guild("Second server")
        channel = guild.create_text_channel("music")
        result = await guild.add_member(env.create_user("erin")).slash(channel, "recommend")
        assert result_messages(result)[0].embeds
    finally:
        await env.shutdown()


# --- the comparison itself, on Discord-shaped payloads ---------------------------------------

LOCAL = {
    "name": "recommend",
    "description": "Your picks",
    "type": 1,
    "nsfw": False,
    "dm_permission": True,
    "default_member_permissions": None,
    "contexts": None,
    "integration_types": None,
    "options": [
        {
            "type": 4,
            "name": "count",
            "description": "How many",
            "required": False,
            "min_value": 1,
            "max_value": 10,
        },
        {"type": 3, "name": "genre", "description": "Only this genre", "autocomplete": True},
    ],
}

# What Discord answers for the same command: ids, a version, its own defaults, and the
# false and empty fields left out.
REGISTERED = {
    "id": "1234567890",
    "application_id": "42",
    "version": "99",
    "name": "recommend",
    "description": "Your picks",
    "type": 1,
    "dm_permission": True,
    "default_member_permissions": None,
    "contexts": [0, 1, 2],
    "integration_types": [0],
    "name_localizations": None,
    "description_localizations": {},
    "options": [
        {"type": 4, "name": "count", "description": "How many", "min_value": 1, "max_value": 10},
        {
            "type": 3,
            "name": "genre",
            "description": "Only this genre",
            "autocomplete": True,
            "name_localizations": {},
        },
    ],
}


def changed(path: list[Any], value: Any) -> dict[str, Any]:
    import copy

    registered = copy.deepcopy(REGISTERED)
    target: Any = registered
    for step in path[:-1]:
        target = target[step]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return registered


def test_what_discord_answers_for_the_same_commands_is_the_same():
    assert same_commands([LOCAL], [REGISTERED])
    assert same_commands([], [])


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["description"], "Your old picks"),
        (["options", 0, "max_value"], 25),
        (["options", 0, "required"], True),
        (["options", 1, "autocomplete"], ...),
        (["options"], []),
        (["default_member_permissions"], "32"),
        (["dm_permission"], False),
        (["name"], "recommendations"),
    ],
)
def test_any_difference_that_members_would_see_means_a_sync(path: list[Any], value: Any):
    assert not same_commands([LOCAL], [changed(path, value)])


def test_a_missing_or_extra_command_means_a_sync():
    assert not same_commands([LOCAL], [])
    assert not same_commands([], [REGISTERED])
    assert not same_commands([LOCAL], [REGISTERED, {**REGISTERED, "name": "similar"}])
