"""Logging for every `earworm` command: one handler on stderr, text for people or one JSON
object per line for log shippers (EARWORM_LOG_FORMAT), and secrets redacted from every
record, whichever library logged it.

The secrets: the Discord token, the Spotify client secret, the API token and the database
password. Settings already hide them in their reprs; the filter catches them wherever else
they turn up (an exception that quotes a URL, a library that logs a header), in the message,
its arguments, the traceback and the stack.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

from pythonjsonlogger.json import JsonFormatter
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.settings import Settings

REDACTED = "***"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Shorter values would be redacted from unrelated text; no real secret is that short.
MIN_SECRET_LENGTH = 4
# The password as written in a URL (user:password@host), however it was encoded.
_URL_PASSWORD = re.compile(r"://[^/@:]*:([^/@]+)@")


def database_password(url: str) -> str | None:
    try:
        return make_url(url).password
    except (ArgumentError, ValueError):  # e.g. a port that is not a number
        return None


def secret_values(settings: Settings) -> list[str]:
    """Every secret the settings hold, as it could appear in text (a password also
    percent-encoded, as it is inside a URL)."""
    values = [
        secret.get_secret_value()
        for secret in (
            settings.discord_token,
            settings.spotify_client_secret,
            settings.api_token,
            settings.lastfm_api_key,
        )
        if secret is not None
    ]
    url = settings.resolved_database_url
    password = database_password(url)
    if password:
        values += [password, quote(password, safe=""), quote_plus(password)]
    values += _URL_PASSWORD.findall(url)
    return values


class Redactor:
    """Replaces each secret with *** in text (longest first, so no fragment of a longer
    secret that contains a shorter one survives)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        found = {secret for secret in secrets if len(secret) >= MIN_SECRET_LENGTH}
        self._secrets = sorted(found, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


class RedactSecrets(logging.Filter):
    """Rewrites a record that mentions a secret; lets every record through."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.redact = Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.redact:
            return True
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info or record.exc_text:
            # The traceback as text, redacted; the formatters print exc_text when there is
            # no exc_info to format again.
            text = record.exc_text or _formatter.formatException(record.exc_info)  # type: ignore[arg-type]
            record.exc_text = self.redact(text)
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


_formatter = logging.Formatter()


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time of each record (not the stream of the
    moment it was created), so test runners that swap stderr see the output."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def json_formatter() -> logging.Formatter:
    """One JSON object per line: timestamp (ISO 8601, UTC), level, logger, message and,
    when there is one, exception (the traceback as text)."""
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger", "exc_info": "exception"},
        timestamp=True,
        json_ensure_ascii=False,
    )


def log_uncaught(kind: type[BaseException], error: BaseException, trace: Any) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, trace)
        return
    logging.getLogger("earworm").critical("unexpected error", exc_info=(kind, error, trace))


def configure_logging(settings: Settings) -> logging.Handler:
    """Install the stderr handler on the root logger (replacing one installed before, so
    calling this twice does not print everything twice) and return it."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, StderrHandler):
            root.removeHandler(handler)
    handler = StderrHandler()
    handler.setFormatter(
        json_formatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    handler.addFilter(RedactSecrets(secret_values(settings)))
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # A crash's traceback goes through logging too: redacted, and JSON when asked.
    sys.excepthook = log_uncaught
    if settings.log_level != "DEBUG":
        # Alembic narrates every check at INFO; the commands report what matters themselves.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    return handler


def _installed_handler() -> StderrHandler | None:
    for handler in logging.getLogger().handlers:
        if isinstance(handler, StderrHandler):
            return handler
    return None


def report_error(message: str) -> None:
    """Print a command's one-line error on stderr: `error: <message>` for people, or a
    JSON object (level ERROR) like every other line when EARWORM_LOG_FORMAT=json, secrets
    redacted either way. Printed whatever EARWORM_LOG_LEVEL says: it is the answer.

    Before logging is configured (a setting failed to load) the variable itself decides."""
    handler = _installed_handler()
    json_logs = (
        isinstance(handler.formatter, JsonFormatter)
        if handler is not None
        else os.environ.get("EARWORM_LOG_FORMAT", "").strip().lower() == "json"
    )
    if not json_logs:
        filters = handler.filters if handler is not None else []
        for redacting in (f for f in filters if isinstance(f, RedactSecrets)):
            message = redacting.redact(message)
        print(f"error: {message}", file=sys.stderr, flush=True)
        return
    record = logging.LogRecord("earworm", logging.ERROR, __file__, 0, message, None, None)
    if handler is None:
        handler = StderrHandler()
        handler.setFormatter(json_formatter())
    handler.handle(record)  # its filters (redaction) and formatter, not the level
