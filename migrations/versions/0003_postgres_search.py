"""PostgreSQL text search over tracks

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 10:00:00.000000

SQLite searches with FTS5 (revision 0001); PostgreSQL gets the same behaviour from its own
text search. `track_search` (one row per track: a weighted tsvector and the popularity,
GIN-indexed) is kept in sync by a row trigger on tracks and dropped with a track through
its foreign key. The document is folded like the FTS5 index: apostrophes dropped ("dont"
finds "Don't"), ASCII punctuation read as spaces (PostgreSQL's parser would otherwise keep
"ac/dc" or "1.5" whole), case and, where the unaccent extension exists, accents folded by
the `earworm_search` configuration (a copy of 'simple'). Queries go through the same
configuration, so "beyonce" finds "Beyoncé". A bulk import pauses the trigger for its
transaction (the `earworm.search_paused` setting) and refills the rows it changed.
Nothing happens on SQLite.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every ASCII punctuation character but the apostrophe (dropped instead), as in the
# tokeniser of storage/repositories/tracks.py.
PUNCTUATION = r"""!"#$%&()*+,-./:;<=>?@[\]^_`{|}~"""
# Parser token types that can carry letters; unaccent passes its output on to 'simple'.
LETTER_TOKENS = "word, hword, hword_part, numword, numhword"

FUNCTIONS = [
    f"""
    CREATE FUNCTION earworm_search_fold(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT translate(
            replace(replace(coalesce(value, ''), chr(39), ''), chr(8217), ''),
            '{PUNCTUATION}',
            repeat(' ', {len(PUNCTUATION)})
        )
    $$
    """,
    # Weights as FTS5's bm25 columns: name A, artists B, album C (ranked 1.0, 0.6, 0.2).
    """
    CREATE FUNCTION earworm_search_document(name text, artists text, album text)
    RETURNS tsvector LANGUAGE sql STABLE PARALLEL SAFE AS $$
        SELECT setweight(to_tsvector('earworm_search', earworm_search_fold(name)), 'A')
            || setweight(to_tsvector('earworm_search', earworm_search_fold(artists)), 'B')
            || setweight(to_tsvector('earworm_search', earworm_search_fold(album)), 'C')
    $$
    """,
    """
    CREATE FUNCTION earworm_track_search_sync() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF coalesce(current_setting('earworm.search_paused', true), '') = 'on' THEN
            RETURN NULL;
        END IF;
        INSERT INTO track_search (track_id, document, popularity)
        VALUES (
            NEW.id,
            earworm_search_document(NEW.name, NEW.artist_names, NEW.album),
            NEW.popularity
        )
        ON CONFLICT (track_id) DO UPDATE
        SET document = excluded.document, popularity = excluded.popularity;
        RETURN NULL;
    END
    $$
    """,
]


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _has_unaccent() -> bool:
    bind = op.get_bind()
    return bool(
        bind.exec_driver_sql(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent'"
        ).scalar()
    )


def upgrade() -> None:
    if not _is_postgres():
        return
    op.execute("CREATE TEXT SEARCH CONFIGURATION earworm_search (COPY = pg_catalog.simple)")
    if _has_unaccent():
        op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
        op.execute(
            "ALTER TEXT SEARCH CONFIGURATION earworm_search "
            f"ALTER MAPPING FOR {LETTER_TOKENS} WITH unaccent, simple"
        )
    op.execute(
        """
        CREATE TABLE track_search (
            track_id varchar(22) NOT NULL,
            document tsvector NOT NULL,
            popularity smallint,
            CONSTRAINT pk_track_search PRIMARY KEY (track_id),
            CONSTRAINT fk_track_search_track_id_tracks FOREIGN KEY (track_id)
                REFERENCES tracks (id) ON DELETE CASCADE ON UPDATE CASCADE
        )
        """
    )
    op.execute("CREATE INDEX ix_track_search_document ON track_search USING gin (document)")
    # A very common word matches much of the catalog: the planner can then walk the most
    # popular tracks and stop at the first candidates instead of ranking every match.
    op.execute(
        "CREATE INDEX ix_track_search_popularity ON track_search (popularity DESC NULLS LAST)"
    )
    for statement in FUNCTIONS:
        op.execute(statement)
    op.execute(
        """
        CREATE TRIGGER tracks_search_sync
        AFTER INSERT OR UPDATE OF id, name, artist_names, album, popularity ON tracks
        FOR EACH ROW EXECUTE FUNCTION earworm_track_search_sync()
        """
    )
    op.execute(
        "INSERT INTO track_search (track_id, document, popularity) "
        "SELECT id, earworm_search_document(name, artist_names, album), popularity FROM tracks"
    )


def downgrade() -> None:
    if not _is_postgres():
        return
    op.execute("DROP TRIGGER IF EXISTS tracks_search_sync ON tracks")
    op.execute("DROP TABLE IF EXISTS track_search")
    op.execute("DROP FUNCTION IF EXISTS earworm_track_search_sync()")
    op.execute("DROP FUNCTION IF EXISTS earworm_search_document(text, text, text)")
    op.execute("DROP FUNCTION IF EXISTS earworm_search_fold(text)")
    # unaccent stays: other database objects may use it, and it holds no data.
    op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS earworm_search")
