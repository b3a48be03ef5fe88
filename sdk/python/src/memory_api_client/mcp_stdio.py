"""`memory-mcp`: the memory server's MCP tools over stdio, for agents that launch a command.

A light process (no model, no torch): it serves MCP on stdin/stdout and forwards every
request to the server's own MCP endpoint (`$MEMORY_API_URL/mcp`) with the agent's key and
workspace, so the tools, their schemas and their answers are exactly the server's.

    MEMORY_API_URL=http://192.168.1.20:8000 MEMORY_API_KEY=msk_... memory-mcp
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

import anyio

try:
    import httpx2
    import mcp_types as types
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.server.lowlevel import Server
    from mcp.server.stdio import stdio_server
except ImportError:  # pragma: no cover - the message is the point
    sys.exit('memory-mcp needs the mcp extra: pip install "memory-api-client[mcp]"')

DEFAULT_URL = "http://127.0.0.1:8000"
# A create embeds its text on the server: a long one can take a while on a busy host.
TIMEOUT_S = 120.0


class ConfigError(Exception):
    """An environment variable is missing or unusable; the message says which."""


def settings(environ: Mapping[str, str]) -> tuple[str, str, str | None]:
    """(server URL, API key, workspace or None) from MEMORY_API_URL/_KEY/_WORKSPACE."""
    url = environ.get("MEMORY_API_URL", DEFAULT_URL).strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"MEMORY_API_URL must start with http:// or https://, not {url!r}")
    key = environ.get("MEMORY_API_KEY", "").strip()
    if not key:
        raise ConfigError("MEMORY_API_KEY is not set: make one with `memory-server keys create`")
    workspace = environ.get("MEMORY_API_WORKSPACE", "").strip() or None
    return url, key, workspace


def proxy_server(upstream: Client, url: str) -> Server:
    """An MCP server answering from `upstream`, the memory server's own MCP endpoint."""

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> Any:
        return await upstream.list_tools()

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> Any:
        try:
            return await upstream.call_tool(params.name, dict(params.arguments or {}))
        except Exception as exc:  # the server went away: tell the model, keep serving
            message = f"The memory server at {url} did not answer: {_reason(exc)}"
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=message)], is_error=True
            )

    async def list_prompts(ctx: Any, params: types.PaginatedRequestParams | None) -> Any:
        return await upstream.list_prompts()

    async def get_prompt(ctx: Any, params: types.GetPromptRequestParams) -> Any:
        return await upstream.get_prompt(params.name, dict(params.arguments or {}))

    info = upstream.server_info
    return Server(
        info.name if info else "memory-server",
        version=info.version if info else "",
        instructions=upstream.instructions,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )


class Refused(Exception):
    """The server answered /mcp with an HTTP error (a bad key, a bad workspace name...)."""


async def _raise_refusals(response: httpx2.Response) -> None:
    if response.status_code in (400, 401, 403, 421):
        await response.aread()
        try:
            body = response.json()
        except ValueError:
            return
        # The server's own refusals ({"error": CODE, "message": ...}); a JSON-RPC error
        # ({"error": {...}}) is the MCP client's to report.
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            raise Refused(f"HTTP {response.status_code}: {body.get('message', '')}")


async def serve(url: str, key: str, workspace: str | None) -> None:
    """Connect to the server's /mcp, then serve stdio until the agent closes it."""
    headers = {"Authorization": f"Bearer {key}"}
    if workspace:
        headers["X-Workspace-ID"] = workspace
    hooks = {"response": [_raise_refusals]}  # say why, not "Server returned an error"
    async with (
        httpx2.AsyncClient(headers=headers, timeout=TIMEOUT_S, event_hooks=hooks) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as upstream,
    ):
        server = proxy_server(upstream, url)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())


def main() -> None:
    """The `memory-mcp` command."""
    try:
        url, key, workspace = settings(os.environ)
    except ConfigError as exc:
        sys.exit(f"memory-mcp: {exc}")
    try:
        anyio.run(serve, url, key, workspace)
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # one line an agent's log shows, not a traceback of task groups
        sys.exit(f"memory-mcp: cannot serve the memory server at {url}/mcp: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    """The innermost message of an error (anyio wraps them in exception groups)."""
    while getattr(exc, "exceptions", None):  # an exception group (a backport on 3.10)
        exc = exc.exceptions[0]  # type: ignore[attr-defined]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
