"""The aiohttp side: REST API, and later WebSockets, chat and webhooks."""
