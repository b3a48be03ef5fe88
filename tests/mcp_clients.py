"""The official MCP client (the `mcp` package) against an app in process or a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx2
from flask import Flask
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from memory_server.serving.front import WSGIFront

T = TypeVar("T")

# The seven tools, in the order tools/list gives them.
TOOL_NAMES = [
    "add_memory",
    "search_memories",
    "get_memory",
    "update_memory",
    "memory_history",
    "delete_memory",
    "list_memories",
]


@asynccontextmanager
async def http_client(
    url: str, key: str | None, workspace: str | None = None, app: Flask | None = None, **kw: Any
) -> AsyncIterator[Client]:
    """An MCP client on `url` (/mcp); with `app`, served in process through the HTTP front."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if workspace:
        headers["X-Workspace-ID"] = workspace
    transport = None
    if app is not None:
        front = WSGIFront(
            app, threads=4, max_body_bytes=app.config["MAX_CONTENT_LENGTH"], client_timeout=30
        )
        transport = httpx2.ASGITransport(app=front)
    async with (
        httpx2.AsyncClient(headers=headers, transport=transport, timeout=60, **kw) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
    ):
        yield client


def run(session: Callable[[], Awaitable[T]]) -> T:
    """Run one async test body to its end (the tests need no async plugin)."""
    return asyncio.run(session())
