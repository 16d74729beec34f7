"""Plain dataclasses the repositories return; nothing outside storage/ sees ORM objects."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TrackSummary:
    """What a search result or a card needs to show a track."""

    id: str
    name: str
    artists: tuple[str, ...]
    album: str | None
    popularity: int | None

    @property
    def url(self) -> str:
        return f"https://open.spotify.com/track/{self.id}"

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "artists": list(self.artists),
            "album": self.album,
            "popularity": self.popularity,
            "url": self.url,
        }


# The audio features a card draws as bars: all on a 0-1 scale in the catalog.
CARD_FEATURES = ("danceability", "energy", "valence", "acousticness")


@dataclass(frozen=True, slots=True)
class TrackDetails:
    """Everything a recommendation card shows about a track."""

    id: str
    name: str
    artists: tuple[str, ...]
    album: str | None
    popularity: int | None
    genres: tuple[str, ...]
    features: dict[str, float]  # CARD_FEATURES, each 0-1

    @property
    def url(self) -> str:
        return f"https://open.spotify.com/track/{self.id}"

    @property
    def player_url(self) -> str:
        """Spotify's embeddable 30-second player."""
        return f"https://open.spotify.com/embed/track/{self.id}"

    @property
    def summary(self) -> TrackSummary:
        return TrackSummary(self.id, self.name, self.artists, self.album, self.popularity)


@dataclass(frozen=True, slots=True)
class CatalogStats:
    tracks: int
    artists: int
    genres: int

    def to_json(self) -> dict[str, int]:
        return {"tracks": self.tracks, "artists": self.artists, "genres": self.genres}


@dataclass(slots=True)
class ImportSummary:
    """What `earworm catalog import` did, for people and (with --json) for machines."""

    sources: list[str]
    formats: list[str]
    rows_read: int = 0
    tracks_in_file: int = 0
    tracks_inserted: int = 0
    tracks_updated: int = 0
    tracks_unchanged: int = 0
    rows_skipped: dict[str, int] = field(default_factory=dict)
    # (track, public playlist) rows the files name, and how many of them were new.
    playlist_links: int = 0
    playlist_links_added: int = 0
    seconds: float = 0.0

    @property
    def skipped_total(self) -> int:
        return sum(self.rows_skipped.values())

    def to_json(self) -> dict[str, object]:
        return {
            "sources": self.sources,
            "formats": self.formats,
            "rows_read": self.rows_read,
            "tracks_in_file": self.tracks_in_file,
            "tracks_inserted": self.tracks_inserted,
            "tracks_updated": self.tracks_updated,
            "tracks_unchanged": self.tracks_unchanged,
            "rows_skipped": dict(sorted(self.rows_skipped.items())),
            "rows_skipped_total": self.skipped_total,
            "playlist_links": self.playlist_links,
            "playlist_links_added": self.playlist_links_added,
            "seconds": round(self.seconds, 3),
        }
