"""/profile and /taste: a member's taste from their likes, and how alike two tastes are."""

from __future__ import annotations

from dataclasses import dataclass, field

import discord
import pytest

from bot.serving.taste import compare, cosine, similarity
from storage.models import FeedbackKind, FeedbackSource
from storage.repositories.feedback import FeedbackEvent, record_feedback
from tests.bot.guild.conftest import Server
from tests.bot.serving.test_charts import png_size
from tests.factories import track_id

# tests/bot/world.py: 0 Halo, 1 Crazy in Love (Beyoncé, pop), 2 Formation (Beyoncé, hip hop),
# 4 Blinding Lights (The Weeknd, synth-pop), 5 Bohemian Rhapsody, 6 Don't Stop Me Now
# (Queen, rock), 7 Garage Demo, 8 B-Side (Small Band, indie).
LIKE, LOVE, DISLIKE, SKIP, RATING = (
    FeedbackKind.LIKE,
    FeedbackKind.LOVE,
    FeedbackKind.DISLIKE,
    FeedbackKind.SKIP,
    FeedbackKind.RATING,
)


async def give(
    server: Server,
    user: int,
    *events: tuple[int, FeedbackKind] | tuple[int, FeedbackKind, int],
    guild: bool = True,
) -> None:
    """Feedback as commands record it: (track number, kind[, stars])."""
    async with server.bot.database.sessions() as session, session.begin():
        for number, kind, *stars in events:
            await record_feedback(
                session,
                FeedbackEvent(
                    user_id=user,
                    guild_id=server.guild.id if guild else None,
                    track_id=track_id(number),
                    kind=kind,
                    source=FeedbackSource.COMMAND,
                    value=stars[0] if stars else None,
                ),
            )


def field_values(embed: discord.Embed) -> dict[str, str]:
    return {str(item.name): str(item.value) for item in embed.fields}


def deferred(server: Server) -> bool:
    """Whether the bot acknowledged an interaction with "thinking…" (a deferred reply)."""
    return any(
        request.path.endswith("/callback") and (request.json or {}).get("type") == 5
        for request in server.env.http_requests
    )


# ---------------------------------------------------------------- the /taste score, by hand


@dataclass
class Taste:
    genres: dict[str, int] = field(default_factory=dict)
    artists: dict[str, int] = field(default_factory=dict)
    liked_tracks: frozenset[str] = frozenset()


def test_cosine_on_a_hand_computed_case() -> None:
    # (2, 1, 0) · (1, 2, 0) = 4; both norms √5: 4 / 5.
    assert cosine({"pop": 2, "rock": 1}, {"rock": 2, "pop": 1}) == pytest.approx(0.8)
    assert cosine({"pop": 3}, {"rock": 3}) == 0.0
    assert cosine({}, {"rock": 1}) == 0.0
    assert cosine({"pop": 0}, {"pop": 0}) == 0.0
    assert cosine({"pop": 1, "rock": 2}, {"pop": 10, "rock": 20}) == pytest.approx(1.0)


def test_similarity_weighs_genres_and_artists() -> None:
    alice = Taste({"pop": 2, "rock": 1}, {"Beyoncé": 2, "Queen": 1}, frozenset({"a", "b", "c"}))
    bob = Taste({"rock": 2, "pop": 1}, {"Queen": 2, "Small Band": 1}, frozenset({"c", "d"}))

    # genres 4/5 = 0.8, artists 2/5 = 0.4: 100 × (0.6 × 0.8 + 0.4 × 0.4) = 64.
    match = compare(alice, bob)

    assert match.score == pytest.approx(64.0)
    assert match.shared_genres == ("pop", "rock")  # each shared once (min count 1): by name
    assert match.shared_artists == ("Queen",)
    assert match.shared_tracks == 1
    assert similarity(bob, alice) == pytest.approx(match.score)


def test_similarity_edge_cases() -> None:
    same = Taste({"pop": 3, "rock": 1}, {"Beyoncé": 4})
    bigger_same = Taste({"pop": 30, "rock": 10}, {"Beyoncé": 40})
    nothing_alike = Taste({"jazz": 1}, {"Miles Davis": 1})
    no_genres = Taste({}, {"Beyoncé": 1, "Queen": 1})

    assert similarity(same, bigger_same) == pytest.approx(100.0)
    assert similarity(same, nothing_alike) == 0.0
    # Without genres on one side only artists count: 4·1 / (4 · √2).
    assert similarity(same, no_genres) == pytest.approx(100 / 2**0.5)
    assert similarity(Taste(), Taste()) == 0.0
    assert compare(same, nothing_alike).shared_artists == ()


def test_shared_names_rank_what_both_like_most_first() -> None:
    alice = Taste({"rock": 5, "pop": 1, "indie": 3}, {})
    bob = Taste({"rock": 1, "pop": 9, "indie": 2}, {})
    assert compare(alice, bob, top=2).shared_genres == ("indie", "pop")


# ---------------------------------------------------------------------------------- /profile


async def test_profile_shows_top_genre_artist_and_a_radar_chart(server: Server) -> None:
    alice = server.alice.id
    await give(server, alice, (0, LIKE), (1, LIKE), (5, LOVE), (2, RATING, 5))
    # Not taste: a lukewarm rating, dislikes (Small Band twice) and a skip.
    await give(server, alice, (6, RATING, 3), (7, DISLIKE), (8, DISLIKE), (4, SKIP))
    await give(server, server.bob.id, (5, LIKE), (6, LIKE))

    result = await server.alice.slash(server.channel, "profile")

    assert deferred(server)
    message = result.response
    assert message is not None
    assert not message.ephemeral
    [embed] = message.embeds
    assert embed.title == "🎧 alice's taste"
    assert "**4** liked songs" in str(embed.description)
    assert "👎 2 disliked" in str(embed.description)
    assert "⏭️ 1 skipped" in str(embed.description)
    fields = field_values(embed)
    assert fields["Top genres"].splitlines()[0] == "1. pop · 2"
    assert fields["Top artists"].splitlines() == ["1. Beyoncé · 3", "2. Queen · 1"]
    assert "indie" not in fields["Top genres"]
    assert "Small Band" not in fields["Top artists"]
    assert embed.image.url == "attachment://taste.png"
    assert "this server" in str(embed.footer.text)
    [attachment] = message.attachments
    assert attachment.filename == "taste.png"
    png = await attachment.read()
    assert png_size(png) == (600, 600)


async def test_profile_of_another_member(server: Server) -> None:
    await give(server, server.bob.id, (5, LIKE), (6, LIKE), (7, LIKE))

    result = await server.alice.slash(server.channel, "profile", member=server.bob)

    assert result.response is not None
    [embed] = result.response.embeds
    assert embed.title == "🎧 bob's taste"
    assert field_values(embed)["Top artists"].startswith("1. Queen · 2")
    assert len(result.response.attachments) == 1


async def test_profile_from_dm_feedback_has_no_server_outline(server: Server) -> None:
    # Liked only in DMs: this server has no likes to compare against.
    await give(server, server.alice.id, (0, LIKE), guild=False)

    result = await server.alice.slash(server.channel, "profile")

    assert result.response is not None
    assert "this server" not in str(result.response.embeds[0].footer.text)
    assert len(result.response.attachments) == 1


async def test_profile_in_dms(server: Server) -> None:
    await give(server, server.alice.id, (0, LIKE), (5, LIKE))

    result = await server.alice.user.slash("profile")

    assert result.response is not None
    [embed] = result.response.embeds
    assert embed.title == "🎧 alice's taste"
    assert "this server" not in str(embed.footer.text)  # no server to compare with in a DM
    assert len(result.response.attachments) == 1


async def test_profile_without_likes_gives_a_hint(server: Server) -> None:
    await give(server, server.alice.id, (7, DISLIKE))  # dislikes alone are no taste

    result = await server.alice.slash(server.channel, "profile")

    assert result.response is not None
    assert result.response.ephemeral
    assert "/recommend" in result.response.content
    assert "👍" in result.response.content
    assert not result.response.attachments
    server.expect_user_errors(1)


async def test_profile_of_a_member_without_likes_names_them(server: Server) -> None:
    result = await server.alice.slash(server.channel, "profile", member=server.bob)

    assert result.response is not None
    assert result.response.ephemeral
    assert result.response.content.startswith("bob hasn't liked any songs yet")
    server.expect_user_errors(1)


async def test_profile_escapes_the_members_name(server: Server) -> None:
    member = server.guild.add_member(server.env.create_user("**dj**"))
    await give(server, member.id, (0, LIKE))

    result = await member.slash(server.channel, "profile")

    assert result.response is not None
    assert result.response.embeds[0].title == "🎧 \\*\\*dj\\*\\*'s taste"


# ------------------------------------------------------------------------------------ /taste


async def test_taste_compares_two_members(server: Server) -> None:
    await give(server, server.alice.id, (0, LIKE), (1, LIKE), (5, LOVE), (7, DISLIKE))
    await give(server, server.bob.id, (5, LIKE), (6, LIKE), (7, LIKE))

    result = await server.alice.slash(server.channel, "taste", member=server.bob)

    assert result.response is not None
    assert not result.response.ephemeral
    [embed] = result.response.embeds
    assert embed.title == "🎧 alice × bob"
    # genres {pop 2, rock 1} vs {rock 2, indie 1}: 2/5; artists {Beyoncé 2, Queen 1} vs
    # {Queen 2, Small Band 1}: 2/5. 100 × (0.6 × 0.4 + 0.4 × 0.4) = 40.
    assert str(embed.description).startswith("**40 %** taste match")
    fields = field_values(embed)
    assert fields["Shared artists"] == "Queen"
    assert fields["Shared genres"] == "rock"
    assert fields["Same songs"] == "You both like 1 song."


async def test_taste_with_nothing_in_common(server: Server) -> None:
    await give(server, server.alice.id, (0, LIKE))
    await give(server, server.bob.id, (5, LIKE))

    result = await server.bob.slash(server.channel, "taste", member=server.alice)

    assert result.response is not None
    [embed] = result.response.embeds
    assert str(embed.description).startswith("**0 %** taste match")
    assert field_values(embed)["Shared artists"] == "None yet"
    assert "Same songs" not in field_values(embed)


async def test_taste_with_yourself_or_a_bot_is_refused_kindly(server: Server) -> None:
    await give(server, server.alice.id, (0, LIKE))
    robot = server.guild.add_member(server.env.create_user("robot", bot=True))

    yourself = await server.alice.slash(server.channel, "taste", member=server.alice)
    bot = await server.alice.slash(server.channel, "taste", member=robot)

    assert yourself.response is not None
    assert yourself.response.ephemeral
    assert "That's you" in yourself.response.content
    assert bot.response is not None
    assert bot.response.ephemeral
    assert "Bots don't have a taste" in bot.response.content
    server.expect_user_errors(2)


async def test_taste_needs_likes_on_both_sides(server: Server) -> None:
    await give(server, server.bob.id, (5, LIKE))

    mine_missing = await server.alice.slash(server.channel, "taste", member=server.bob)
    theirs_missing = await server.bob.slash(server.channel, "taste", member=server.carol)

    assert mine_missing.response is not None
    assert mine_missing.response.content.startswith("You haven't liked any songs yet")
    assert theirs_missing.response is not None
    assert theirs_missing.response.content.startswith("carol hasn't liked any songs yet")
    assert theirs_missing.response.ephemeral
    server.expect_user_errors(2)
