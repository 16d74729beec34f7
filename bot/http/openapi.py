"""The OpenAPI 3.0 document served at GET /api/v1/openapi.json. It is the API's contract:
tests/bot/test_http_api.py fuzzes the live server with schemathesis against it, so every
constraint written here is one the server enforces (and answers 4xx for when broken)."""

from __future__ import annotations

from typing import Any

from bot.http.api import DEFAULT_COUNT, MAX_GENRE_LENGTH, MAX_SNOWFLAKE, MAX_TRACK_LENGTH
from bot.serving.engine import MAX_COUNT, MODES, SCOPES

# No control characters (Unicode category Cc): the server refuses them with a 400.
NO_CONTROL = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
SPOTIFY_TRACK = (
    "^(https?://open\\.spotify\\.com/(intl-[a-z]{2}/)?track/|spotify:track:)?"
    "[0-9A-Za-z]{22}([/?#][^\\u0000-\\u001F\\u007F-\\u009F]*)?$"
)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    if headers:
        response["headers"] = headers
    return response


def _query(name: str, description: str, schema: dict[str, Any], *, required: bool = False):
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


COUNT = _query(
    "count",
    f"How many picks (1-{MAX_COUNT}).",
    {"type": "integer", "minimum": 1, "maximum": MAX_COUNT, "default": DEFAULT_COUNT},
)
GENRE = _query(
    "genre",
    "Only tracks of this catalog genre (any letter case). A blank value means no filter.",
    {"type": "string", "maxLength": MAX_GENRE_LENGTH, "pattern": NO_CONTROL},
)
UNAUTHORIZED = _error(
    "No token, or the wrong one.",
    {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
)
UNAVAILABLE = _error(
    "The REST API is off (no EARWORM_API_TOKEN configured), the catalog is empty, or the "
    "bot is busy (then Retry-After says when to retry).",
    {
        "Retry-After": {
            "schema": {"type": "integer", "minimum": 1},
            "description": "Seconds to wait, when the bot is busy.",
        }
    },
)


def _picks_operation(
    summary: str, parameters: list[dict[str, Any]], not_found: str
) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": parameters,
            "responses": {
                "200": {
                    "description": "The picks, best first.",
                    "content": {"application/json": {"schema": _ref("PickList")}},
                },
                "400": _error("A query value is malformed or out of range; see the message."),
                "401": UNAUTHORIZED,
                "404": _error(not_found),
                "500": _error("A fault in the bot (logged); the request may be retried."),
                "503": UNAVAILABLE,
            },
        }
    }


OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "Earworm",
        "version": "1",
        "description": (
            "Health, Prometheus metrics and the picks Earworm's slash commands show. "
            "The /api/v1 endpoints need `Authorization: Bearer <EARWORM_API_TOKEN>`; "
            "unknown query parameters are ignored."
        ),
    },
    "security": [{"bearerAuth": []}],
    "paths": {
        "/healthz": {
            "get": {
                "summary": "Whether the bot can serve: gateway, database and model",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Every part is ok.",
                        "content": {"application/json": {"schema": _ref("Health")}},
                    },
                    "503": {
                        "description": "At least one part is failing; `failing` names them.",
                        "content": {"application/json": {"schema": _ref("Health")}},
                    },
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text exposition format 0.0.4)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The metrics.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The OpenAPI document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/api/v1/recommend": _picks_operation(
            "A member's personal picks (as /recommend)",
            [
                _query(
                    "user",
                    "The Discord user id to pick for.",
                    {"type": "integer", "minimum": 1, "maximum": MAX_SNOWFLAKE},
                    required=True,
                ),
                COUNT,
                GENRE,
            ],
            "The catalog has no such genre.",
        ),
        "/api/v1/similar": _picks_operation(
            "Tracks like a track (as /similar): its style first, then its sound",
            [
                _query(
                    "track",
                    "A Spotify track id, spotify:track: URI or open.spotify.com link.",
                    {"type": "string", "maxLength": MAX_TRACK_LENGTH, "pattern": SPOTIFY_TRACK},
                    required=True,
                ),
                COUNT,
                _query(
                    "mode",
                    "normal: the track's genres, release era and related artists first, then "
                    "closeness in sound (audio features); sound: closeness in sound alone; "
                    "genre: only tracks sharing a genre with it, by sound.",
                    {"type": "string", "enum": list(MODES), "default": "normal"},
                ),
            ],
            "The catalog has no such track.",
        ),
        "/api/v1/trending": _picks_operation(
            "What is trending (as /trending)",
            [
                _query(
                    "guild",
                    "A Discord server id: its chart, for scope server.",
                    {"type": "integer", "minimum": 1, "maximum": MAX_SNOWFLAKE},
                ),
                _query(
                    "scope",
                    "server (needs guild) or global; server when guild is given, else global.",
                    {"type": "string", "enum": list(SCOPES)},
                ),
                GENRE,
                COUNT,
            ],
            "The catalog has no such genre.",
        ),
    },
    "components": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "The value of EARWORM_API_TOKEN.",
            }
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string", "description": "What to fix"}},
            },
            "Health": {
                "type": "object",
                "required": ["status", "checks"],
                "properties": {
                    "status": {"type": "string", "enum": ["ok", "unavailable"]},
                    "checks": {
                        "type": "object",
                        "required": ["gateway", "database", "model"],
                        "description": "Each part: ok, or a short reason.",
                        "properties": {
                            "gateway": {"type": "string"},
                            "database": {"type": "string"},
                            "model": {"type": "string"},
                        },
                    },
                    "failing": {"type": "array", "items": {"type": "string"}},
                },
            },
            "PickList": {
                "type": "object",
                "required": ["title", "model", "notice", "picks"],
                "properties": {
                    "title": {"type": "string"},
                    "model": {
                        "type": "object",
                        "required": ["kind", "version"],
                        "properties": {
                            "kind": {"type": "string", "enum": ["hybrid", "content", "trending"]},
                            "version": {"type": "string", "nullable": True},
                        },
                    },
                    "notice": {
                        "type": "string",
                        "nullable": True,
                        "description": "A note when something was left out.",
                    },
                    "picks": {"type": "array", "maxItems": MAX_COUNT, "items": _ref("Pick")},
                },
            },
            "Pick": {
                "type": "object",
                "required": [
                    "rank",
                    "id",
                    "name",
                    "artists",
                    "album",
                    "genres",
                    "popularity",
                    "url",
                    "reason",
                ],
                "properties": {
                    "rank": {"type": "integer", "minimum": 1},
                    "id": {"type": "string", "description": "The Spotify track id"},
                    "name": {"type": "string"},
                    "artists": {"type": "array", "items": {"type": "string"}},
                    "album": {"type": "string", "nullable": True},
                    "genres": {"type": "array", "items": {"type": "string"}},
                    "popularity": {"type": "integer", "nullable": True},
                    "url": {"type": "string", "format": "uri"},
                    "reason": {"type": "string", "description": "Why it was picked"},
                },
            },
        },
    },
}
