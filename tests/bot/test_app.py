"""The bot object and `earworm run`'s start-up checks (the Discord side is SimCord's job)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import PERMISSIONS, create_bot, extension_names, intents
from bot.settings import load_settings
from tests.cli import assert_one_line_error, earworm


def test_only_non_privileged_intents() -> None:
    chosen = intents()
    assert chosen.guilds
    assert chosen.guild_reactions
    assert chosen.dm_reactions
    assert not chosen.message_content
    assert not chosen.members
    assert not chosen.presences


def test_invite_asks_for_what_cards_need() -> None:
    assert PERMISSIONS.send_messages
    assert PERMISSIONS.embed_links
    assert PERMISSIONS.add_reactions
    assert PERMISSIONS.read_message_history
    assert PERMISSIONS.attach_files
    assert not PERMISSIONS.administrator


def test_create_bot_builds_without_connecting(tmp_path: Path) -> None:
    bot = create_bot(load_settings(EARWORM_DATA_DIR=str(tmp_path)))
    assert bot.intents.value == intents().value
    assert not bot.is_ready()
    with pytest.raises(RuntimeError, match="setup_hook"):
        _ = bot.database
    assert all(not name.split(".")[-1].startswith("_") for name in extension_names())


def test_run_without_a_token_is_one_clear_line(env: dict[str, str]) -> None:
    result = earworm("run", env=env)
    assert_one_line_error(result, "DISCORD_TOKEN")
