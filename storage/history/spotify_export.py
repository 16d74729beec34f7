"""A Spotify privacy export, parsed in memory from the bytes of a `.json` or a `.zip`.

Spotify hands out two histories (Account privacy → "Download your data"):

- the **extended streaming history** (`Streaming_History_Audio_*.json`, formerly
  `endsong_*.json`): every stream since the account began, one object per stream with
  `ts` (ISO 8601 UTC, when the stream ended), `ms_played`, `spotify_track_uri`
  (`spotify:track:<22 chars>`, null for podcasts and audiobooks),
  `master_metadata_track_name`, `master_metadata_album_artist_name`,
  `master_metadata_album_album_name`, `reason_end`, `skipped`, `episode_name`, ...;
- the **account data** history of the last year (`StreamingHistory_music_*.json`, formerly
  `StreamingHistory*.json`): `endTime` ("YYYY-MM-DD HH:MM", UTC), `artistName`,
  `trackName`, `msPlayed`, and no track id.

Whether the upload is a zip or JSON is read from its bytes, never its name; a zip's members
are chosen by name (other files are ignored and counted) and, when it holds the extended
history, the account-data files are ignored too (they repeat its last year, with minutes
for seconds, and would count every play twice). Which history a JSON file holds is read from
its rows.

Nothing is written to disk. Limits guard the memory: the upload's size, the zip's number of
members and the bytes its history files uncompress to (the declared sizes first, then the
bytes actually read, since a zip bomb can lie about them). The stdlib json decoder turns
each row into a small tuple as it goes (an `object_hook`), so the decoded rows never exist
as dicts all at once; orjson would parse faster but is not a dependency, and this parses a
100,000-play history (30 MB) in about a second.
"""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from io import BytesIO
from pathlib import PurePosixPath
from typing import Any, NamedTuple

from storage.history.parsed import HistoryError, ParsedHistory, ParsedPlay, PlayCollector

EXTENDED = "spotify-extended"
ACCOUNT_DATA = "spotify-account-data"
MB = 1024 * 1024
MAX_UPLOAD_BYTES = 100 * MB
MAX_UNCOMPRESSED_BYTES = 300 * MB
MAX_ZIP_MEMBERS = 1_000
READ_CHUNK = MB

EXTENDED_FILE = re.compile(r"(?:Streaming_History_Audio_.*|endsong_\d+)\.json", re.IGNORECASE)
ACCOUNT_FILE = re.compile(r"StreamingHistory(?:_music_)?\d*\.json", re.IGNORECASE)
TRACK_URI = re.compile(r"spotify:track:([0-9A-Za-z]{22})")
# Placeholders the account-data history writes where it knows nothing.
UNKNOWN_NAMES = frozenset({"unknown track", "unknown artist"})
# reason_end values that say the member moved on before the end, or let it finish.
SKIP_REASONS = frozenset({"fwdbtn"})
FINISHED_REASONS = frozenset({"trackdone"})
SHAPE_HINT = (
    "Upload the Spotify privacy export (the .zip, or one of its Streaming_History_Audio or "
    "StreamingHistory .json files)."
)


class _ExtendedRow(NamedTuple):
    ts: Any
    ms_played: Any
    uri: Any
    title: Any
    artist: Any
    album: Any
    skipped: Any
    reason_end: Any
    episode: Any
    audiobook: Any


class _AccountRow(NamedTuple):
    end_time: Any
    ms_played: Any
    title: Any
    artist: Any


def _row(obj: dict[str, Any]) -> Any:
    """The json decoder's object_hook: a history row becomes a small tuple at once."""
    if "ts" in obj and "ms_played" in obj:
        return _ExtendedRow(
            obj["ts"],
            obj["ms_played"],
            obj.get("spotify_track_uri"),
            obj.get("master_metadata_track_name"),
            obj.get("master_metadata_album_artist_name"),
            obj.get("master_metadata_album_album_name"),
            obj.get("skipped"),
            obj.get("reason_end"),
            obj.get("episode_name") or obj.get("spotify_episode_uri"),
            obj.get("audiobook_title") or obj.get("audiobook_uri"),
        )
    if "endTime" in obj and "msPlayed" in obj:
        return _AccountRow(
            obj["endTime"], obj["msPlayed"], obj.get("trackName"), obj.get("artistName")
        )
    return obj


def parse_spotify_export(
    data: bytes,
    *,
    now: datetime | None = None,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    max_uncompressed_bytes: int = MAX_UNCOMPRESSED_BYTES,
    max_members: int = MAX_ZIP_MEMBERS,
) -> ParsedHistory:
    """The plays in a Spotify export (`.json` or `.zip` bytes) and the rows left out, by
    reason. Raises HistoryError, with a short message for the member, when the upload as a
    whole cannot be read."""
    if len(data) > max_upload_bytes:
        raise HistoryError(
            f"The file is {len(data) / MB:.0f} MB; the limit is {max_upload_bytes / MB:.0f} MB."
        )
    if not data.strip():
        raise HistoryError("The file is empty.")
    if data[:2] == b"PK":
        return _parse_zip(data, now, max_uncompressed_bytes, max_members)
    return _parse_files([("upload", data)], now, ignored=0)


def _parse_zip(
    data: bytes, now: datetime | None, max_uncompressed: int, max_members: int
) -> ParsedHistory:
    try:
        archive = zipfile.ZipFile(BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        raise HistoryError("The zip file is damaged; download the export again.") from None
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) > max_members:
            raise HistoryError(
                f"The zip holds {len(members):,} files; a Spotify export has a few dozen."
            )
        extended = [info for info in members if _matches(info, EXTENDED_FILE)]
        account = [info for info in members if _matches(info, ACCOUNT_FILE)]
        chosen = extended or account
        if not chosen:
            raise HistoryError(
                "The zip holds no Spotify streaming history (no Streaming_History_Audio, "
                "endsong or StreamingHistory .json file). " + SHAPE_HINT
            )
        if sum(info.file_size for info in chosen) > max_uncompressed:
            raise _too_big(max_uncompressed)
        chosen.sort(key=lambda info: info.filename)
        files = _read_members(archive, chosen, max_uncompressed)
        return _parse_files(files, now, ignored=len(members) - len(chosen))


def _matches(info: zipfile.ZipInfo, pattern: re.Pattern[str]) -> bool:
    path = PurePosixPath(info.filename)
    if "__MACOSX" in path.parts or path.name.startswith("._"):
        return False  # macOS resource forks beside the real files
    return pattern.fullmatch(path.name) is not None


def _too_big(limit: int) -> HistoryError:
    return HistoryError(
        f"The zip's history files unpack to more than {limit / MB:.0f} MB, more than any "
        "Spotify export; it may be damaged or not an export."
    )


def _read_members(
    archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], limit: int
) -> Iterator[tuple[str, bytes]]:
    """Each member's bytes, counted as they are read: past `limit` in all, stop."""
    total = 0
    for info in members:
        if info.flag_bits & 0x1:
            raise HistoryError("The zip is password-protected; upload it without a password.")
        parts: list[bytes] = []
        try:
            with archive.open(info) as stream:
                while chunk := stream.read(READ_CHUNK):
                    total += len(chunk)
                    if total > limit:
                        raise _too_big(limit)
                    parts.append(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError):
            raise HistoryError(
                f"{PurePosixPath(info.filename).name} in the zip is damaged; "
                "download the export again."
            ) from None
        yield PurePosixPath(info.filename).name, b"".join(parts)


def _parse_files(
    files: Iterator[tuple[str, bytes]] | list[tuple[str, bytes]],
    now: datetime | None,
    *,
    ignored: int,
) -> ParsedHistory:
    history = ParsedHistory(format="", ignored_files=ignored)
    collector = PlayCollector(history, now)
    formats: set[str] = set()
    for name, content in files:
        rows = _decode(name, content)
        history.files.append(name)
        formats.add(_collect(name, rows, collector))
        del rows  # one file's rows at a time
    history.format = EXTENDED if EXTENDED in formats else ACCOUNT_DATA
    return history


def _decode(name: str, content: bytes) -> list[Any]:
    where = "The file" if name == "upload" else name
    if not content.strip():
        raise HistoryError(f"{where} is empty.")
    try:
        rows = json.loads(content, object_hook=_row)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError included
        raise HistoryError(f"{where} is not JSON (nor a zip). {SHAPE_HINT}") from None
    if not isinstance(rows, list):
        raise HistoryError(f"{where} is JSON, but not a Spotify streaming history. {SHAPE_HINT}")
    return rows


def _collect(name: str, rows: list[Any], collector: PlayCollector) -> str:
    """Add the rows' plays; which history the file is."""
    history = collector.history
    extended = account = 0
    for row in rows:
        history.rows_read += 1
        if isinstance(row, _ExtendedRow):
            extended += 1
            _extended_play(row, collector)
        elif isinstance(row, _AccountRow):
            account += 1
            _account_play(row, collector)
        else:
            collector.skip("malformed_row")
    if rows and not (extended or account):
        where = "The file" if name == "upload" else name
        raise HistoryError(f"{where} is JSON, but not a Spotify streaming history. {SHAPE_HINT}")
    return EXTENDED if extended >= account else ACCOUNT_DATA


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _milliseconds(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _extended_play(row: _ExtendedRow, collector: PlayCollector) -> None:
    uri = row.uri if isinstance(row.uri, str) and row.uri else None
    title = _text(row.title)
    spotify_id: str | None = None
    if uri is not None:
        match = TRACK_URI.fullmatch(uri)
        if match is None:
            # spotify:episode:..., spotify:local:... and the like: not a catalog track.
            return collector.skip("podcast" if uri.startswith("spotify:episode:") else "no_track")
        spotify_id = match.group(1)
    elif row.episode:
        return collector.skip("podcast")
    elif row.audiobook:
        return collector.skip("audiobook")
    elif not title:
        return collector.skip("no_track")
    played_at = _timestamp(row.ts)
    if played_at is None:
        return collector.skip("bad_timestamp")
    ms = _milliseconds(row.ms_played)
    if ms is None:
        return collector.skip("bad_ms")
    skipped = row.skipped if isinstance(row.skipped, bool) else None
    if skipped is None and isinstance(row.reason_end, str):
        # Older exports leave `skipped` null; how the stream ended still says it.
        if row.reason_end in SKIP_REASONS:
            skipped = True
        elif row.reason_end in FINISHED_REASONS:
            skipped = False
    collector.add(
        ParsedPlay(
            spotify_id=spotify_id,
            title=title,
            artist=_text(row.artist),
            album=_text(row.album) or None,
            played_at=played_at,
            ms_played=ms,
            skipped=skipped,
        )
    )
    return None


def _account_play(row: _AccountRow, collector: PlayCollector) -> None:
    title, artist = _text(row.title), _text(row.artist)
    if not title or not artist or title.casefold() in UNKNOWN_NAMES:
        return collector.skip("no_track")
    played_at = _timestamp(row.end_time)
    if played_at is None:
        return collector.skip("bad_timestamp")
    ms = _milliseconds(row.ms_played)
    if ms is None:
        return collector.skip("bad_ms")
    collector.add(
        ParsedPlay(
            spotify_id=None,
            title=title,
            artist=artist,
            album=None,
            played_at=played_at,
            ms_played=ms,
            skipped=None,
        )
    )
    return None
