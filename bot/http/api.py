"""The REST API under /api/v1: the picks the slash commands show, as JSON, for dashboards
and other services. Every endpoint needs `Authorization: Bearer <EARWORM_API_TOKEN>`.

The handlers call the engine exactly as /recommend, /similar and /trending do, after
checking every query value here: anything malformed is a 400 (or 404 for something the
catalog lacks) that says what to send instead, so a bad request never reaches the engine
and never becomes a 500. Values from the request are not echoed back, except ids that
have been validated (digits, or a Spotify id's letters and digits)."""

from __future__ import annotations

import hmac
import math
import re
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.errors import UserFacingError
from bot.serving.engine import MAX_COUNT, MODES, SCOPES
from bot.serving.picks import PickList
from storage.repositories.genres import find_genre
from storage.repositories.tracks import get_tracks, spotify_track_id

if TYPE_CHECKING:
    from bot.http.served import ServedBot

DEFAULT_COUNT = 10
MAX_SNOWFLAKE = 2**63 - 1
# Longest values accepted: a Spotify link with its tracking query, a genre name.
MAX_TRACK_LENGTH = 200
MAX_GENRE_LENGTH = 100
DIGITS = re.compile(r"[0-9]{1,20}")
COUNT = re.compile(r"[0-9]{1,3}")
BEARER_REALM = 'Bearer realm="earworm"'


class ApiError(Exception):
    """Answered as `{"error": message}` with this status (and headers)."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


# --- authentication --------------------------------------------------------------------


def check_token(request: web.Request, bot: ServedBot) -> None:
    secret = bot.settings.api_token
    expected = secret.get_secret_value() if secret is not None else ""
    if not expected:
        raise ApiError(503, "The REST API is off: set EARWORM_API_TOKEN to turn it on.")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise ApiError(
            401,
            "Send the API token: Authorization: Bearer <EARWORM_API_TOKEN>.",
            {"WWW-Authenticate": BEARER_REALM},
        )
    # Bytes: compare_digest takes only ASCII str, and a header can hold anything.
    if not hmac.compare_digest(_utf8(given.strip()), _utf8(expected)):
        raise ApiError(
            401,
            "That API token is wrong. Send the one in EARWORM_API_TOKEN.",
            {"WWW-Authenticate": f'{BEARER_REALM}, error="invalid_token"'},
        )


def _utf8(value: str) -> bytes:
    return value.encode("utf-8", "replace")


# --- query values ----------------------------------------------------------------------


def text_value(request: web.Request, name: str, max_length: int) -> str | None:
    """The stripped value of query parameter `name`; None when absent or blank."""
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise ApiError(400, f"Give {name} once.")
    if not values:
        return None
    value = values[0]
    if len(value) > max_length:
        raise ApiError(400, f"{name} is too long: at most {max_length} characters.")
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
        raise ApiError(400, f"{name} must not contain control characters.")
    return value.strip() or None


def snowflake(request: web.Request, name: str, what: str) -> int | None:
    value = text_value(request, name, 20)
    if value is None:
        return None
    if not DIGITS.fullmatch(value) or not 1 <= int(value) <= MAX_SNOWFLAKE:
        raise ApiError(
            400, f"{name} must be a Discord {what} id: a whole number from 1 to {MAX_SNOWFLAKE}."
        )
    return int(value)


def count_value(request: web.Request) -> int:
    value = text_value(request, "count", 3)
    if value is None:
        return DEFAULT_COUNT
    if not COUNT.fullmatch(value) or not 1 <= int(value) <= MAX_COUNT:
        raise ApiError(400, f"count must be a whole number from 1 to {MAX_COUNT}.")
    return int(value)


def choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = text_value(request, name, 20)
    if value is not None and value not in allowed:
        raise ApiError(400, f"{name} must be one of: {', '.join(allowed)}.")
    return value


async def genre_value(request: web.Request, bot: ServedBot) -> str | None:
    """The catalog's spelling of the genre asked for (any case), or 404."""
    typed = text_value(request, "genre", MAX_GENRE_LENGTH)
    if typed is None:
        return None
    async with bot.database.sessions() as session:
        genre = await find_genre(session, typed)
    if genre is None:
        raise ApiError(404, "The catalog has no genre of that name. Check its spelling.")
    return genre


async def track_value(request: web.Request, bot: ServedBot) -> str:
    value = text_value(request, "track", MAX_TRACK_LENGTH)
    if value is None:
        raise ApiError(400, "track is required: a Spotify track id or link.")
    track_id = spotify_track_id(value)
    if track_id is None:
        raise ApiError(
            400,
            "track must be a Spotify track id (22 letters and digits) or a link to one "
            "(https://open.spotify.com/track/...).",
        )
    async with bot.database.sessions() as session:
        if not await get_tracks(session, [track_id]):
            raise ApiError(404, f"The catalog has no track {track_id}.")
    return track_id


# --- handlers --------------------------------------------------------------------------


async def recommend(request: web.Request, bot: ServedBot) -> dict[str, Any]:
    user = snowflake(request, "user", "user")
    if user is None:
        raise ApiError(400, "user is required: the Discord user id to pick for.")
    count = count_value(request)
    genre = await genre_value(request, bot)
    return picks_json(await ask(bot, lambda: bot.engine.recommend(user, None, count, genre)))


async def similar(request: web.Request, bot: ServedBot) -> dict[str, Any]:
    track = await track_value(request, bot)
    count = count_value(request)
    mode = choice(request, "mode", MODES) or "normal"
    return picks_json(await ask(bot, lambda: bot.engine.similar(track, mode, count)))


async def trending(request: web.Request, bot: ServedBot) -> dict[str, Any]:
    guild = snowflake(request, "guild", "server")
    scope = choice(request, "scope", SCOPES) or ("server" if guild is not None else "global")
    if scope == "server" and guild is None:
        raise ApiError(400, "scope server needs guild: the Discord server id whose chart to show.")
    count = count_value(request)
    genre = await genre_value(request, bot)
    return picks_json(await ask(bot, lambda: bot.engine.trending(guild, scope, genre, count)))


async def ask(bot: ServedBot, call: Callable[[], Awaitable[PickList]]) -> PickList:
    """The engine's answer. 503 while there is nothing to serve (as the slash commands do,
    it first looks for a catalog imported since start-up) or while the engine is busy;
    400 for what else it refuses."""
    if bot.engine.serving is None:
        await bot.engine.reload()
        if bot.engine.serving is None:
            raise ApiError(
                503, "The catalog is empty: import one with `earworm catalog import`, then retry."
            )
    try:
        return await call()
    except UserFacingError as exc:
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int | float) and math.isfinite(retry_after):
            seconds = max(1, math.ceil(retry_after))
            raise ApiError(503, str(exc), {"Retry-After": str(seconds)}) from None
        raise ApiError(400, str(exc)) from None


def picks_json(picks: PickList) -> dict[str, Any]:
    return {
        "title": picks.title,
        "model": {"kind": picks.model_kind, "version": picks.model_version},
        "notice": picks.notice,
        "picks": [
            {
                "rank": rank,
                "id": pick.track.id,
                "name": pick.track.name,
                "artists": list(pick.track.artists),
                "album": pick.track.album,
                "genres": list(pick.track.genres),
                "popularity": pick.track.popularity,
                "url": pick.track.url,
                "reason": pick.reason,
            }
            for rank, pick in enumerate(picks.picks, start=1)
        ],
    }
