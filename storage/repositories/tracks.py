"""Reading the catalog: look-ups, full-text search and counts."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.dto import CARD_FEATURES, CatalogStats, TrackDetails, TrackSummary
from storage.models import Artist, Genre, Track, TrackGenre
from storage.search_schema import POSTGRES_CONFIG

# Ids per IN (...) look-up: well under the bound-parameter limits (asyncpg 32,767, SQLite's
# default 32,766).
LOOKUP_IDS = 10_000
# Built once: the feedback writer checks every batch's tracks with it (building a select
# costs the event loop more than running it).
_KNOWN_TRACKS = select(Track.id).where(Track.id.in_(bindparam("ids", expanding=True)))


async def known_track_ids(session: AsyncSession, ids: Iterable[str]) -> set[str]:
    """Which of `ids` are tracks in the database, looked up in chunks."""
    ordered = sorted(set(ids))
    known: set[str] = set()
    for start in range(0, len(ordered), LOOKUP_IDS):
        chunk = ordered[start : start + LOOKUP_IDS]
        known.update((await session.scalars(_KNOWN_TRACKS, {"ids": chunk})).all())
    return known


MAX_QUERY_TOKENS = 12
SHORT_QUERY_TOKENS = 3
MAX_TOKEN_LENGTH = 64
MAX_LIMIT = 100
# Letters and digits only: the same split as FTS5's unicode61 tokenizer, so every token
# can be quoted safely and nothing the user types is read as FTS syntax.
TOKEN = re.compile(r"[^\W_]+")
APOSTROPHES = re.compile("['\u2019]")
SPOTIFY_TRACK = re.compile(
    r"^(?:https?://open\.spotify\.com/(?:intl-[a-z]{2}/)?track/|spotify:track:)?"
    r"(?P<id>[0-9A-Za-z]{22})(?:[/?#].*)?$"
)
# A word as common as "the" matches a fifth of the catalog; scoring every match would cost
# tens of milliseconds. Matches come in rowid order, which a bulk import makes popularity
# order, so ranking the first CANDIDATES keeps the popular ones and bounds the work.
CANDIDATES = 200
# Relevance first (bm25 weights per column: id, name, artists, album, popularity), nudged
# towards popular tracks; only the winners are joined to the tracks table.
SEARCH_SQL = text(
    """
    SELECT t.id, t.name, t.artist_names, t.album, t.popularity
    FROM (
        SELECT track_id, relevance * (1.0 + coalesce(popularity, 0) / 50.0) AS score
        FROM (
            SELECT track_id, popularity, bm25(track_search, 0.0, 10.0, 6.0, 2.0, 0.0) AS relevance
            FROM track_search
            WHERE track_search MATCH :match
            LIMIT :candidates
        )
        ORDER BY score
        LIMIT :limit
    ) AS best
    JOIN tracks AS t ON t.id = best.track_id
    ORDER BY best.score
    """
)

# PostgreSQL (migration 0003): the same shape. The most popular matches are the candidates
# (the GIN index finds the matches, popularity picks among them), ranked by ts_rank with
# the column weights of the bm25 call above (name 1.0, artists 0.6, album 0.2).
POSTGRES_SEARCH_SQL = text(
    f"""
    SELECT t.id, t.name, t.artist_names, t.album, t.popularity
    FROM (
        SELECT track_id, popularity,
            ts_rank('{{0.0, 0.2, 0.6, 1.0}}', document, query)
                * (1.0 + coalesce(popularity, 0) / 50.0) AS score
        FROM (
            SELECT track_id, popularity, document
            FROM track_search
            WHERE document @@ to_tsquery('{POSTGRES_CONFIG}', :match)
            ORDER BY popularity DESC NULLS LAST, track_id
            LIMIT :candidates
        ) AS candidates,
        to_tsquery('{POSTGRES_CONFIG}', :match) AS query
        ORDER BY score DESC, popularity DESC NULLS LAST, track_id
        LIMIT :limit
    ) AS best
    JOIN tracks AS t ON t.id = best.track_id
    ORDER BY best.score DESC, best.popularity DESC NULLS LAST, t.id
    """
)


def _summary(
    track_id: str, name: str, artist_names: str, album: str | None, popularity: int | None
) -> TrackSummary:
    return TrackSummary(
        id=track_id,
        name=name,
        artists=tuple(json.loads(artist_names)),
        album=album,
        popularity=popularity,
    )


def spotify_track_id(query: str) -> str | None:
    """The track id in a Spotify track URL, URI or bare id, else None."""
    match = SPOTIFY_TRACK.match(query.strip())
    return match.group("id") if match else None


def search_terms(query: str) -> list[tuple[str, bool]]:
    """The words of free text to search for, each with whether it counts as a prefix.

    Letters and digits only, so nothing the user types is read as query syntax; empty when
    the text has nothing searchable (only punctuation or emoji, say).
    """
    # Apostrophes vanish, as they do in the index: "don't" and "dont" are the same word.
    normalized = APOSTROPHES.sub("", unicodedata.normalize("NFC", query))
    tokens = [token[:MAX_TOKEN_LENGTH] for token in TOKEN.findall(normalized)]
    tokens = list(dict.fromkeys(token.casefold() for token in tokens))[:MAX_QUERY_TOKENS]
    # The last word may be half typed ("pretty g"), so it is a prefix. In short queries the
    # earlier words are prefixes too ("tayl swi", "da mo"); in longer ones, and for single
    # letters ("w.a.n.t.s"), they are whole words: expanding them costs much, finds little.
    last = len(tokens) - 1
    short = len(tokens) <= SHORT_QUERY_TOKENS
    return [
        (token, position == last or (short and len(token) > 1))
        for position, token in enumerate(tokens)
    ]


def fts_match_expression(query: str) -> str | None:
    """A safe FTS5 expression for free text: quoted prefix tokens, all required.

    Returns None when the text has nothing searchable (empty, only punctuation or emoji).
    """
    terms = search_terms(query)
    if not terms:
        return None
    phrases = [f'"{token}"*' if prefix else f'"{token}"' for token, prefix in terms]
    return "{name artists album} : (" + " AND ".join(phrases) + ")"


def tsquery_expression(query: str) -> str | None:
    """The PostgreSQL to_tsquery text for free text: quoted (prefix) lexemes, all required.

    Built from the same words as fts_match_expression, never from the raw text; None when
    there is nothing to search for.
    """
    terms = search_terms(query)
    if not terms:
        return None
    return " & ".join(f"'{token}':*" if prefix else f"'{token}'" for token, prefix in terms)


def _known_id_shapes(ids: Sequence[str]) -> list[str]:
    """`ids` once each, in order, without ones no track can have: PostgreSQL refuses text
    holding a NUL outright, where SQLite would just find nothing."""
    return [track_id for track_id in dict.fromkeys(ids) if "\x00" not in track_id]


async def get_tracks(session: AsyncSession, ids: Sequence[str]) -> list[TrackSummary]:
    """Tracks for `ids`, in the order given; unknown ids are left out."""
    wanted = _known_id_shapes(ids)
    if not wanted:
        return []
    result = await session.execute(
        select(Track.id, Track.name, Track.artist_names, Track.album, Track.popularity).where(
            Track.id.in_(wanted)
        )
    )
    found = {row[0]: _summary(*row) for row in result}
    return [found[track_id] for track_id in wanted if track_id in found]


async def track_details(session: AsyncSession, ids: Sequence[str]) -> list[TrackDetails]:
    """Card details for `ids`, in the order given; unknown ids are left out."""
    wanted = _known_id_shapes(ids)
    if not wanted:
        return []
    features = [getattr(Track, name) for name in CARD_FEATURES]
    rows = await session.execute(
        select(
            Track.id, Track.name, Track.artist_names, Track.album, Track.popularity, *features
        ).where(Track.id.in_(wanted))
    )
    genre_rows = await session.execute(
        select(TrackGenre.track_id, Genre.name)
        .join(Genre, Genre.id == TrackGenre.genre_id)
        .where(TrackGenre.track_id.in_(wanted))
        .order_by(TrackGenre.track_id, Genre.name)
    )
    genres: dict[str, list[str]] = {}
    for track_id, genre in genre_rows:
        genres.setdefault(track_id, []).append(genre)
    found = {}
    for row in rows:
        summary = _summary(*row[:5])
        found[row[0]] = TrackDetails(
            id=summary.id,
            name=summary.name,
            artists=summary.artists,
            album=summary.album,
            popularity=summary.popularity,
            genres=tuple(genres.get(row[0], ())),
            features={
                name: float(value)
                for name, value in zip(CARD_FEATURES, row[5:], strict=True)
                if value is not None
            },
        )
    return [found[track_id] for track_id in wanted if track_id in found]


async def search_tracks(session: AsyncSession, query: str, limit: int = 10) -> list[TrackSummary]:
    """Tracks matching `query` by name, artists or album; any text is safe to pass.

    A Spotify track URL, URI or id finds that track first.
    """
    limit = max(0, min(limit, MAX_LIMIT))
    if limit == 0:
        return []
    results: list[TrackSummary] = []
    track_id = spotify_track_id(query)
    if track_id is not None:
        results = await get_tracks(session, [track_id])
        if results:
            return results
    postgres = session.get_bind().dialect.name == "postgresql"
    match = tsquery_expression(query) if postgres else fts_match_expression(query)
    if match is None:
        return results
    rows = await session.execute(
        POSTGRES_SEARCH_SQL if postgres else SEARCH_SQL,
        {"match": match, "limit": limit, "candidates": CANDIDATES},
    )
    return [_summary(*row) for row in rows]


async def catalog_stats(session: AsyncSession) -> CatalogStats:
    counts = await session.execute(
        select(
            select(func.count()).select_from(Track).scalar_subquery(),
            select(func.count()).select_from(Artist).scalar_subquery(),
            select(func.count()).select_from(Genre).scalar_subquery(),
        )
    )
    tracks, artists, genres = counts.one()
    return CatalogStats(tracks=tracks, artists=artists, genres=genres)
