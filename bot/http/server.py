"""The bot's HTTP server (aiohttp, on the bot's event loop): GET /healthz, GET /metrics,
the REST API under /api/v1 (bot/http/api.py) and its OpenAPI document.

Every error is JSON `{"error": ...}`: a bad request says what to send instead; a fault in
the bot is logged with its traceback and answered 500 without one.

The server's sockets and tasks start in an empty context (`_detached`): they serve HTTP,
not Discord events, so they must not inherit whatever the bot's set-up hook carried
(SimCord, which runs the bot in tests, tracks the bot's work through that context and
would otherwise count an idle keep-alive connection as the bot still busy)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from bot.http import api
from bot.http.health import OK, health_checks
from bot.http.metrics import ServerMetrics
from bot.http.openapi import OPENAPI
from bot.http.timings import LoopLagProbe

if TYPE_CHECKING:
    from bot.http.served import ServedBot

log = logging.getLogger(__name__)
T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

BOT: web.AppKey[ServedBot] = web.AppKey("bot")
METRICS = web.AppKey("metrics", ServerMetrics)
# Seconds between event-loop lag samples: frequent enough to catch a stall of a fraction
# of a second, rare enough to cost nothing.
LAG_INTERVAL = 0.1
# The registry counts in /metrics come from the database: a slow one must not hang scrapes.
REGISTRY_TIMEOUT = 2.0
# On shutdown, requests in flight get this long to finish.
SHUTDOWN_SECONDS = 5.0


class HttpServerError(RuntimeError):
    """The server cannot listen where EARWORM_HTTP_HOST/EARWORM_HTTP_PORT say."""


class HttpServer:
    """The running server; `close()` stops listening and stops the lag probe."""

    def __init__(self, runner: web.AppRunner, probe: LoopLagProbe, metrics: ServerMetrics) -> None:
        self._runner = runner
        self._probe = probe
        self.metrics = metrics

    async def close(self) -> None:
        self._probe.stop()
        await _detached(self._runner.cleanup())


async def start_http_server(bot: ServedBot) -> HttpServer:
    host, port = bot.settings.http_host, bot.settings.http_port
    metrics = ServerMetrics.for_bot(bot)
    runner = _JsonErrorsRunner(
        create_app(bot, metrics),
        access_log=None,  # scrapes and health probes every few seconds would drown the log
        handle_signals=False,  # the bot owns shutdown
        shutdown_timeout=SHUTDOWN_SECONDS,
    )
    await _detached(runner.setup())
    try:
        await _detached(web.TCPSite(runner, host, port).start())
    except OSError as exc:
        await _detached(runner.cleanup())
        raise HttpServerError(
            f"cannot serve HTTP on {host}:{port}: {exc.strerror or exc}. "
            "Set EARWORM_HTTP_PORT to a free port (or unset it to turn the HTTP API off)."
        ) from None
    probe = LoopLagProbe(
        asyncio.get_running_loop(), interval=LAG_INTERVAL, observe=metrics.loop_lag.observe
    )
    probe.start()
    log.info("HTTP API listening on http://%s:%s", host, port)
    return HttpServer(runner, probe, metrics)


def create_app(bot: ServedBot, metrics: ServerMetrics) -> web.Application:
    app = web.Application(middlewares=[_answer_errors])
    app[BOT] = bot
    app[METRICS] = metrics
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_text)
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/api/v1/recommend", _rest(api.recommend))
    app.router.add_get("/api/v1/similar", _rest(api.similar))
    app.router.add_get("/api/v1/trending", _rest(api.trending))
    return app


async def healthz(request: web.Request) -> web.Response:
    checks = await health_checks(request.app[BOT])
    failing = [part for part, status in checks.items() if status != OK]
    if failing:
        body = {"status": "unavailable", "checks": checks, "failing": failing}
        return web.json_response(body, status=503)
    return web.json_response({"status": "ok", "checks": checks})


async def metrics_text(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    try:
        await asyncio.wait_for(metrics.state.refresh(), REGISTRY_TIMEOUT)
    except Exception as exc:  # still answer: the rest of the metrics do not need it
        log.warning("metrics: the model registry could not be read (%s)", type(exc).__name__)
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


async def openapi(_request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


def _rest(endpoint: Callable[[web.Request, Any], Awaitable[dict[str, Any]]]) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        bot = request.app[BOT]
        api.check_token(request, bot)
        return web.json_response(await endpoint(request, bot))

    return handle


@web.middleware
async def _answer_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except api.ApiError as exc:
        response = api.error_response(exc.status, exc.message, exc.headers)
    except web.HTTPException as exc:  # aiohttp's own: unknown path, method not allowed
        if exc.status < 400:
            raise
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        response = api.error_response(exc.status, exc.reason, allow)
    except Exception:
        log.exception("HTTP %s %s failed", request.method, request.path)
        response = api.error_response(
            500, "Something went wrong on our side. It is logged; try again in a moment."
        )
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    request.app[METRICS].requests.labels(route, str(response.status)).inc()
    return response


# --- requests the HTTP parser refuses before any handler runs -----------------------------

TOO_LONG = "The request line or a header is too long (8 KiB at most). Send shorter parameters."
BAD_REQUEST = "The request could not be read as HTTP. Check the method, path and headers."


class _JsonErrorsHandler(RequestHandler):
    """aiohttp answers requests its parser refuses (a request line or header past its
    limits, malformed HTTP) with plain text before any middleware runs; here they get the
    API's JSON error body like every other 4xx."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not 400 <= status < 500:
            return super().handle_error(request, status, exc, message)
        log.debug("refused an unreadable HTTP request: %r", exc)
        response = api.error_response(status, TOO_LONG if _too_long(exc) else BAD_REQUEST)
        response.force_close()  # the parser's state is unknown: do not read on
        return response


def _too_long(error: BaseException | None) -> bool:
    # The C parser reports a header past the limit as a plain BadHttpMessage.
    return isinstance(error, LineTooLong) or "too long" in str(error).lower()


class _JsonErrorsServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrorsHandler(self, loop=self._loop, **self._kwargs)


class _JsonErrorsRunner(web.AppRunner):
    """An AppRunner whose connections use `_JsonErrorsHandler` (aiohttp builds its server
    and handlers itself; this is the one place to choose the handler class)."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorsServer  # adds behaviour only, no state
        return server


async def _detached(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` as a task of its own in an empty context (see the module docstring)."""
    return await asyncio.Task(work, context=contextvars.Context())
