"""Taste profiles: what a member likes (genres, artists, sound) and a server's average sound.

A member's taste is the set of tracks they gave positive feedback: a like, a love, or a
rating of 4 or 5 stars. Dislikes and skips say what they do not want, not what they do, so
they are counted but never shape the taste. Each liked track counts once per member, however
many cards or reactions it was liked on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Select, Subquery, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from storage.models import Artist, Feedback, FeedbackKind, Genre, Track, TrackArtist, TrackGenre
from storage.repositories.people import check_snowflake

# The audio features a profile compares: all on a 0-1 scale in the catalog.
PROFILE_FEATURES = (
    "danceability",
    "energy",
    "valence",
    "acousticness",
    "speechiness",
    "instrumentalness",
    "liveness",
)
POSITIVE_RATING = 4

# A table to join and the condition to join it on.
Join = tuple[type, ColumnElement[bool]]


@dataclass(frozen=True, slots=True)
class MemberTaste:
    """One member's taste. `genres` and `artists` map a name to how many liked tracks carry
    it, most first (ties by name); `features` is the average of PROFILE_FEATURES over the
    liked tracks, empty when nothing is liked."""

    user_id: int
    liked_tracks: frozenset[str]
    disliked: int
    skipped: int
    genres: dict[str, int] = field(default_factory=dict)
    artists: dict[str, int] = field(default_factory=dict)
    features: dict[str, float] = field(default_factory=dict)

    @property
    def liked(self) -> int:
        return len(self.liked_tracks)

    def top_genres(self, count: int) -> list[tuple[str, int]]:
        return list(self.genres.items())[:count]

    def top_artists(self, count: int) -> list[tuple[str, int]]:
        return list(self.artists.items())[:count]


def is_positive() -> ColumnElement[bool]:
    """Feedback that says "I like this"."""
    return or_(
        Feedback.kind.in_([FeedbackKind.LIKE, FeedbackKind.LOVE]),
        and_(Feedback.kind == FeedbackKind.RATING, Feedback.value >= POSITIVE_RATING),
    )


def _liked_pairs(*where: ColumnElement[bool]) -> Select[tuple[int, str]]:
    # One row per (member, liked track): repeated likes of a track must not weigh more.
    return select(Feedback.user_id, Feedback.track_id).where(is_positive(), *where).distinct()


async def _name_counts(
    session: AsyncSession, pairs: Subquery, name: InstrumentedAttribute[str], *joins: Join
) -> dict[str, int]:
    """How many of the liked `pairs` carry each `name` (genre or artist), most first."""
    statement = select(name, func.count()).select_from(pairs)
    for target, on in joins:
        statement = statement.join(target, on)
    statement = statement.group_by(name).order_by(func.count().desc(), name)
    return {row[0]: row[1] for row in await session.execute(statement)}


async def _average_features(
    session: AsyncSession, liked: Select[tuple[int, str]]
) -> dict[str, float]:
    pairs = liked.subquery()
    columns = [func.avg(getattr(Track, name)) for name in PROFILE_FEATURES]
    row = (
        await session.execute(
            select(func.count(), *columns)
            .select_from(pairs)
            .join(Track, Track.id == pairs.c.track_id)
        )
    ).one()
    if not row[0]:
        return {}
    return {
        name: float(value)
        for name, value in zip(PROFILE_FEATURES, row[1:], strict=True)
        if value is not None
    }


async def member_taste(session: AsyncSession, user_id: int) -> MemberTaste:
    """Everything a profile shows about `user_id`, from their feedback in every server and
    in DMs (a member's taste is theirs, wherever they told us)."""
    check_snowflake(user_id, "user id")
    liked = _liked_pairs(Feedback.user_id == user_id)
    tracks = frozenset((await session.scalars(select(liked.subquery().c.track_id))).all())
    negative = await session.execute(
        select(Feedback.kind, func.count(func.distinct(Feedback.track_id)))
        .where(
            Feedback.user_id == user_id,
            Feedback.kind.in_([FeedbackKind.DISLIKE, FeedbackKind.SKIP]),
        )
        .group_by(Feedback.kind)
    )
    negatives = {FeedbackKind(kind): count for kind, count in negative}
    if not tracks:
        return MemberTaste(
            user_id=user_id,
            liked_tracks=tracks,
            disliked=negatives.get(FeedbackKind.DISLIKE, 0),
            skipped=negatives.get(FeedbackKind.SKIP, 0),
        )
    pairs = liked.subquery()
    genres = await _name_counts(
        session,
        pairs,
        Genre.name,
        (TrackGenre, TrackGenre.track_id == pairs.c.track_id),
        (Genre, Genre.id == TrackGenre.genre_id),
    )
    artists = await _name_counts(
        session,
        pairs,
        Artist.name,
        (TrackArtist, TrackArtist.track_id == pairs.c.track_id),
        (Artist, Artist.id == TrackArtist.artist_id),
    )
    return MemberTaste(
        user_id=user_id,
        liked_tracks=tracks,
        disliked=negatives.get(FeedbackKind.DISLIKE, 0),
        skipped=negatives.get(FeedbackKind.SKIP, 0),
        genres=genres,
        artists=artists,
        features=await _average_features(session, liked),
    )


async def guild_features(session: AsyncSession, guild_id: int) -> dict[str, float]:
    """The average PROFILE_FEATURES of every member's liked tracks in `guild_id` (a track
    liked by three members counts three times); empty when nobody liked anything there."""
    check_snowflake(guild_id, "guild id")
    return await _average_features(session, _liked_pairs(Feedback.guild_id == guild_id))
