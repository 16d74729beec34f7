"""Optional enrichment from Spotify's Web API: album art and canonical names and links.

Since November 2024 new Spotify apps get no audio features, recommendations or previews,
so Earworm only asks GET /v1/tracks (client-credentials flow, through spotipy). Everything
here is optional: without SPOTIFY_CLIENT_ID/SECRET the enricher is disabled and never
calls anything, and when Spotify fails a lookup returns nothing (one warning in the log)
so cards show without art. Answers are cached in the database, "not found" included.

spotipy is synchronous: each call runs in a worker thread under a timeout. spotipy's own
retries are off (they would sleep through a long Retry-After in that thread); a 429 with a
short Retry-After is waited out once, a longer one pauses every call until it has passed.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import requests
import spotipy
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.exceptions import SpotifyException, SpotifyOauthError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import Settings
from storage.models import utcnow
from storage.repositories.spotify import (
    CachedSpotifyInfo,
    SpotifyInfo,
    cached_spotify_info,
    store_spotify_info,
)

__all__ = ["SpotifyEnricher", "SpotifyInfo"]

log = logging.getLogger(__name__)

BATCH = 50  # GET /v1/tracks takes at most 50 ids
# Names and art rarely change; a track Spotify does not know may appear later.
FOUND_MAX_AGE = timedelta(days=30)
MISSING_MAX_AGE = timedelta(days=7)
# A 429 asking for at most this many seconds is waited out; a longer one pauses all calls.
MAX_RETRY_WAIT = 2.0
# After a failure (error, timeout, no connection) leave Spotify alone this long: one
# warning per outage, and no card waits on a service that is down.
FAILURE_BACKOFF = 60.0
ART_SIZE = 300  # the smallest album image at least this wide is enough for a card
TRACK_ID = re.compile(r"[0-9A-Za-z]{22}")
OAUTH_ERROR = re.compile(r"[a-z_]{1,40}")


class _Unavailable(Exception):
    """Spotify cannot answer now: why (safe to log) and how many seconds to back off."""

    def __init__(self, reason: str, backoff: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.backoff = backoff


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    try:
        value = float((headers or {}).get("Retry-After", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def _album_art(images: Any) -> str | None:
    sized = [
        (image.get("width") or 0, image["url"])
        for image in images or []
        if isinstance(image, dict) and isinstance(image.get("url"), str)
    ]
    if not sized:
        return None
    big_enough = [image for image in sized if image[0] >= ART_SIZE]
    return (min(big_enough) if big_enough else max(sized))[1]


def _info(track_id: str, entry: dict[str, Any]) -> SpotifyInfo:
    album = entry.get("album") or {}
    urls = entry.get("external_urls") or {}
    return SpotifyInfo(
        track_id=track_id,
        name=str(entry["name"]),
        artists=tuple(
            str(artist["name"])
            for artist in entry.get("artists") or []
            if isinstance(artist, dict) and artist.get("name")
        ),
        album=album.get("name"),
        album_art_url=_album_art(album.get("images")),
        track_url=urls.get("spotify"),
    )


def _parse(batch: Sequence[str], payload: Any) -> dict[str, SpotifyInfo | None]:
    """Spotify's answer per requested id (by position: a relinked track has another id)."""
    entries = payload.get("tracks") if isinstance(payload, dict) else None
    if not isinstance(entries, list) or len(entries) != len(batch):
        raise _Unavailable("unexpected answer from Spotify", FAILURE_BACKOFF)
    try:
        return {
            track_id: _info(track_id, entry) if entry else None
            for track_id, entry in zip(batch, entries, strict=True)
        }
    except (KeyError, TypeError, AttributeError):
        raise _Unavailable("unexpected answer from Spotify", FAILURE_BACKOFF) from None


def _token_failure(exc: SpotifyOauthError) -> str:
    # Name an OAuth error code (invalid_client: wrong id or secret) or an HTTP status;
    # never echo other text from the answer.
    error = exc.error
    if isinstance(error, dict) and isinstance(error.get("status"), int):
        return f"token request failed: HTTP {error['status']}"
    if isinstance(error, str) and OAUTH_ERROR.fullmatch(error):
        return f"token request refused: {error}"
    return "token request failed"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


class SpotifyEnricher:
    """Looks up Spotify's album art and canonical names for catalog tracks; never raises.

    Build it with `from_settings`; it is disabled (every lookup returns nothing at once)
    when the Spotify credentials are not set.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: spotipy.Spotify | None,
        *,
        http: requests.Session | None = None,
        timeout: float = 3.0,
        secrets: Sequence[str] = (),
        clock: Callable[[], float] = time.monotonic,
        max_retry_wait: float = MAX_RETRY_WAIT,
        failure_backoff: float = FAILURE_BACKOFF,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._http = http
        self._timeout = timeout
        self._secrets = tuple(secret for secret in secrets if secret)
        self._clock = clock
        self._max_retry_wait = max_retry_wait
        self._failure_backoff = failure_backoff
        self._paused_until = float("-inf")
        # One call to Spotify at a time: concurrent cards share the answer via the cache,
        # and a rate limit is seen once.
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(
        cls, settings: Settings, sessions: async_sessionmaker[AsyncSession], **options: Any
    ) -> SpotifyEnricher:
        client_id, secret_str = settings.spotify_client_id, settings.spotify_client_secret
        if not settings.spotify_enabled or client_id is None or secret_str is None:
            return cls(sessions, None)
        secret = secret_str.get_secret_value()
        # spotipy logs request headers (the Basic header encodes the secret) at DEBUG and
        # every failed call at ERROR; failures are reported here, once and without secrets.
        logging.getLogger("spotipy").setLevel(logging.CRITICAL)
        # A plain session: no urllib3 retries, so a 429 comes back with its Retry-After.
        http = requests.Session()
        auth = spotipy.SpotifyClientCredentials(
            client_id,
            secret,
            requests_session=http,
            requests_timeout=settings.spotify_timeout,
            cache_handler=MemoryCacheHandler(),  # the default writes a .cache file
        )
        auth.OAUTH_TOKEN_URL = settings.spotify_auth_url
        client = spotipy.Spotify(
            auth_manager=auth,
            requests_session=http,
            requests_timeout=settings.spotify_timeout,
            retries=0,
            status_retries=0,
        )
        client.prefix = settings.spotify_api_url.rstrip("/") + "/"
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        return cls(
            sessions,
            client,
            http=http,
            timeout=settings.spotify_timeout,
            secrets=(secret, basic),
            **options,
        )

    @property
    def enabled(self) -> bool:
        return self._client is not None

    async def lookup(self, track_id: str) -> SpotifyInfo | None:
        """Spotify's info for a catalog track, or None (unknown, disabled or unavailable)."""
        return (await self.lookup_many([track_id])).get(track_id)

    async def lookup_many(self, track_ids: Iterable[str]) -> dict[str, SpotifyInfo]:
        """Spotify's info for those catalog tracks it knows; the others are left out."""
        if self._client is None:
            return {}
        wanted = {track_id for track_id in track_ids if TRACK_ID.fullmatch(track_id)}
        if not wanted:
            return {}
        try:
            return await self._lookup(wanted)
        except Exception:  # a card without art beats no card
            log.warning("Spotify enrichment failed; cards show without it", exc_info=True)
            return {}

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    async def _cached(self, track_ids: Iterable[str]) -> dict[str, CachedSpotifyInfo | None]:
        async with self._sessions() as session:
            return await cached_spotify_info(session, track_ids)

    @staticmethod
    def _split(
        cached: Mapping[str, CachedSpotifyInfo | None], now: datetime
    ) -> tuple[dict[str, SpotifyInfo], list[str], dict[str, SpotifyInfo]]:
        """(fresh answers, ids to ask Spotify for, stale answers to fall back on)."""
        fresh: dict[str, SpotifyInfo] = {}
        stale: dict[str, SpotifyInfo] = {}
        to_fetch: list[str] = []
        for track_id, entry in cached.items():
            if entry is not None:
                max_age = FOUND_MAX_AGE if entry.info else MISSING_MAX_AGE
                if now - entry.fetched_at < max_age:
                    if entry.info:
                        fresh[track_id] = entry.info
                    continue
                if entry.info:
                    stale[track_id] = entry.info
            to_fetch.append(track_id)
        return fresh, sorted(to_fetch), stale

    async def _lookup(self, wanted: set[str]) -> dict[str, SpotifyInfo]:
        # Ids not in the catalog are not in `cached`: never asked for, never cached.
        found, to_fetch, stale = self._split(await self._cached(wanted), utcnow())
        if not to_fetch or self._paused():
            return {**stale, **found}
        async with self._lock:
            # Another card may have fetched these while this one waited for the lock.
            fresher, to_fetch, stale = self._split(await self._cached(to_fetch), utcnow())
            found.update(fresher)
            if to_fetch and not self._paused():
                fetched = await self._fetch(to_fetch)
                found.update({key: info for key, info in fetched.items() if info is not None})
                stale = {key: info for key, info in stale.items() if key not in fetched}
        return {**stale, **found}

    def _paused(self) -> bool:
        return self._clock() < self._paused_until

    async def _fetch(self, track_ids: Sequence[str]) -> dict[str, SpotifyInfo | None]:
        fetched: dict[str, SpotifyInfo | None] = {}
        try:
            for start in range(0, len(track_ids), BATCH):
                fetched.update(await self._fetch_batch(track_ids[start : start + BATCH]))
        except _Unavailable as exc:
            self._paused_until = self._clock() + exc.backoff
            log.warning(
                "Spotify is unavailable (%s); cards show without album art for the next %s",
                self._redact(exc.reason),
                _duration(exc.backoff),
            )
        if fetched:
            try:
                async with self._sessions() as session, session.begin():
                    await store_spotify_info(session, fetched)
            except Exception:  # the answers still serve this card
                log.warning("could not cache Spotify's answers", exc_info=True)
        return fetched

    async def _fetch_batch(self, batch: Sequence[str]) -> dict[str, SpotifyInfo | None]:
        assert self._client is not None
        waited = False
        while True:
            try:
                payload = await asyncio.wait_for(
                    asyncio.to_thread(self._client.tracks, list(batch)), self._timeout
                )
            except SpotifyException as exc:
                if exc.http_status != 429:
                    raise _Unavailable(f"HTTP {exc.http_status}", self._failure_backoff) from None
                wait = _retry_after(exc.headers)
                if not waited and wait is not None and wait <= self._max_retry_wait:
                    log.info("Spotify asks to wait %.1f s before the next request", wait)
                    waited = True
                    await asyncio.sleep(wait)
                    continue
                backoff = wait if wait is not None else self._failure_backoff
                raise _Unavailable("rate limited", backoff) from None
            except SpotifyOauthError as exc:
                raise _Unavailable(_token_failure(exc), self._failure_backoff) from None
            except (TimeoutError, requests.Timeout):
                reason = f"no answer within {self._timeout:g} s"
                raise _Unavailable(reason, self._failure_backoff) from None
            except requests.ConnectionError:
                raise _Unavailable("cannot connect", self._failure_backoff) from None
            except requests.RequestException as exc:
                raise _Unavailable(type(exc).__name__, self._failure_backoff) from None
            return _parse(batch, payload)

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text
