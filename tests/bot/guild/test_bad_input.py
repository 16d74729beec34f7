"""Bad input to every slash command that takes text or numbers, through SimCord: very long
strings, control characters, mentions and markdown in what the bot echoes back (a catalog
track named to ping @everyone), ids that are no track, and counts out of range.

Every case: the member gets a short, clear answer; nothing pings; no unhandled error (the
expected UserFacingErrors are acknowledged with `server.expect_user_errors`)."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import discord
import pytest
from simcord import OptionError

from bot.app import EarwormBot, create_bot
from bot.settings import load_settings
from bot.ui.tracks import MAX_CHOICES
from tests.bot.guild.conftest import Server
from tests.bot.world import TRACKS
from tests.cli import earworm
from tests.factories import KAGGLE_114K_HEADER, kaggle_row, track_id, write_csv

# A track whose name and artist try to ping everyone, mention a member and format text.
EVIL = track_id(99)
EVIL_NAME = "**@everyone** `x` ||y|| <@&1> @here"
EVIL_ARTIST = "<@123456789012345678> _z_"
LONG = "a" * 5_000
CONTROL = ["\x00", "Halo\x00\x1b[31m", "\u202eolaH", "\x1b[2J\x07"]
DISCORD_MESSAGE_LIMIT = 2_000


@pytest.fixture
def imported(env: dict[str, str], tmp_path: Path) -> Path:
    """The usual world (tests/bot/world.py) plus the evil track, as the most popular song."""
    rows = [
        kaggle_row(number, track_id(number), name, artist, genre, popularity=popularity)
        for number, name, artist, genre, popularity in TRACKS
    ]
    rows.append(kaggle_row(99, EVIL, EVIL_NAME, EVIL_ARTIST, "pop", popularity="99"))
    catalog = write_csv(tmp_path / "catalog.csv", KAGGLE_114K_HEADER, rows)
    result = earworm("catalog", "import", str(catalog), env=env)
    assert result.returncode == 0, result.stderr
    return Path(env["EARWORM_DATA_DIR"])


@pytest.fixture
def simcord_bot(imported: Path) -> EarwormBot:
    # Cooldowns off: each test sends many refused commands on purpose.
    return create_bot(load_settings(EARWORM_DATA_DIR=str(imported), EARWORM_COOLDOWN_SECONDS=0))


def answer(result) -> discord.Message:
    """What the member reads last (the reply, or the follow-up after a defer)."""
    shown = result.followups[-1] if result.followups else result.response
    assert shown is not None, "the member got no answer"
    return shown.message


def assert_clear_refusal(message: discord.Message) -> None:
    """A private, short answer that echoes no control characters and pings no one."""
    assert message.flags.ephemeral
    assert 0 < len(message.content) <= 300
    assert_no_control_characters(message.content)
    assert_pings_no_one(message)


def assert_no_control_characters(text: str) -> None:
    bad = [c for c in text if unicodedata.category(c) in ("Cc", "Cf") and c not in "\n\u200b"]
    assert not bad, f"control characters echoed: {bad!r} in {text!r}"


def assert_pings_no_one(message: discord.Message) -> None:
    assert not message.mention_everyone
    assert message.mentions == []
    assert message.role_mentions == []


def every_text(message: discord.Message) -> str:
    parts = [message.content]
    for embed in message.embeds:
        parts += [embed.title or "", embed.description or "", embed.author.name or ""]
        parts += [f"{field.name}\n{field.value}" for field in embed.fields]
    return "\n".join(parts)


# ------------------------------------------------------------------ long and odd text


TEXT_OPTIONS = [
    ("similar", "track", {}),
    ("like", "track", {}),
    ("dislike", "track", {}),
    ("rate", "track", {"stars": 3}),
    ("mix", "track1", {}),
    ("artist", "name", {}),
    ("recommend", "genre", {}),
    ("trending", "genre", {}),
]


async def test_long_text_and_control_characters_are_refused_clearly(server: Server):
    for command, option, others in TEXT_OPTIONS:
        for text in [LONG, *CONTROL]:
            result = await server.alice.slash(server.channel, command, **{option: text}, **others)
            message = answer(result)
            assert_clear_refusal(message)
            if text == LONG:
                assert "aaaa" in message.content  # says what it did not find, shortened
    for text in [LONG, *CONTROL, "@everyone", "25:00"]:
        result = await server.carol.slash(server.channel, "admin schedule", time=text)
        message = answer(result)
        assert_clear_refusal(message)
        assert "HH:MM" in message.content
    refused = len(TEXT_OPTIONS) * (1 + len(CONTROL)) + len(CONTROL) + 3
    server.expect_user_errors(refused)

    # Autocomplete answers whatever is typed, within Discord's limits.
    for text in [LONG, *CONTROL, "**", "@everyone", "\"'%_;--"]:
        for command, option in [("similar", "track"), ("recommend", "genre"), ("artist", "name")]:
            choices = await server.alice.autocomplete(server.channel, command, option, text)
            assert len(choices) <= MAX_CHOICES
            for choice in choices:
                assert 0 < len(choice["name"]) <= 100
    server.expect_user_errors(refused)  # and nothing more


# ------------------------------------------------------- echoed catalog text, escaped


async def test_an_artist_named_to_ping_someone_is_echoed_escaped(server: Server):
    result = await server.alice.slash(server.channel, "artist", name=EVIL_ARTIST, count=2)
    card = answer(result)
    assert not card.flags.ephemeral
    assert_pings_no_one(card)
    assert card.embeds[0].author.name == f"Artists like {EVIL_ARTIST}"
    near = await server.alice.slash(server.channel, "artist", name="<@123456789012345678> _y_")
    refusal = answer(near)
    assert_clear_refusal(refusal)
    assert "Did you mean" in refusal.content
    server.expect_user_errors(1)


async def test_a_track_named_to_ping_everyone_is_echoed_escaped(server: Server):
    result = await server.alice.slash(server.channel, "similar", track=EVIL, count=3)
    card = answer(result)
    assert not card.flags.ephemeral
    assert_pings_no_one(card)
    # Discord shows an embed's author line as plain text (no markdown, no pings): the name
    # appears as it is, where escaping would show backslashes.
    assert card.embeds[0].author.name == f"Like {EVIL_NAME} by {EVIL_ARTIST}"

    shown = await server.alice.slash(server.channel, "recommend", count=10)
    listed = answer(shown)
    assert_pings_no_one(listed)
    title = listed.embeds[0].title or ""
    assert EVIL_NAME not in title  # raw markdown never reaches Discord

    for command, others in [("like", {}), ("dislike", {}), ("rate", {"stars": 4})]:
        result = await server.alice.slash(server.channel, command, track=EVIL, **others)
        message = answer(result)
        assert message.content.startswith("Saved:")
        assert_pings_no_one(message)
        assert "**@everyone**" not in message.content
        assert "\\*\\*" in message.content  # the name's own stars are escaped
        assert "@\u200beveryone" in message.content
    history = answer(await server.alice.slash(server.channel, "history"))
    assert_pings_no_one(history)
    assert "**@everyone**" not in every_text(history)
    profile = answer(await server.alice.slash(server.channel, "profile"))
    assert_pings_no_one(profile)
    assert "<@123456789012345678>" not in every_text(profile)

    # A member's name is echoed escaped too.
    mallory = server.guild.add_member(server.env.create_user("@everyone **m**"))
    await mallory.slash(server.channel, "like", track=EVIL)
    taste = answer(await server.alice.slash(server.channel, "taste", member=mallory))
    assert_pings_no_one(taste)
    assert "@everyone **m**" not in every_text(taste)
    server.expect_user_errors(0)


# ----------------------------------------------------------------- ids that are no track


UNKNOWN_IDS = [
    "0000000000000000000000",
    "spotify:track:0000000000000000000000",
    "https://open.spotify.com/track/0000000000000000000000?si=x",
    "https://open.spotify.com/track/",
    "spotify:track:",
    "not-a-spotify-id!",
    track_id(12345),
]


async def test_ids_that_are_no_track_or_version_are_refused_clearly(server: Server):
    for value in UNKNOWN_IDS:
        for command, option, others in TEXT_OPTIONS[:5]:
            result = await server.alice.slash(server.channel, command, **{option: value}, **others)
            message = answer(result)
            assert_clear_refusal(message)
            assert "couldn't find" in message.content
    for version in (999, 2**31, 2**40):
        result = await server.carol.slash(server.channel, "admin rollback", version=version)
        assert_clear_refusal(answer(result))
    server.expect_user_errors(len(UNKNOWN_IDS) * 5 + 3)


# ------------------------------------------------------------- counts out of range


async def test_counts_out_of_range_never_reach_the_bot(server: Server):
    """Discord checks the declared ranges before sending; SimCord does the same."""
    requests = len(server.env.http_requests)
    for value in (-1, 0, 11, 10**6, 2**60):
        for command, options in [
            ("recommend", {"count": value}),
            ("similar", {"track": EVIL, "count": value}),
            ("mix", {"track1": EVIL, "count": value}),
            ("artist", {"name": "Queen", "count": value}),
            ("trending", {"count": value}),
            ("rate", {"track": EVIL, "stars": value}),
        ]:
            with pytest.raises(OptionError):
                await server.alice.slash(server.channel, command, **options)
    assert len(server.env.http_requests) == requests  # the bot never heard of them
