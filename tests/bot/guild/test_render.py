"""bot.demo.render on messages the real bot sends in SimCord: what `earworm demo` prints."""

from __future__ import annotations

import discord

from bot.demo.render import embed_lines, message_lines, plain, result_lines, result_messages
from tests.bot.guild.conftest import Server
from tests.factories import track_id

HALO = track_id(0)
BUTTONS = "[👍 Like] [❤️ Love] [👎 Dislike] [⏭️ Next]"


def test_plain_reads_markdown_as_a_member_would() -> None:
    assert plain("Saved: you like **Halo** — Beyoncé. `/recommend` learns") == (
        "Saved: you like Halo — Beyoncé. /recommend learns"
    )
    assert plain("[▶️ preview](https://open.spotify.com/embed/track/x)") == (
        "▶️ preview (https://open.spotify.com/embed/track/x)"
    )
    assert plain("at <t:0:f>, daily at <t:3600:t>") == "at 1970-01-01 00:00 UTC, daily at 01:00 UTC"
    # Escaped marks are the text itself: a catalog name with stars keeps them.
    assert plain(discord.utils.escape_markdown("**NSYNC_live")) == "**NSYNC_live"


def test_a_field_value_is_shortened_with_a_count() -> None:
    embed = discord.Embed(title="T").add_field(name="Commands", value="a\nb\nc\nd")
    assert embed_lines(embed, field_limit=2) == [
        "┃ T",
        "┃ Commands:",
        "┃   a",
        "┃   b",
        "┃   … and 2 more",
    ]


async def test_a_card_shows_its_embed_buttons_and_reactions(server: Server) -> None:
    result = await server.alice.slash(server.channel, "similar", track=HALO)

    [card] = result_messages(result)  # the "thinking…" placeholder is no message of its own
    lines = message_lines(card)
    assert lines[0] == "┃ Like Halo by Beyoncé"
    assert lines[1].startswith("┃ ")
    assert "  <https://open.spotify.com/track/" in lines[1]
    assert "┃ Sound:" in lines
    assert any(line.startswith("┃   Dance    ▰") for line in lines)
    assert any(
        line.startswith("┃ Listen: ▶️ 30-second preview (https://open.spotify.com/embed/track/")
        for line in lines
    )
    assert lines[-3].startswith("┃ Pick 1 of ")
    assert lines[-2] == BUTTONS
    assert lines[-1] == "👍 1  ❤️ 1  👎 1  ⏭️ 1"  # the bot's own seeded reactions
    assert not any("**" in line or "`" in line for line in lines)

    await server.alice.react(card, "👍")
    await server.bob.react(card, "👍")
    await server.bob.react(card, "❤️")
    again = message_lines(result.response)
    assert again[-1] == "👍 3  ❤️ 2  👎 1  ⏭️ 1"


async def test_next_shows_the_edited_card(server: Server) -> None:
    result = await server.alice.slash(server.channel, "similar", track=HALO)
    card = result.response
    assert card is not None

    pressed = await server.alice.click(card, label="Next")

    lines = result_lines(pressed, viewer="alice")
    assert any(line.startswith("┃ Pick 2 of ") for line in lines)
    assert BUTTONS in lines


async def test_an_ephemeral_reply_says_who_sees_it(server: Server) -> None:
    result = await server.alice.slash(server.channel, "like", track=HALO)

    assert result_lines(result, viewer="alice") == [
        "(only alice sees this)",
        "Saved: you like Halo — Beyoncé. /recommend learns from it.",
    ]


async def test_help_can_be_shortened(server: Server) -> None:
    result = await server.alice.slash(server.channel, "help")

    lines = result_lines(result, viewer="alice", field_limit=3)
    assert lines[:2] == ["(only alice sees this)", "┃ 🎧 Earworm: music recommendations"]
    assert "┃ Commands:" in lines
    assert any(line.startswith("┃   … and ") and line.endswith(" more") for line in lines)


async def test_attachments_show_by_file_name(server: Server) -> None:
    await server.alice.slash(server.channel, "like", track=HALO)

    result = await server.alice.slash(server.channel, "profile")

    lines = result_lines(result, viewer="alice")
    assert "┃ 🎧 alice's taste" in lines
    assert "┃ [image: taste.png]" in lines
    assert lines[-1] == "📎 taste.png"


async def test_timestamps_read_as_dates(server: Server) -> None:
    result = await server.carol.slash(server.channel, "admin status")

    lines = result_lines(result, viewer="carol")
    assert lines[0] == "(only carol sees this)"
    assert "┃ Earworm status" in lines
    assert any(line.startswith("┃ Next scheduled run: ") and "UTC" in line for line in lines)
    assert not any("<t:" in line for line in lines)
