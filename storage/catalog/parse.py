"""Read catalog files into parsed tracks, merged by Spotify id, with skip counts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from storage.catalog.formats import ParsedTrack, RowParser, SkipRow, detect_format
from storage.catalog.sources import open_tables
from storage.errors import CatalogImportError


@dataclass(slots=True)
class ParsedCatalog:
    tracks: dict[str, ParsedTrack] = field(default_factory=dict)
    rows_read: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    formats: list[str] = field(default_factory=list)

    def add(self, track: ParsedTrack) -> None:
        track_id = str(track.row["id"])
        seen = self.tracks.get(track_id)
        if seen is None:
            self.tracks[track_id] = track
        else:
            seen.merge(track)


def parse_files(paths: list[Path], catalog: ParsedCatalog | None = None) -> ParsedCatalog:
    """Parse every table of every file; any file-level problem raises before anything is kept."""
    catalog = catalog or ParsedCatalog()
    for path in paths:
        with open_tables(path) as tables:
            for name, rows in tables:
                header = next(rows, None)
                if header is None or not any(cell.strip() for cell in header):
                    raise CatalogImportError(f"{name}: no header row")
                parser = RowParser(detect_format(header, name), header)
                catalog.formats.append(parser.format.name)
                for row in rows:
                    if not row:
                        continue  # blank line
                    catalog.rows_read += 1
                    try:
                        catalog.add(parser.parse(row))
                    except SkipRow as skip:
                        catalog.skipped[skip.reason] += 1
    return catalog
