"""Asyncio adapters between sockets and the hub (``lgserver.server``)."""
