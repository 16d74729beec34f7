"""A fake Last.fm API on 127.0.0.1: user.getRecentTracks (paged, with the "now playing"
row) and user.getTopTracks, with switches for Last.fm's errors, HTTP failures and slow
answers. It runs its own event loop in a background thread, like tests/fakes/spotify_server.

    with FakeLastfm() as lastfm:
        lastfm.add_scrobbles("rj", [("Halo", "Beyoncé", "I Am...", 1700000000), ...])
        client = LastfmClient(lastfm.api_key, base_url=lastfm.url)
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

# Last.fm's own messages for the errors the client maps.
MESSAGES = {
    6: "User not found",
    10: "Invalid API key - You must be granted a valid key by last.fm",
    17: "Login: User required to be logged in",
    29: "Rate limit exceeded - Your IP has made too many requests in a short period",
}


@dataclass
class _Failure:
    status: int
    error: int | None  # a Last.fm error code in the JSON body
    headers: dict[str, str]
    times: int | None  # None: until heal()
    from_page: int  # requests for earlier pages still succeed


@dataclass
class FakeLastfm:
    api_key: str = "fake-lastfm-key"
    delay: float = 0.0  # seconds every answer waits
    scrobbles: dict[str, list[tuple[str, str, str, int]]] = field(default_factory=dict)
    now_playing: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    top: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)
    private: set[str] = field(default_factory=set)
    requests: list[dict[str, str]] = field(default_factory=list)
    body_override: str | None = None  # answer this text instead (bad JSON)
    _failure: _Failure | None = None
    _port: int | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    _stopping: asyncio.Event | None = None

    # -- what it knows -----------------------------------------------------------------

    def add_scrobbles(self, user: str, rows: list[tuple[str, str, str, int]]) -> None:
        """(title, artist, album, unix seconds) rows; served newest first."""
        self.scrobbles.setdefault(user.lower(), []).extend(rows)
        self.scrobbles[user.lower()].sort(key=lambda row: -row[3])

    def fail(
        self,
        status: int = 200,
        *,
        error: int | None = None,
        times: int | None = None,
        headers: dict[str, str] | None = None,
        from_page: int = 1,
    ) -> None:
        """Answer the next `times` requests (None: all) for page `from_page` or later with
        `status` and, when given, a Last.fm error code in the body."""
        self._failure = _Failure(status, error, headers or {}, times, from_page)

    def heal(self) -> None:
        self._failure = None
        self.delay = 0.0

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("the fake Last.fm is not started")
        return f"http://127.0.0.1:{self._port}/2.0/"

    # -- the HTTP side -----------------------------------------------------------------

    def _error(self, code: int, status: int = 200, headers: dict[str, str] | None = None):
        return web.json_response(
            {"error": code, "message": MESSAGES.get(code, "Error")}, status=status, headers=headers
        )

    def _failed(self, page: int) -> web.Response | None:
        failure = self._failure
        if failure is None or page < failure.from_page:
            return None
        if failure.times is not None:
            failure.times -= 1
            if failure.times <= 0:
                self._failure = None
        if failure.error is not None:
            return self._error(failure.error, failure.status, failure.headers)
        return web.Response(
            status=failure.status, text="<html>Service Unavailable</html>", headers=failure.headers
        )

    async def _endpoint(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.requests.append(query)
        if self.delay and self._stopping is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.delay)
        if failed := self._failed(int(query.get("page", "1"))):
            return failed
        if self.body_override is not None:
            return web.Response(text=self.body_override, content_type="application/json")
        if query.get("api_key") != self.api_key:
            return self._error(10, 403)
        if query.get("format") != "json":
            return web.Response(text="<lfm status='ok'/>", content_type="text/xml")
        user = query.get("user", "").lower()
        known = user in self.scrobbles or user in self.top or user in self.private
        if not known:
            return self._error(6, 404)
        method = query.get("method", "").lower()
        if method == "user.getrecenttracks":
            if user in self.private:
                return self._error(17, 403)
            return web.json_response(self._recent(user, query))
        if method == "user.gettoptracks":
            return web.json_response(self._top(user, query))
        return self._error(3, 400)

    def _recent(self, user: str, query: dict[str, str]) -> dict[str, Any]:
        limit = min(int(query.get("limit", "50")), 200)
        page = max(1, int(query.get("page", "1")))
        since = int(query.get("from", "0"))
        rows = [row for row in self.scrobbles.get(user, []) if row[3] >= since]
        pages = max(1, -(-len(rows) // limit))
        tracks: list[dict[str, Any]] = [
            {
                "artist": {"mbid": "", "#text": artist},
                "streamable": "0",
                "image": [],
                "mbid": "",
                "album": {"mbid": "", "#text": album},
                "name": title,
                "url": "https://www.last.fm/music/x",
                "date": {"uts": str(uts), "#text": "01 Jan 2024, 00:00"},
            }
            for title, artist, album, uts in rows[(page - 1) * limit : page * limit]
        ]
        if page == 1 and user in self.now_playing:
            title, artist, album = self.now_playing[user]
            tracks.insert(
                0,
                {
                    "artist": {"mbid": "", "#text": artist},
                    "album": {"mbid": "", "#text": album},
                    "name": title,
                    "@attr": {"nowplaying": "true"},
                },
            )
        return {
            "recenttracks": {
                "track": tracks[0] if len(tracks) == 1 else tracks,  # Last.fm's one-row quirk
                "@attr": {
                    "user": user,
                    "totalPages": str(pages),
                    "page": str(page),
                    "perPage": str(limit),
                    "total": str(len(rows)),
                },
            }
        }

    def _top(self, user: str, query: dict[str, str]) -> dict[str, Any]:
        rows = self.top.get(user, [])
        return {
            "toptracks": {
                "track": [
                    {
                        "name": title,
                        "playcount": str(count),
                        "artist": {"name": artist, "mbid": ""},
                        "@attr": {"rank": str(rank)},
                        "duration": "200",
                    }
                    for rank, (title, artist, count) in enumerate(rows, start=1)
                ],
                "@attr": {"user": user, "totalPages": "1", "page": "1", "total": str(len(rows))},
            }
        }

    # -- life cycle --------------------------------------------------------------------

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/2.0/", self._endpoint)
        self._stopping = asyncio.Event()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    def start(self) -> FakeLastfm:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fake-lastfm", daemon=True
        )
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        loop = self._loop

        async def shutdown() -> None:
            if self._stopping is not None:
                self._stopping.set()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = self._runner = None

    def __enter__(self) -> FakeLastfm:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
