"""A bot on a database with no tracks yet: the commands that pick songs say the catalog is
empty (privately, no traceback), autocomplete offers nothing, and a catalog imported while
the bot runs is served without a restart."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.app import EarwormBot, create_bot
from bot.serving.engine import EMPTY_CATALOG
from bot.settings import load_settings
from tests.bot.guild.conftest import Server
from tests.bot.world import TRACKS
from tests.cli import earworm
from tests.factories import KAGGLE_114K_HEADER, kaggle_row, track_id, write_csv


@pytest.fixture
def empty_data_dir(env: dict[str, str]) -> Path:
    data = Path(env["EARWORM_DATA_DIR"])
    data.mkdir(parents=True)
    return data


@pytest.fixture
def simcord_bot(empty_data_dir: Path) -> EarwormBot:
    return create_bot(load_settings(EARWORM_DATA_DIR=str(empty_data_dir)))


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("recommend", {}),
        ("recommend", {"genre": "pop"}),
        ("similar", {"track": "Halo"}),
        ("mix", {"track1": "Halo", "track2": "Queen"}),
        ("trending", {}),
        ("trending", {"scope": "global", "genre": "rock"}),
    ],
)
async def test_commands_that_pick_songs_say_the_catalog_is_empty(
    server: Server, command: str, options: dict[str, str], caplog: pytest.LogCaptureFixture
):
    result = await server.alice.slash(server.channel, command, **options)

    assert result.response is not None
    assert result.response.ephemeral
    assert not result.deferred
    assert result.response.content == EMPTY_CATALOG
    server.expect_user_errors(1)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_autocomplete_offers_nothing(server: Server):
    assert await server.alice.autocomplete(server.channel, "similar", "track", "Halo") == []
    assert await server.alice.autocomplete(server.channel, "like", "track", "Queen") == []
    assert await server.alice.autocomplete(server.channel, "recommend", "genre", "") == []
    assert await server.alice.autocomplete(server.channel, "trending", "genre", "po") == []


async def test_a_catalog_imported_while_running_is_served(
    server: Server, env: dict[str, str], tmp_path: Path
):
    before = await server.alice.slash(server.channel, "recommend", count=2)
    assert before.response is not None
    assert before.response.content == EMPTY_CATALOG
    assert await server.alice.autocomplete(server.channel, "recommend", "genre", "") == []
    rows = [
        kaggle_row(number, track_id(number), name, artist, genre, popularity=popularity)
        for number, name, artist, genre, popularity in TRACKS
    ]
    imported = earworm(
        "catalog", "import", str(write_csv(tmp_path / "c.csv", KAGGLE_114K_HEADER, rows)), env=env
    )
    assert imported.returncode == 0, imported.stderr

    after = await server.alice.slash(server.channel, "recommend", count=2)
    genres = await server.alice.autocomplete(server.channel, "recommend", "genre", "ro")

    assert [choice["value"] for choice in genres] == ["rock"]
    assert after.response is not None
    assert after.response.embeds
    assert after.response.embeds[0].footer.text.startswith("Pick 1 of 2")
    server.expect_user_errors(1)
