"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 01:40:43.770259
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Full-text search over tracks (SQLite FTS5). A content-storing FTS table kept in sync by
# triggers: the tracks table has a text primary key, so its rowids are not stable across
# VACUUM and cannot anchor an external-content index. Rows are found again by their
# indexed track_id token (plus an exact comparison, as tokens are case-folded).
# Apostrophes are dropped rather than split on, so "dont" and "don't" both find "Don't".
# Popularity rides along (unindexed) so ranking needs no join; a bulk import pauses the
# triggers through track_search_sync and refills the index in popularity order instead.
FOLD = "replace(replace({}, char(39), ''), char(8217), '')"
INDEXED = (
    "{id}, "
    + ", ".join(
        FOLD.format(column) for column in ("{name}", "{artist_names}", "coalesce({album}, '')")
    )
    + ", {popularity}"
)
NEW_ROW = INDEXED.format(
    id="new.id",
    name="new.name",
    artist_names="new.artist_names",
    album="new.album",
    popularity="new.popularity",
)
STORED_ROW = INDEXED.format(
    id="id", name="name", artist_names="artist_names", album="album", popularity="popularity"
)
COLUMNS = "track_id, name, artists, album, popularity"
SYNCING = "(SELECT paused FROM track_search_sync) = 0"
DELETE_OLD = """
        DELETE FROM track_search
        WHERE track_search MATCH 'track_id:"' || old.id || '"' AND track_id = old.id;"""

FTS_OBJECTS = [
    """
    CREATE VIRTUAL TABLE track_search USING fts5(
        track_id, name, artists, album, popularity UNINDEXED,
        tokenize = 'unicode61 remove_diacritics 2',
        prefix = '1 2 3 4'
    )
    """,
    "CREATE TABLE track_search_sync (paused INTEGER NOT NULL)",
    "INSERT INTO track_search_sync (paused) VALUES (0)",
    f"""
    CREATE TRIGGER tracks_search_insert AFTER INSERT ON tracks WHEN {SYNCING} BEGIN
        INSERT INTO track_search ({COLUMNS}) VALUES ({NEW_ROW});
    END
    """,
    f"""
    CREATE TRIGGER tracks_search_delete AFTER DELETE ON tracks WHEN {SYNCING} BEGIN
        {DELETE_OLD}
    END
    """,
    f"""
    CREATE TRIGGER tracks_search_update
    AFTER UPDATE OF id, name, artist_names, album, popularity ON tracks WHEN {SYNCING}
    BEGIN
        {DELETE_OLD}
        INSERT INTO track_search ({COLUMNS}) VALUES ({NEW_ROW});
    END
    """,
]


def _create_search() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL gets its own text search in a later migration.
    for statement in FTS_OBJECTS:
        op.execute(statement)
    op.execute(
        f"INSERT INTO track_search ({COLUMNS}) SELECT {STORED_ROW} FROM tracks "
        "ORDER BY coalesce(popularity, -1) DESC, id"
    )


def _drop_search() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in (
        "tracks_search_insert",
        "tracks_search_delete",
        "tracks_search_update",
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS track_search")
    op.execute("DROP TABLE IF EXISTS track_search_sync")


def upgrade() -> None:
    op.create_table(
        "artists",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("name_key", sa.String(length=512), nullable=False),
        sa.Column("spotify_id", sa.String(length=22), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artists")),
        sa.UniqueConstraint("name_key", name=op.f("uq_artists_name_key")),
        sa.UniqueConstraint("spotify_id", name=op.f("uq_artists_spotify_id")),
    )
    op.create_table(
        "genres",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_genres")),
        sa.UniqueConstraint("name", name=op.f("uq_genres_name")),
    )
    op.create_table(
        "guilds",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guilds")),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "training",
                "candidate",
                "active",
                "rejected",
                "failed",
                "retired",
                name="model_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("training_rows", sa.Integer(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("artifact_path", sa.String(length=1024), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.UniqueConstraint("kind", "version", name=op.f("uq_model_versions_kind_version")),
    )
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.create_index(
            "uq_model_versions_one_active",
            ["kind"],
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )

    op.create_table(
        "tracks",
        sa.Column("id", sa.String(length=22), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("album", sa.String(length=1024), nullable=True),
        sa.Column("album_id", sa.String(length=22), nullable=True),
        sa.Column("artist_names", sa.Text(), nullable=False),
        sa.Column("popularity", sa.SmallInteger(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("explicit", sa.Boolean(), nullable=True),
        sa.Column("release_date", sa.String(length=10), nullable=True),
        sa.Column("danceability", sa.Float(), nullable=False),
        sa.Column("energy", sa.Float(), nullable=False),
        sa.Column("key", sa.SmallInteger(), nullable=False),
        sa.Column("loudness", sa.Float(), nullable=False),
        sa.Column("mode", sa.SmallInteger(), nullable=False),
        sa.Column("speechiness", sa.Float(), nullable=False),
        sa.Column("acousticness", sa.Float(), nullable=False),
        sa.Column("instrumentalness", sa.Float(), nullable=False),
        sa.Column("liveness", sa.Float(), nullable=False),
        sa.Column("valence", sa.Float(), nullable=False),
        sa.Column("tempo", sa.Float(), nullable=False),
        sa.Column("time_signature", sa.SmallInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("length(id) = 22", name=op.f("ck_tracks_spotify_id_length")),
        sa.CheckConstraint(
            "popularity IS NULL OR popularity BETWEEN 0 AND 100",
            name=op.f("ck_tracks_popularity"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracks")),
    )
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tracks_popularity"), ["popularity"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=True),
        sa.Column("track_id", sa.String(length=22), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "like",
                "love",
                "dislike",
                "skip",
                "rating",
                name="feedback_kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("value", sa.SmallInteger(), nullable=True),
        sa.Column(
            "source",
            sa.Enum(
                "reaction",
                "button",
                "command",
                "import",
                name="feedback_source",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(kind = 'rating' AND value IS NOT NULL AND value BETWEEN 1 AND 5) "
            "OR (kind <> 'rating' AND value IS NULL)",
            name=op.f("ck_feedback_rating_value"),
        ),
        sa.ForeignKeyConstraint(
            ["guild_id"],
            ["guilds.id"],
            name=op.f("fk_feedback_guild_id_guilds"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
            name=op.f("fk_feedback_track_id_tracks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_feedback_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index("ix_feedback_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_feedback_user_created", ["user_id", "created_at"], unique=False)
        batch_op.create_index("ix_feedback_guild_created", ["guild_id", "created_at"], unique=False)
        batch_op.create_index("ix_feedback_track_id", ["track_id"], unique=False)
        batch_op.create_index(
            "uq_feedback_message_event",
            ["user_id", "message_id", "track_id", "kind", "source"],
            unique=True,
            sqlite_where=sa.text("message_id IS NOT NULL"),
            postgresql_where=sa.text("message_id IS NOT NULL"),
        )
        batch_op.create_index(
            "uq_feedback_standalone",
            ["user_id", "track_id", "kind", "source"],
            unique=True,
            sqlite_where=sa.text("message_id IS NULL"),
            postgresql_where=sa.text("message_id IS NULL"),
        )

    op.create_table(
        "recommendations_served",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("guild_id", sa.BigInteger(), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("track_id", sa.String(length=22), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("model_kind", sa.String(length=32), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=512), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("position >= 0", name=op.f("ck_recommendations_served_position")),
        sa.ForeignKeyConstraint(
            ["guild_id"],
            ["guilds.id"],
            name=op.f("fk_recommendations_served_guild_id_guilds"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
            name=op.f("fk_recommendations_served_track_id_tracks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_recommendations_served_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recommendations_served")),
        sa.UniqueConstraint(
            "message_id",
            "position",
            name=op.f("uq_recommendations_served_message_id_position"),
        ),
    )
    with op.batch_alter_table("recommendations_served", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recommendations_served_user_created",
            ["user_id", "created_at"],
            unique=False,
        )

    op.create_table(
        "track_artists",
        sa.Column("track_id", sa.String(length=22), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("artist_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["artist_id"],
            ["artists.id"],
            name=op.f("fk_track_artists_artist_id_artists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
            name=op.f("fk_track_artists_track_id_tracks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("track_id", "position", name=op.f("pk_track_artists")),
    )
    with op.batch_alter_table("track_artists", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_track_artists_artist_id"), ["artist_id"], unique=False)

    op.create_table(
        "track_genres",
        sa.Column("track_id", sa.String(length=22), nullable=False),
        sa.Column("genre_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["genre_id"],
            ["genres.id"],
            name=op.f("fk_track_genres_genre_id_genres"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
            name=op.f("fk_track_genres_track_id_tracks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("track_id", "genre_id", name=op.f("pk_track_genres")),
    )
    with op.batch_alter_table("track_genres", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_track_genres_genre_id"), ["genre_id"], unique=False)

    _create_search()


def downgrade() -> None:
    _drop_search()
    with op.batch_alter_table("track_genres", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_track_genres_genre_id"))

    op.drop_table("track_genres")
    with op.batch_alter_table("track_artists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_track_artists_artist_id"))

    op.drop_table("track_artists")
    with op.batch_alter_table("recommendations_served", schema=None) as batch_op:
        batch_op.drop_index("ix_recommendations_served_user_created")

    op.drop_table("recommendations_served")
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_feedback_standalone",
            sqlite_where=sa.text("message_id IS NULL"),
            postgresql_where=sa.text("message_id IS NULL"),
        )
        batch_op.drop_index(
            "uq_feedback_message_event",
            sqlite_where=sa.text("message_id IS NOT NULL"),
            postgresql_where=sa.text("message_id IS NOT NULL"),
        )
        batch_op.drop_index("ix_feedback_track_id")
        batch_op.drop_index("ix_feedback_guild_created")
        batch_op.drop_index("ix_feedback_user_created")
        batch_op.drop_index("ix_feedback_created_at")

    op.drop_table("feedback")
    op.drop_table("users")
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracks_popularity"))

    op.drop_table("tracks")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_model_versions_one_active",
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )

    op.drop_table("model_versions")
    op.drop_table("guilds")
    op.drop_table("genres")
    op.drop_table("artists")
