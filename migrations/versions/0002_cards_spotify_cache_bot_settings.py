"""cards, spotify cache, bot settings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 22:31:32.515638
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bot_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=1024), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_bot_settings")),
    )
    op.create_table(
        "spotify_track_info",
        sa.Column("track_id", sa.String(length=22), nullable=False),
        sa.Column("found", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=True),
        sa.Column("artist_names", sa.String(length=1000), nullable=True),
        sa.Column("album", sa.String(length=300), nullable=True),
        sa.Column("album_art_url", sa.String(length=1024), nullable=True),
        sa.Column("track_url", sa.String(length=1024), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
            name=op.f("fk_spotify_track_info_track_id_tracks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("track_id", name=op.f("pk_spotify_track_info")),
    )
    with op.batch_alter_table("recommendations_served", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shown_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recommendations_served", schema=None) as batch_op:
        batch_op.drop_column("shown_at")

    op.drop_table("spotify_track_info")
    op.drop_table("bot_settings")
