"""A small async Last.fm API client: a member's scrobbles as parsed plays.

Why aiohttp and not pylast: the bot runs on one event loop and must never block it, and
pylast is synchronous (it would need a thread per request); aiohttp is already a dependency
(discord.py and the HTTP API use it), so this adds none; and the base URL is a setting, so
tests point the client at a local fake Last.fm instead of patching a library.

- `recent_tracks(user)`: `user.getRecentTracks`, 200 scrobbles a page, newest first, until
  `totalPages` or the caps (`max_pages`, `max_plays`). The "now playing" row has no date
  and is left out (counted as `now_playing`).
- `top_tracks(user)`: `user.getTopTracks`, the fallback when recent listening is hidden or
  too long to page through. Top tracks have counts but no dates: each becomes up to
  `max_top_track_plays` plays stamped at fixed times (UNDATED_PLAYS + n seconds for its
  n-th play), so importing them again stores nothing new and a grown count adds only the
  new plays.

Last.fm says nothing of how long a scrobble was heard: `ms_played` is None (its rules make a
scrobble at least half the track or four minutes), `skipped` None.

Every failure is a LastfmError with a short message for the member and a `reason`
(`unknown_user`, `private`, `rate_limited` with `retry_after` seconds when Last.fm says,
`timeout`, `unavailable`, `bad_response`, `bad_api_key`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from storage.history.parsed import HistoryError, ParsedHistory, ParsedPlay, PlayCollector

API_URL = "https://ws.audioscrobbler.com/2.0/"
PAGE_SIZE = 200  # Last.fm's largest page
MAX_PAGES = 250  # 50,000 scrobbles
MAX_PLAYS = 50_000
MAX_TOP_TRACKS = 1_000
MAX_TOP_TRACK_PLAYS = 50
RECENT = "lastfm-recent"
TOP = "lastfm-top"
# Plays from top tracks have no time of their own: the n-th play of a track is stamped at
# this moment (Last.fm's launch) plus n seconds.
UNDATED_PLAYS = datetime(2002, 3, 20, tzinfo=UTC)
USER_AGENT = "Earworm (Discord music recommendations)"

# Last.fm's error codes (https://www.last.fm/api/errorcodes) and what they mean for us.
_UNKNOWN_USER = 6
_PRIVATE = 17
_RATE_LIMITED = 29
_BAD_KEY = {10, 26}
_UNAVAILABLE = {8, 11, 16}


class LastfmError(HistoryError):
    """Last.fm could not give the history; `reason` says why, for code."""

    def __init__(self, message: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after


class LastfmClient:
    """Reads members' Last.fm histories. Pass an aiohttp session to share one (the bot's);
    otherwise each call opens its own."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = API_URL,
        timeout: float = 10.0,
        session: aiohttp.ClientSession | None = None,
        max_pages: int = MAX_PAGES,
        max_plays: int = MAX_PLAYS,
        max_top_track_plays: int = MAX_TOP_TRACK_PLAYS,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ValueError("a Last.fm API key is needed")
        self._api_key = api_key.strip()
        self._base_url = base_url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self.max_pages = max_pages
        self.max_plays = max_plays
        self.max_top_track_plays = max_top_track_plays

    async def recent_tracks(
        self, user: str, *, since: datetime | None = None, now: datetime | None = None
    ) -> ParsedHistory:
        """The member's scrobbles, newest first, as plays (at or after `since` when given).

        Stops at `max_pages` pages or `max_plays` plays, counting what it left in
        `skipped["over_cap"]` (from Last.fm's total)."""
        user = _check_user(user)
        history = ParsedHistory(format=RECENT)
        collector = PlayCollector(history, now)
        params: dict[str, str] = {"method": "user.getrecenttracks", "user": user}
        params["limit"] = str(PAGE_SIZE)
        if since is not None:
            params["from"] = str(int(since.timestamp()))
        page = total_pages = 1
        total = 0
        while page <= total_pages:
            body = await self._call({**params, "page": str(page)}, user)
            recent = _object(body.get("recenttracks"))
            attributes = _object(recent.get("@attr"))
            total_pages = _integer(attributes.get("totalPages"), default=1)
            total = _integer(attributes.get("total"), default=0)
            for row in _rows(recent.get("track")):
                history.rows_read += 1
                _recent_play(row, collector)
                if len(history.plays) >= self.max_plays:
                    break
            if len(history.plays) >= self.max_plays or page >= self.max_pages:
                break
            page += 1
        if total > history.rows_read:
            history.skipped["over_cap"] += total - history.rows_read
        return history

    async def top_tracks(self, user: str, *, period: str = "overall") -> ParsedHistory:
        """The member's most played tracks as undated plays (see the module docstring)."""
        user = _check_user(user)
        history = ParsedHistory(format=TOP)
        collector = PlayCollector(history)
        body = await self._call(
            {
                "method": "user.gettoptracks",
                "user": user,
                "period": period,
                "limit": str(MAX_TOP_TRACKS),
            },
            user,
        )
        for row in _rows(_object(body.get("toptracks")).get("track")):
            history.rows_read += 1
            title, artist = _text(row.get("name")), _artist(row.get("artist"))
            count = _integer(row.get("playcount"), default=0)
            if not title or not artist:
                collector.skip("no_track")
                continue
            if count <= 0:
                collector.skip("no_plays")
                continue
            kept = min(count, self.max_top_track_plays)
            if kept < count:
                history.skipped["over_cap"] += count - kept
            for number in range(kept):
                collector.add(
                    ParsedPlay(
                        spotify_id=None,
                        title=title,
                        artist=artist,
                        album=None,
                        played_at=UNDATED_PLAYS + timedelta(seconds=number),
                        ms_played=None,
                        skipped=None,
                    )
                )
        return history

    async def _call(self, params: dict[str, str], user: str) -> dict[str, Any]:
        query = {**params, "api_key": self._api_key, "format": "json"}
        try:
            if self._session is not None:
                return await self._get(self._session, query, user)
            async with aiohttp.ClientSession(headers={"User-Agent": USER_AGENT}) as session:
                return await self._get(session, query, user)
        except TimeoutError:
            raise LastfmError(
                "Last.fm took too long to answer; try again in a few minutes.", "timeout"
            ) from None
        except aiohttp.ClientError:
            raise LastfmError(
                "Last.fm cannot be reached right now; try again later.", "unavailable"
            ) from None

    async def _get(
        self, session: aiohttp.ClientSession, query: dict[str, str], user: str
    ) -> dict[str, Any]:
        async with session.get(self._base_url, params=query, timeout=self._timeout) as response:
            text = await response.text(errors="replace")
            if response.status == 429:
                raise _rate_limited(_retry_after(response.headers.get("Retry-After")))
            if response.status >= 500:
                raise LastfmError(
                    f"Last.fm is having trouble (HTTP {response.status}); try again later.",
                    "unavailable",
                )
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if isinstance(body, dict) and "error" in body:
            raise _api_error(body, user, _retry_after(response.headers.get("Retry-After")))
        if not isinstance(body, dict) or response.status >= 400:
            raise LastfmError(
                "Last.fm sent an answer Earworm cannot read; try again later.", "bad_response"
            )
        return body


def _check_user(user: str) -> str:
    name = (user or "").strip()
    if not name or len(name) > 64:
        raise LastfmError("That is not a Last.fm username.", "unknown_user")
    return name


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(0.0, seconds) if seconds == seconds else None  # NaN is no answer


def _rate_limited(retry_after: float | None) -> LastfmError:
    wait = f"try again in {retry_after:.0f} s" if retry_after is not None else "try again later"
    return LastfmError(
        f"Last.fm is rate-limiting Earworm; {wait}.", "rate_limited", retry_after=retry_after
    )


def _api_error(body: dict[str, Any], user: str, retry_after: float | None) -> LastfmError:
    code = _integer(body.get("error"), default=0)
    if code == _UNKNOWN_USER:
        return LastfmError(f"Last.fm has no user called {user!r}.", "unknown_user")
    if code == _PRIVATE:
        return LastfmError(
            f"{user}'s recent listening is hidden on Last.fm (a privacy setting there).",
            "private",
        )
    if code == _RATE_LIMITED:
        return _rate_limited(retry_after)
    if code in _BAD_KEY:
        return LastfmError(
            "Last.fm refused Earworm's API key; tell the bot's admin.", "bad_api_key"
        )
    if code in _UNAVAILABLE:
        return LastfmError("Last.fm is having trouble; try again later.", "unavailable")
    return LastfmError(
        f"Last.fm refused the request (error {code}); try again later.", "bad_response"
    )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _rows(value: Any) -> list[dict[str, Any]]:
    # A page with one entry has an object where a list would be.
    if isinstance(value, dict):
        return [value]
    return [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []


def _integer(value: Any, *, default: int) -> int:
    if isinstance(value, bool):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _artist(value: Any) -> str:
    # {"#text": ...} by default, {"name": ...} with extended=1 and in top tracks.
    if isinstance(value, dict):
        return _text(value.get("#text") or value.get("name"))
    return _text(value)


def _recent_play(row: dict[str, Any], collector: PlayCollector) -> None:
    if _object(row.get("@attr")).get("nowplaying") in ("true", True):
        return collector.skip("now_playing")
    title, artist = _text(row.get("name")), _artist(row.get("artist"))
    if not title or not artist:
        return collector.skip("no_track")
    seconds = _integer(_object(row.get("date")).get("uts"), default=-1)
    if seconds < 0:
        return collector.skip("bad_timestamp")
    try:
        played_at = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return collector.skip("future_timestamp")
    collector.add(
        ParsedPlay(
            spotify_id=None,
            title=title,
            artist=artist,
            album=_artist(row.get("album")) or None,
            played_at=played_at,
            ms_played=None,
            skipped=None,
        )
    )
    return None
