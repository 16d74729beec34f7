"""ORM models. Only `storage/` touches these; everything else gets dataclasses."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

AUDIO_FEATURES = (
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "time_signature",
)
# Every catalog track has these, or (a track outside the catalog, added because a member
# played it) none of them: the database enforces all or nothing, so "danceability IS NULL"
# says whether a track has audio features. time_signature is optional on its own.
CORE_AUDIO_FEATURES = tuple(name for name in AUDIO_FEATURES if name != "time_signature")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always hands back timezone-aware datetimes (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class FeedbackKind(enum.StrEnum):
    LIKE = "like"
    LOVE = "love"
    DISLIKE = "dislike"
    SKIP = "skip"
    RATING = "rating"


class FeedbackSource(enum.StrEnum):
    REACTION = "reaction"
    BUTTON = "button"
    COMMAND = "command"
    IMPORT = "import"


class PlaySource(enum.StrEnum):
    """Where a play came from: a Spotify privacy export, Last.fm scrobbles, or Discord
    presence captured while the member opted in (/listening)."""

    SPOTIFY_EXPORT = "spotify-export"
    LASTFM = "lastfm"
    LISTENING = "listening"


class ModelStatus(enum.StrEnum):
    TRAINING = "training"
    CANDIDATE = "candidate"
    ACTIVE = "active"
    REJECTED = "rejected"
    FAILED = "failed"
    RETIRED = "retired"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    # Stored as plain strings with a CHECK, so PostgreSQL needs no enum type migrations.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [member.value for member in members],
    )


class Artist(Base):
    __tablename__ = "artists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(512))
    # Case- and space-folded name: datasets without artist ids still merge on it.
    name_key: Mapped[str] = mapped_column(String(512), unique=True)
    spotify_id: Mapped[str | None] = mapped_column(String(22), unique=True)


class Genre(Base):
    __tablename__ = "genres"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)


class Track(Base):
    __tablename__ = "tracks"
    __table_args__ = (
        CheckConstraint("length(id) = 22", name="spotify_id_length"),
        CheckConstraint("popularity IS NULL OR popularity BETWEEN 0 AND 100", name="popularity"),
        CheckConstraint(
            "("
            + " AND ".join(f"{name} IS NULL" for name in CORE_AUDIO_FEATURES)
            + ") OR ("
            + " AND ".join(f"{name} IS NOT NULL" for name in CORE_AUDIO_FEATURES)
            + ")",
            name="audio_features",
        ),
    )

    id: Mapped[str] = mapped_column(String(22), primary_key=True)
    name: Mapped[str] = mapped_column(String(1024))
    album: Mapped[str | None] = mapped_column(String(1024))
    album_id: Mapped[str | None] = mapped_column(String(22))
    # Display names in order, as a JSON array; the artists/track_artists tables are the
    # relational form. Kept here so search and display need no join.
    artist_names: Mapped[str] = mapped_column(Text)
    popularity: Mapped[int | None] = mapped_column(SmallInteger, index=True)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    explicit: Mapped[bool | None] = mapped_column(Boolean)
    # As precise as the source: YYYY, YYYY-MM or YYYY-MM-DD.
    release_date: Mapped[str | None] = mapped_column(String(10))
    # All NULL for a track outside the catalog (a member played it; no dataset describes
    # it): content models give it no vector, cards show no sound bars.
    danceability: Mapped[float | None] = mapped_column(Float)
    energy: Mapped[float | None] = mapped_column(Float)
    key: Mapped[int | None] = mapped_column(SmallInteger)
    loudness: Mapped[float | None] = mapped_column(Float)
    mode: Mapped[int | None] = mapped_column(SmallInteger)
    speechiness: Mapped[float | None] = mapped_column(Float)
    acousticness: Mapped[float | None] = mapped_column(Float)
    instrumentalness: Mapped[float | None] = mapped_column(Float)
    liveness: Mapped[float | None] = mapped_column(Float)
    valence: Mapped[float | None] = mapped_column(Float)
    tempo: Mapped[float | None] = mapped_column(Float)
    time_signature: Mapped[int | None] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrackArtist(Base):
    __tablename__ = "track_artists"

    track_id: Mapped[str] = mapped_column(
        ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    artist_id: Mapped[int] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), index=True)


class TrackGenre(Base):
    __tablename__ = "track_genres"

    track_id: Mapped[str] = mapped_column(
        ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True
    )
    genre_id: Mapped[int] = mapped_column(
        ForeignKey("genres.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class TrackPlaylist(Base):
    """A catalog track's place in one of the public playlists the catalog files come from
    (TidyTuesday's spotify_songs, the 2024 high/low popularity files): which artists are
    played alongside which (recommender/artists.py). Filled by the catalog import, once
    per (track, playlist)."""

    __tablename__ = "track_playlists"

    track_id: Mapped[str] = mapped_column(
        ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True
    )
    playlist_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Guild(Base):
    __tablename__ = "guilds"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Feedback(Base):
    """One opinion of one member about one track.

    Message-bound feedback (reactions, buttons) is unique per (user, message, track, kind,
    source): a repeated gateway event is a no-op, and removing the reaction deletes exactly
    that row. Feedback without a message (commands, imports) is unique per (user, track,
    kind, source): `/like` twice is one like, and `/rate` again replaces the stars.
    """

    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint(
            # NULL would make the first branch NULL, and a NULL CHECK passes: test it explicitly.
            "(kind = 'rating' AND value IS NOT NULL AND value BETWEEN 1 AND 5) "
            "OR (kind <> 'rating' AND value IS NULL)",
            name="rating_value",
        ),
        Index(
            "uq_feedback_message_event",
            "user_id",
            "message_id",
            "track_id",
            "kind",
            "source",
            unique=True,
            sqlite_where=text("message_id IS NOT NULL"),
            postgresql_where=text("message_id IS NOT NULL"),
        ),
        Index(
            "uq_feedback_standalone",
            "user_id",
            "track_id",
            "kind",
            "source",
            unique=True,
            sqlite_where=text("message_id IS NULL"),
            postgresql_where=text("message_id IS NULL"),
        ),
        Index("ix_feedback_created_at", "created_at"),
        Index("ix_feedback_user_created", "user_id", "created_at"),
        Index("ix_feedback_track_id", "track_id"),
        Index("ix_feedback_guild_created", "guild_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    guild_id: Mapped[int | None] = mapped_column(ForeignKey("guilds.id", ondelete="CASCADE"))
    track_id: Mapped[str] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    kind: Mapped[FeedbackKind] = mapped_column(_enum(FeedbackKind, "feedback_kind"))
    value: Mapped[int | None] = mapped_column(SmallInteger)
    source: Mapped[FeedbackSource] = mapped_column(_enum(FeedbackSource, "feedback_source"))
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Play(Base):
    """One play of one track by one member, from an imported history or listening capture.

    Plays are implicit feedback (recommender.plays turns them into weights). Unique per
    (user, track, played_at, source): importing the same history again stores nothing new.
    `ms_played` is NULL when the source does not say (a Last.fm scrobble: by Last.fm's rules
    at least half the track or four minutes were heard); `skipped` is NULL when unknown.
    """

    __tablename__ = "plays"
    __table_args__ = (
        UniqueConstraint("user_id", "track_id", "played_at", "source"),
        CheckConstraint("ms_played IS NULL OR ms_played >= 0", name="ms_played"),
        # A member's plays by time (serving reads one member's recent plays).
        Index("ix_plays_user_played", "user_id", "played_at"),
        # A track's plays (and ON DELETE CASCADE from tracks without a full scan).
        Index("ix_plays_track_id", "track_id"),
    )

    # Ids grow with arrival: incremental readers keep the highest id they have seen.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    track_id: Mapped[str] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    played_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ms_played: Mapped[int | None] = mapped_column(Integer)
    skipped: Mapped[bool | None] = mapped_column(Boolean)
    source: Mapped[PlaySource] = mapped_column(_enum(PlaySource, "play_source"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ListeningOptIn(Base):
    """Members who turned listening capture on (/listening state:on), and since when.

    A table of its own rather than a column on users: a row is the consent itself (there
    is none until the member asks, and turning it off deletes it, so nothing lingers),
    listing who opted in reads this small table instead of every member, and forget-me
    and export treat it like any other table about a member.
    """

    __tablename__ = "listening_optin"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    enabled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RecommendationServed(Base):
    """A track shown to a member on a Discord message, so a reaction maps back to it."""

    __tablename__ = "recommendations_served"
    __table_args__ = (
        UniqueConstraint("message_id", "position"),
        CheckConstraint("position >= 0", name="position"),
        Index("ix_recommendations_served_user_created", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(BigInteger)
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    guild_id: Mapped[int | None] = mapped_column(ForeignKey("guilds.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    track_id: Mapped[str] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(SmallInteger)
    model_kind: Mapped[str] = mapped_column(String(32))
    model_version: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(512))
    # When the card first showed this pick (None: not shown yet, e.g. a later pick that
    # "next" has not reached). A reaction counts for the latest pick shown.
    shown_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SpotifyTrackInfo(Base):
    """What Spotify's API said about a track (optional enrichment), cached so each track is
    asked for once. `found` False records a track Spotify does not know, so it is not asked
    again before `fetched_at` is old."""

    __tablename__ = "spotify_track_info"

    track_id: Mapped[str] = mapped_column(
        ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True
    )
    found: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str | None] = mapped_column(String(300))
    artist_names: Mapped[str | None] = mapped_column(String(1000))
    album: Mapped[str | None] = mapped_column(String(300))
    album_art_url: Mapped[str | None] = mapped_column(String(1024))
    track_url: Mapped[str | None] = mapped_column(String(1024))
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BotSetting(Base):
    """Settings admins change at run time (e.g. the daily training time), as text."""

    __tablename__ = "bot_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(1024))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelVersion(Base):
    """The model registry: every trained artifact, its numbers and whether it serves."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("kind", "version"),
        # At most one active version per kind, enforced by the database itself.
        Index(
            "uq_model_versions_one_active",
            "kind",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[ModelStatus] = mapped_column(_enum(ModelStatus, "model_status"))
    trained_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    training_rows: Mapped[int | None] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    artifact_path: Mapped[str | None] = mapped_column(String(1024))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
