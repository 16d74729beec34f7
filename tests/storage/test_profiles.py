"""Taste profiles: positive feedback only, each liked track once, per member and per server."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database
from storage.models import Artist, FeedbackKind, FeedbackSource, Genre, TrackArtist, TrackGenre
from storage.repositories.feedback import FeedbackEvent, record_feedback
from storage.repositories.profiles import PROFILE_FEATURES, guild_features, member_taste
from tests.factories import track_id
from tests.storage.conftest import new_track

ALICE = 111_111_111_111_111_111
BOB = 222_222_222_222_222_222
GUILD = 333_333_333_333_333_333
OTHER_GUILD = 555_555_555_555_555_555
MESSAGE = 444_444_444_444_444_444

# number: (artists, genres, danceability, energy)
CATALOG = {
    1: (["Queen"], ["rock"], 0.2, 0.9),
    2: (["Queen", "David Bowie"], ["rock", "glam"], 0.4, 0.7),
    3: (["Beyoncé"], ["pop"], 0.8, 0.6),
    4: (["Small Band"], ["indie"], 0.6, 0.1),
}


@pytest.fixture
async def catalog(database: Database) -> None:
    """Four tracks with their artists and genres linked, and distinct features."""
    artist_ids: dict[str, int] = {}
    genre_ids: dict[str, int] = {}
    async with database.sessions() as session, session.begin():
        for number, (artists, genres, danceability, energy) in CATALOG.items():
            track = new_track(number)
            track.danceability = danceability
            track.energy = energy
            session.add(track)
            for name in artists:
                if name not in artist_ids:
                    artist = Artist(name=name, name_key=name.casefold())
                    session.add(artist)
                    await session.flush()
                    artist_ids[name] = artist.id
            for name in genres:
                if name not in genre_ids:
                    genre = Genre(name=name)
                    session.add(genre)
                    await session.flush()
                    genre_ids[name] = genre.id
            await session.flush()
            session.add_all(
                TrackArtist(track_id=track.id, position=position, artist_id=artist_ids[name])
                for position, name in enumerate(artists)
            )
            session.add_all(
                TrackGenre(track_id=track.id, genre_id=genre_ids[name]) for name in genres
            )


async def give(
    session: AsyncSession,
    user: int,
    number: int,
    kind: FeedbackKind,
    *,
    guild: int | None = GUILD,
    message: int | None = None,
    value: int | None = None,
) -> None:
    await record_feedback(
        session,
        FeedbackEvent(
            user_id=user,
            guild_id=guild,
            track_id=track_id(number),
            kind=kind,
            source=FeedbackSource.REACTION if message else FeedbackSource.COMMAND,
            message_id=message,
            value=value,
        ),
    )


@pytest.mark.usefixtures("catalog")
async def test_taste_counts_positive_feedback_once_per_track(session: AsyncSession) -> None:
    # Track 1 liked on two cards and loved: still one liked track.
    await give(session, ALICE, 1, FeedbackKind.LIKE, message=MESSAGE)
    await give(session, ALICE, 1, FeedbackKind.LIKE, message=MESSAGE + 1)
    await give(session, ALICE, 1, FeedbackKind.LOVE, message=MESSAGE)
    await give(session, ALICE, 2, FeedbackKind.RATING, value=4, guild=None)
    # Neither a 3-star rating nor a dislike nor a skip is taste.
    await give(session, ALICE, 3, FeedbackKind.RATING, value=3)
    await give(session, ALICE, 3, FeedbackKind.DISLIKE)
    await give(session, ALICE, 4, FeedbackKind.SKIP)
    await give(session, BOB, 3, FeedbackKind.LIKE)

    taste = await member_taste(session, ALICE)

    assert taste.liked_tracks == {track_id(1), track_id(2)}
    assert (taste.liked, taste.disliked, taste.skipped) == (2, 1, 1)
    assert taste.genres == {"rock": 2, "glam": 1}
    assert list(taste.genres) == ["rock", "glam"]
    assert taste.top_artists(1) == [("Queen", 2)]
    assert taste.artists == {"Queen": 2, "David Bowie": 1}
    assert taste.features["danceability"] == pytest.approx((0.2 + 0.4) / 2)
    assert taste.features["energy"] == pytest.approx((0.9 + 0.7) / 2)
    assert set(taste.features) == set(PROFILE_FEATURES)


@pytest.mark.usefixtures("catalog")
async def test_member_with_only_negative_feedback_has_no_taste(session: AsyncSession) -> None:
    await give(session, ALICE, 3, FeedbackKind.DISLIKE)
    await give(session, ALICE, 3, FeedbackKind.RATING, value=2)

    taste = await member_taste(session, ALICE)

    assert taste.liked == 0
    assert taste.disliked == 1
    assert (taste.genres, taste.artists, taste.features) == ({}, {}, {})


@pytest.mark.usefixtures("catalog")
async def test_unknown_member_has_empty_taste(session: AsyncSession) -> None:
    taste = await member_taste(session, BOB)
    assert (taste.liked, taste.disliked, taste.skipped) == (0, 0, 0)


@pytest.mark.usefixtures("catalog")
async def test_guild_features_average_every_members_likes_in_that_guild(
    session: AsyncSession,
) -> None:
    await give(session, ALICE, 1, FeedbackKind.LIKE)
    await give(session, BOB, 1, FeedbackKind.LOVE)
    await give(session, BOB, 3, FeedbackKind.LIKE)
    await give(session, BOB, 4, FeedbackKind.DISLIKE)  # not a like
    await give(session, BOB, 4, FeedbackKind.LIKE, guild=OTHER_GUILD)  # another server

    features = await guild_features(session, GUILD)

    # Track 1 counts for alice and for bob.
    assert features["danceability"] == pytest.approx((0.2 + 0.2 + 0.8) / 3)
    assert features["energy"] == pytest.approx((0.9 + 0.9 + 0.6) / 3)
    assert await guild_features(session, OTHER_GUILD) == pytest.approx(
        {name: features_of_track_4(name) for name in PROFILE_FEATURES}
    )
    assert await guild_features(session, 999_999_999_999) == {}


def features_of_track_4(name: str) -> float:
    track = new_track(4)
    track.danceability, track.energy = CATALOG[4][2], CATALOG[4][3]
    return float(getattr(track, name))
