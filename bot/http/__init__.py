"""The bot's HTTP side: health, Prometheus metrics and a small REST API (aiohttp)."""
