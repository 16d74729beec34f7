"""plays, listening opt-in, tracks outside the catalog

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 09:00:00.000000

Members import listening histories (Spotify exports, Last.fm) and may opt in to listening
capture: `plays` holds every play, `listening_optin` who opted in and since when.

A played track the catalog lacks is added with its title, artists and album only, so the
audio features of `tracks` become nullable, all together or not at all (a CHECK): content
models give such a track no vector and cards show no sound bars.

SQLite cannot drop NOT NULL in place: batch mode rebuilds `tracks` (a copy, so its FTS5
rows stay right), and dropping the old table drops the search triggers of revision 0001 with
it, so they are created again here. The downgrade deletes the tracks without features and
every row about them (the old schema cannot hold them), then restores NOT NULL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, type) of the audio features that were NOT NULL; time_signature already was nullable.
CORE_FEATURES = [
    ("danceability", sa.Float()),
    ("energy", sa.Float()),
    ("key", sa.SmallInteger()),
    ("loudness", sa.Float()),
    ("mode", sa.SmallInteger()),
    ("speechiness", sa.Float()),
    ("acousticness", sa.Float()),
    ("instrumentalness", sa.Float()),
    ("liveness", sa.Float()),
    ("valence", sa.Float()),
    ("tempo", sa.Float()),
]
ALL_OR_NONE = (
    "("
    + " AND ".join(f"{name} IS NULL" for name, _ in CORE_FEATURES)
    + ") OR ("
    + " AND ".join(f"{name} IS NOT NULL" for name, _ in CORE_FEATURES)
    + ")"
)
# Tables whose rows name a track (feedback, cards, caches, relations).
TRACK_CHILDREN = (
    "feedback",
    "recommendations_served",
    "spotify_track_info",
    "track_artists",
    "track_genres",
)

# The SQLite search triggers of revision 0001, as they were created there.
FOLD = "replace(replace({}, char(39), ''), char(8217), '')"
NEW_ROW = (
    "new.id, "
    + ", ".join(
        FOLD.format(column)
        for column in ("new.name", "new.artist_names", "coalesce(new.album, '')")
    )
    + ", new.popularity"
)
COLUMNS = "track_id, name, artists, album, popularity"
SYNCING = "(SELECT paused FROM track_search_sync) = 0"
DELETE_OLD = """
        DELETE FROM track_search
        WHERE track_search MATCH 'track_id:"' || old.id || '"' AND track_id = old.id;"""
SEARCH_TRIGGERS = {
    "tracks_search_insert": f"""
    CREATE TRIGGER tracks_search_insert AFTER INSERT ON tracks WHEN {SYNCING} BEGIN
        INSERT INTO track_search ({COLUMNS}) VALUES ({NEW_ROW});
    END
    """,
    "tracks_search_delete": f"""
    CREATE TRIGGER tracks_search_delete AFTER DELETE ON tracks WHEN {SYNCING} BEGIN
        {DELETE_OLD}
    END
    """,
    "tracks_search_update": f"""
    CREATE TRIGGER tracks_search_update
    AFTER UPDATE OF id, name, artist_names, album, popularity ON tracks WHEN {SYNCING}
    BEGIN
        {DELETE_OLD}
        INSERT INTO track_search ({COLUMNS}) VALUES ({NEW_ROW});
    END
    """,
}


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _set_features_nullable(nullable: bool) -> None:
    sqlite = _is_sqlite()
    if sqlite:
        for trigger in SEARCH_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        if nullable:
            for name, type_ in CORE_FEATURES:
                batch_op.alter_column(name, existing_type=type_, nullable=True)
            batch_op.create_check_constraint(op.f("ck_tracks_audio_features"), ALL_OR_NONE)
        else:
            batch_op.drop_constraint(op.f("ck_tracks_audio_features"), type_="check")
            for name, type_ in CORE_FEATURES:
                batch_op.alter_column(name, existing_type=type_, nullable=False)
    if sqlite:
        for statement in SEARCH_TRIGGERS.values():
            op.execute(statement)


def upgrade() -> None:
    _set_features_nullable(True)
    op.create_table(
        "plays",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("track_id", sa.String(length=22), nullable=False),
        sa.Column("played_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ms_played", sa.Integer(), nullable=True),
        sa.Column("skipped", sa.Boolean(), nullable=True),
        sa.Column(
            "source",
            sa.Enum(
                "spotify-export",
                "lastfm",
                "listening",
                name="play_source",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("ms_played IS NULL OR ms_played >= 0", name=op.f("ck_plays_ms_played")),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
            name=op.f("fk_plays_track_id_tracks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_plays_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plays")),
        sa.UniqueConstraint(
            "user_id",
            "track_id",
            "played_at",
            "source",
            name=op.f("uq_plays_user_id_track_id_played_at_source"),
        ),
    )
    with op.batch_alter_table("plays", schema=None) as batch_op:
        batch_op.create_index("ix_plays_user_played", ["user_id", "played_at"], unique=False)
        batch_op.create_index("ix_plays_track_id", ["track_id"], unique=False)

    op.create_table(
        "listening_optin",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("enabled_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_listening_optin_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_listening_optin")),
    )


def downgrade() -> None:
    op.drop_table("listening_optin")
    with op.batch_alter_table("plays", schema=None) as batch_op:
        batch_op.drop_index("ix_plays_track_id")
        batch_op.drop_index("ix_plays_user_played")
    op.drop_table("plays")

    # Explicit deletes: SQLite migrates with foreign keys off, so nothing would cascade.
    featureless = "SELECT id FROM tracks WHERE danceability IS NULL"
    for table in TRACK_CHILDREN:
        op.execute(f"DELETE FROM {table} WHERE track_id IN ({featureless})")
    # The search index follows: SQLite's delete trigger, PostgreSQL's foreign key.
    op.execute("DELETE FROM tracks WHERE danceability IS NULL")
    _set_features_nullable(False)
