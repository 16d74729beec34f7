"""track playlists

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-12 09:00:00.000000

The public playlists the catalog files come from (TidyTuesday's spotify_songs, the 2024
high/low popularity files) say which artists are played alongside which: `track_playlists`
keeps each catalog track's playlists, one row per (track, playlist), filled by the catalog
import (recommender/artists.py learns artist relations from them). A catalog imported
before this revision has none until it is imported again (the import adds them and
changes nothing else).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "track_playlists",
        sa.Column("track_id", sa.String(length=22), nullable=False),
        sa.Column("playlist_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
            name=op.f("fk_track_playlists_track_id_tracks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("track_id", "playlist_id", name=op.f("pk_track_playlists")),
    )
    with op.batch_alter_table("track_playlists", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_track_playlists_playlist_id"), ["playlist_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("track_playlists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_track_playlists_playlist_id"))
    op.drop_table("track_playlists")
