"""GET /healthz: is this bot able to serve? Three parts, each "ok" or a short reason:
the gateway (connected to Discord, every shard), the database (answers a trivial query in
time) and the serving model (a catalog and its models are loaded).

Reasons are fixed phrases, never exception text: a driver's message can carry a host name
or worse, and the endpoint needs no authentication."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, cast

import discord

if TYPE_CHECKING:
    from bot.http.served import ServedBot
    from storage.database import Database

log = logging.getLogger(__name__)

OK = "ok"
# A database slower than this to answer `SELECT 1` is down as far as members can tell.
DATABASE_TIMEOUT = 2.0


async def health_checks(bot: ServedBot) -> dict[str, str]:
    return {
        "gateway": gateway_status(cast("discord.Client", bot)),
        "database": await database_status(bot.database),
        "model": OK if bot.engine.serving is not None else "no catalog or model loaded",
    }


def gateway_status(bot: discord.Client) -> str:
    if bot.is_closed():
        return "closed"
    if getattr(bot, "stopping", False):  # refusing commands: take it out of rotation
        return "shutting down"
    if not bot.is_ready():
        return "not connected yet"
    if isinstance(bot, discord.AutoShardedClient):
        shards = bot.shards
        if not shards:
            return "no shard connected"
        down = sorted(shard_id for shard_id, shard in shards.items() if shard.is_closed())
        if down:
            return "shard " + ", ".join(map(str, down)) + " disconnected"
        return OK
    websocket = bot.ws
    return OK if websocket is not None and websocket.open else "disconnected"


async def database_status(database: Database) -> str:
    try:
        await asyncio.wait_for(database.ping(), DATABASE_TIMEOUT)
    except TimeoutError:
        log.warning("health check: the database did not answer within %.0f s", DATABASE_TIMEOUT)
        return "timed out"
    except Exception as exc:  # any failure to reach it means the same to a load balancer
        log.warning("health check: the database is unreachable (%s)", type(exc).__name__)
        return "unreachable"
    return OK
