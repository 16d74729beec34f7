"""A fake Spotify Web API on 127.0.0.1: the client-credentials token endpoint and
GET /v1/tracks, with switches for rate limits, server errors and slow answers.

It runs its own event loop in a background thread, so it answers whether the caller is
synchronous (spotipy, from a worker thread) or async, on whichever loop a test uses.

    with FakeSpotify() as spotify:
        spotify.add_track(track_id, "Halo", ["Beyoncé"])
        settings = load_settings(**spotify.settings())
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

Endpoint = Literal["token", "tracks"]
MAX_IDS = 50  # Spotify's own limit for GET /v1/tracks
ART_SIZES = (640, 300, 64)


@dataclass
class _Failure:
    status: int
    headers: dict[str, str]
    times: int | None  # None: until heal()


@dataclass
class FakeSpotify:
    client_id: str = "fake-client-id"
    client_secret: str = field(default_factory=lambda: f"fake-secret-{secrets.token_hex(8)}")
    # Seconds every /v1/tracks answer waits (a slow or hanging Spotify).
    delay: float = 0.0
    tracks: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: int = 0
    track_requests: int = 0
    requested_ids: list[list[str]] = field(default_factory=list)
    _failures: dict[str, _Failure] = field(default_factory=dict)
    _token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    _port: int | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    _stopping: asyncio.Event | None = None

    # -- what the fake knows and how it misbehaves ---------------------------------------

    def add_track(
        self,
        track_id: str,
        name: str,
        artists: Sequence[str],
        album: str = "An Album",
        art: bool = True,
    ) -> dict[str, Any]:
        """Make Spotify know the track; its JSON as GET /v1/tracks returns it."""
        images = [
            {
                "url": f"https://i.scdn.co/image/{track_id}-{size}",
                "width": size,
                "height": size,
            }
            for size in ART_SIZES
        ]
        self.tracks[track_id] = {
            "id": track_id,
            "type": "track",
            "uri": f"spotify:track:{track_id}",
            "name": name,
            "artists": [{"id": f"artist{number}", "name": a} for number, a in enumerate(artists)],
            "album": {"name": album, "images": images if art else []},
            "external_urls": {"spotify": f"https://open.spotify.com/track/{track_id}"},
        }
        return self.tracks[track_id]

    def rate_limit(self, retry_after: str, times: int | None = 1) -> None:
        """The next `times` track requests (None: all, until heal()) get 429 Retry-After."""
        self.fail(429, times=times, headers={"Retry-After": retry_after})

    def fail(
        self,
        status: int = 500,
        *,
        times: int | None = None,
        endpoint: Endpoint = "tracks",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer `endpoint` with `status` the next `times` requests (None: until heal())."""
        self._failures[endpoint] = _Failure(status, headers or {}, times)

    def heal(self) -> None:
        self._failures.clear()
        self.delay = 0.0

    @property
    def request_count(self) -> int:
        return self.token_requests + self.track_requests

    # -- where it listens ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("the fake Spotify is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v1/"

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/api/token"

    def settings(self, timeout: float = 2.0) -> dict[str, object]:
        """Overrides for `load_settings` that point Earworm at this fake."""
        return {
            "SPOTIFY_CLIENT_ID": self.client_id,
            "SPOTIFY_CLIENT_SECRET": self.client_secret,
            "SPOTIFY_API_URL": self.api_url,
            "SPOTIFY_AUTH_URL": self.auth_url,
            "SPOTIFY_TIMEOUT": timeout,
        }

    # -- the HTTP side -------------------------------------------------------------------

    def _failure(self, endpoint: Endpoint) -> web.Response | None:
        failure = self._failures.get(endpoint)
        if failure is None:
            return None
        if failure.times is not None:
            failure.times -= 1
            if failure.times <= 0:
                del self._failures[endpoint]
        message = "API rate limit exceeded" if failure.status == 429 else "Server error"
        return web.json_response(
            {"error": {"status": failure.status, "message": message}},
            status=failure.status,
            headers=failure.headers,
        )

    async def _token_endpoint(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        if failed := self._failure("token"):
            return failed
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        form = await request.post()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response(
                {"error": "invalid_client", "error_description": "Invalid client"}, status=400
            )
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        return web.json_response(
            {"access_token": self._token, "token_type": "Bearer", "expires_in": 3600}
        )

    async def _tracks_endpoint(self, request: web.Request) -> web.Response:
        self.track_requests += 1
        ids = [value for value in request.query.get("ids", "").split(",") if value]
        self.requested_ids.append(ids)
        if self.delay and self._stopping is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.delay)
        if failed := self._failure("tracks"):
            return failed
        if request.headers.get("Authorization") != f"Bearer {self._token}":
            return web.json_response(
                {"error": {"status": 401, "message": "Invalid access token"}}, status=401
            )
        if not ids or len(ids) > MAX_IDS:
            message = "Too many ids requested" if ids else "Missing ids"
            return web.json_response({"error": {"status": 400, "message": message}}, status=400)
        return web.json_response({"tracks": [self.tracks.get(track_id) for track_id in ids]})

    # -- life cycle ----------------------------------------------------------------------

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/api/token", self._token_endpoint)
        app.router.add_get("/v1/tracks", self._tracks_endpoint)
        app.router.add_get("/v1/tracks/", self._tracks_endpoint)  # spotipy adds the slash
        self._stopping = asyncio.Event()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    def start(self) -> FakeSpotify:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fake-spotify", daemon=True
        )
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        """Stop listening (a later request is refused); the port stays in base_url."""
        if self._loop is None or self._thread is None:
            return
        loop = self._loop

        async def shutdown() -> None:
            if self._stopping is not None:
                self._stopping.set()  # let slow handlers finish now
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = self._runner = None

    def __enter__(self) -> FakeSpotify:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
