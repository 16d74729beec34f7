"""Typed application settings, read from the environment and an optional `.env` file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(Exception):
    """A setting has a bad value; the message names the environment variable."""


class Settings(BaseSettings):
    """Everything Earworm reads from its environment. Secrets never print in full."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    data_dir: Path = Field(default=Path("data"), validation_alias="EARWORM_DATA_DIR")
    database_url: str | None = Field(default=None, validation_alias="EARWORM_DATABASE_URL")
    catalog: str | None = Field(default=None, validation_alias="EARWORM_CATALOG")
    shared_data_dir: Path = Field(
        default=Path("../shared/data"), validation_alias="EARWORM_SHARED_DATA"
    )
    log_level: str = Field(default="INFO", validation_alias="EARWORM_LOG_LEVEL")
    discord_token: SecretStr | None = Field(default=None, validation_alias="DISCORD_TOKEN")
    # A server to sync slash commands to instantly while developing (global sync can take
    # up to an hour to reach every server).
    dev_guild: int | None = Field(default=None, gt=0, validation_alias="EARWORM_DEV_GUILD")
    spotify_client_id: str | None = Field(default=None, validation_alias="SPOTIFY_CLIENT_ID")
    spotify_client_secret: SecretStr | None = Field(
        default=None, validation_alias="SPOTIFY_CLIENT_SECRET"
    )
    # Where Spotify's Web API and token endpoint live; tests point them at a local fake.
    spotify_api_url: str = Field(
        default="https://api.spotify.com/v1/", validation_alias="SPOTIFY_API_URL"
    )
    spotify_auth_url: str = Field(
        default="https://accounts.spotify.com/api/token", validation_alias="SPOTIFY_AUTH_URL"
    )
    # Seconds a card waits for Spotify before it shows without album art.
    spotify_timeout: float = Field(default=3.0, gt=0, le=30, validation_alias="SPOTIFY_TIMEOUT")

    # --- listening histories (issue 18) ---
    # `/import lastfm` needs a Last.fm API key (https://www.last.fm/api/account/create);
    # without one the command says so and Spotify exports still import.
    lastfm_api_key: SecretStr | None = Field(default=None, validation_alias="LASTFM_API_KEY")
    # Where Last.fm's API lives; tests point it at a local fake.
    lastfm_api_url: str = Field(
        default="https://ws.audioscrobbler.com/2.0/", validation_alias="LASTFM_API_URL"
    )
    # Seconds one Last.fm request may take before the member is told to try again later.
    lastfm_timeout: float = Field(default=10.0, gt=0, le=120, validation_alias="LASTFM_TIMEOUT")
    # Listening capture (/listening): on asks Discord for the privileged presence and
    # member intents (switched on in the developer portal); off keeps the bot unprivileged.
    listening: bool = Field(default=False, validation_alias="EARWORM_LISTENING")
    # The largest Spotify export `/import spotify` reads (it is read in memory, never kept).
    import_max_bytes: int = Field(
        default=100 * 1024 * 1024,
        ge=1024,
        le=500 * 1024 * 1024,
        validation_alias="EARWORM_IMPORT_MAX_BYTES",
    )

    # The learning loop (bot/learning/run.py): a candidate is promoted unless its NDCG@10 on the
    # newest feedback is worse than the active model's by more than this fraction.
    promotion_tolerance: float = Field(
        default=0.1, ge=0, lt=1, validation_alias="EARWORM_PROMOTION_TOLERANCE"
    )
    # Model versions per kind that keep their files (rollback targets); older ones lose them.
    keep_model_versions: int = Field(
        default=5, ge=1, le=1000, validation_alias="EARWORM_KEEP_MODEL_VERSIONS"
    )
    # The nightly run is skipped when fewer feedback rows than this arrived since the last one.
    training_min_new_rows: int = Field(
        default=100, ge=0, validation_alias="EARWORM_TRAINING_MIN_NEW_ROWS"
    )
    # What the nightly run trains: "all", or some of als, ncf, hybrid ("als,hybrid").
    nightly_models: str = Field(default="all", validation_alias="EARWORM_NIGHTLY_MODELS")
    # How often the bot checks the registry for models promoted or rolled back elsewhere
    # (e.g. `earworm train` or `earworm models rollback` from a shell), in seconds.
    registry_poll_seconds: float = Field(
        default=30.0, ge=1, le=3600, validation_alias="EARWORM_REGISTRY_POLL_SECONDS"
    )

    # --- operations (issue 7) ---
    # The HTTP API (health, metrics, REST): off unless a port is set. It binds to the local
    # machine unless told otherwise: put a reverse proxy in front to expose it.
    http_port: int | None = Field(
        default=None, ge=1, le=65535, validation_alias="EARWORM_HTTP_PORT"
    )
    http_host: str = Field(default="127.0.0.1", min_length=1, validation_alias="EARWORM_HTTP_HOST")
    # The bearer token of /api/v1/*; without one the REST API answers 503 (health and
    # metrics need none).
    api_token: SecretStr | None = Field(default=None, validation_alias="EARWORM_API_TOKEN")
    # Gateway shards: unset runs one connection; "auto" asks Discord how many; N runs N.
    shards: int | Literal["auto"] | None = Field(default=None, validation_alias="EARWORM_SHARDS")
    # The shards this process runs, of EARWORM_SHARDS in all ("0-15", "16-31", "0,2,4"):
    # several processes (machines) share one bot. Unset: every shard.
    shard_ids: str | None = Field(default=None, validation_alias="EARWORM_SHARD_IDS")
    # "text" for people, "json" for log shippers (one JSON object per line).
    log_format: Literal["text", "json"] = Field(
        default="text", validation_alias="EARWORM_LOG_FORMAT"
    )
    # Heavy commands (/recommend, /similar, /mix, /trending, /profile): uses per member per window.
    cooldown_uses: int = Field(default=3, ge=1, le=1000, validation_alias="EARWORM_COOLDOWN_USES")
    cooldown_seconds: float = Field(
        default=10.0, ge=0, le=3600, validation_alias="EARWORM_COOLDOWN_SECONDS"
    )
    # Model calls (scoring in worker threads) running at once, bot-wide; beyond it members
    # are told the bot is busy instead of queueing without end.
    max_model_calls: int = Field(
        default=8, ge=1, le=1024, validation_alias="EARWORM_MAX_MODEL_CALLS"
    )
    # Threads that score, build members' states and update counts: one per core by
    # default, since more only take turns at the GIL with the event loop.
    scoring_threads: int = Field(
        default_factory=lambda: max(1, min(os.cpu_count() or 1, 8)),
        ge=1,
        le=64,
        validation_alias="EARWORM_SCORING_THREADS",
    )
    # Feedback events waiting for the database writer; beyond it members are asked to retry.
    feedback_queue_size: int = Field(
        default=10_000, ge=1, le=10_000_000, validation_alias="EARWORM_FEEDBACK_QUEUE_SIZE"
    )
    # Members whose serving state (their feedback, folded-in vectors, taste profile) is
    # kept in memory, most recently active first; others are rebuilt on their next request
    # (a few milliseconds and one read). Each state is ~30 objects that Python's full
    # garbage collections walk while holding the GIL: at 1,000 one takes ~15-22 ms on a
    # 2-core machine, at 10,000 ~230 ms (docs/performance.md, "Loop lag that sees the GIL").
    member_cache_size: int = Field(
        default=1_000, ge=1, le=10_000_000, validation_alias="EARWORM_MEMBER_CACHE"
    )
    # On SIGTERM: seconds to let in-flight commands and queued feedback finish.
    shutdown_timeout: float = Field(
        default=30.0, gt=0, le=600, validation_alias="EARWORM_SHUTDOWN_TIMEOUT"
    )

    @field_validator("shards", mode="before")
    @classmethod
    def _shard_count(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().lower()
            if not value:
                return None
            if value == "auto":
                return "auto"
            if not value.isdigit() or int(value) < 1:
                raise ValueError("expected auto or a whole number of shards (1 or more)")
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool) and value < 1:
            raise ValueError("expected auto or a whole number of shards (1 or more)")
        return value

    @model_validator(mode="after")
    def _shard_ids_fit(self) -> Settings:
        if self.shard_ids is not None:
            if not isinstance(self.shards, int):
                raise ValueError(
                    "EARWORM_SHARD_IDS needs EARWORM_SHARDS set to the total number of shards"
                )
            self.shard_id_list()  # raises with the reason
        return self

    def shard_id_list(self) -> list[int] | None:
        """EARWORM_SHARD_IDS as numbers, checked against EARWORM_SHARDS; None: all."""
        if self.shard_ids is None:
            return None
        total = self.shards if isinstance(self.shards, int) else 0
        chosen: list[int] = []
        for part in self.shard_ids.split(","):
            first, dash, last = part.strip().partition("-")
            if not first.isdigit() or (dash and not last.isdigit()):
                raise ValueError(
                    f"EARWORM_SHARD_IDS: {part.strip()!r} is not a shard number or a range "
                    "such as 0-15"
                )
            start, stop = int(first), int(last) if dash else int(first)
            if start > stop:
                raise ValueError(f"EARWORM_SHARD_IDS: {part.strip()} ends before it starts")
            if stop >= total:
                raise ValueError(
                    f"EARWORM_SHARD_IDS: {part.strip()} is outside shards 0-{total - 1}"
                )
            chosen.extend(range(start, stop + 1))
        if len(set(chosen)) != len(chosen):
            raise ValueError("EARWORM_SHARD_IDS: a shard is listed twice")
        return chosen

    @field_validator("listening", mode="before")
    @classmethod
    def _on_or_off(cls, value: object) -> object:
        if isinstance(value, str):
            word = value.strip().lower()
            if word in {"on", "true", "yes", "1"}:
                return True
            if word in {"off", "false", "no", "0", ""}:
                return False
            raise ValueError("expected on or off")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if "://" not in value:
            raise ValueError(
                "expected a URL such as sqlite+aiosqlite:///data/earworm.db "
                "or postgresql+asyncpg://user@host/db"
            )
        return value

    @field_validator("nightly_models")
    @classmethod
    def _known_models(cls, value: str) -> str:
        names = [name.strip() for name in value.split(",") if name.strip()]
        known = ("all", "als", "ncf", "hybrid", "artists")
        if (
            not names
            or any(name not in known for name in names)
            or ("all" in names and len(names) > 1)
        ):
            raise ValueError(
                "expected all, or a comma-separated list of als, ncf, hybrid and artists"
            )
        return ",".join(names)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator(
        "discord_token",
        "spotify_client_secret",
        "api_token",
        "shard_ids",
        "lastfm_api_key",
        mode="before",
    )
    @classmethod
    def _blank_value_is_unset(cls, value: object) -> object:
        # `DISCORD_TOKEN=` as .env.example leaves it means "not set", not an empty token.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("catalog", "spotify_client_id")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or an SQLite file inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'earworm.db').as_posix()}"

    @property
    def spotify_enabled(self) -> bool:
        return bool(self.spotify_client_id and self.spotify_client_secret)

    @property
    def lastfm_enabled(self) -> bool:
        return self.lastfm_api_key is not None


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning a validation failure into one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        fields = Settings.model_fields
        lines = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "settings"
            alias = fields[name].validation_alias if name in fields else None
            variable = alias if isinstance(alias, str) else name
            message = str(error["msg"]).removeprefix("Value error, ")
            # A check across settings names its variables in the message itself.
            lines.append(f"{variable}: {message}" if error["loc"] else message)
        raise SettingsError("; ".join(lines)) from None
