"""Placeholder until the HTTP API lands: the interface bot/app.py starts and stops."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import EarwormBot


class HttpServer:
    async def close(self) -> None:
        return None


async def start_http_server(bot: EarwormBot) -> HttpServer:
    raise NotImplementedError("the HTTP API is being built")
