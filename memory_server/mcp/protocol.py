"""The MCP server: tools/list, tools/call and the memory guide, over the SDK's Streamable HTTP.

Stateless JSON mode: every POST is answered on its own (protocol 2026-07-28 needs nothing
else, and earlier clients get a fresh transport per request), so any gunicorn worker can
answer any request and nothing is kept between them.
"""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette

from memory_server import __version__
from memory_server.mcp.bridge import RUN_IN_REQUEST
from memory_server.mcp.guide import GUIDE, GUIDE_PROMPT
from memory_server.mcp.tools import TOOLS, permitted_tools

PATH = "/mcp"


def build_server() -> Server:
    """The MCP server of the memory tools."""
    described = {name: tool.describe() for name, tool in TOOLS.items()}

    async def list_tools(
        ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        # Only the tools the request's key may call (a read-only key: no writing tools).
        names = await _request_state(ctx)[RUN_IN_REQUEST](permitted_tools)
        return types.ListToolsResult(tools=[described[name] for name in names])

    async def call_tool(
        ctx: ServerRequestContext, params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        tool = TOOLS.get(params.name)
        if tool is None:
            names = ", ".join(TOOLS)
            return _error(f"No tool named {params.name!r}; the tools are {names}")
        # The Flask request that brought this call runs it (bridge.py): its key's scope.
        run_in_request = _request_state(ctx)[RUN_IN_REQUEST]
        return await run_in_request(lambda: tool.call(dict(params.arguments or {})))

    async def list_prompts(
        ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=[GUIDE_PROMPT])

    async def get_prompt(
        ctx: ServerRequestContext, params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        if params.name != GUIDE_PROMPT.name:
            raise ValueError(f"No prompt named {params.name!r}")
        return types.GetPromptResult(
            description=GUIDE_PROMPT.description,
            messages=[
                types.PromptMessage(role="user", content=types.TextContent(type="text", text=GUIDE))
            ],
        )

    return Server(
        "memory-server",
        version=__version__,
        title="Memory server",
        instructions=GUIDE,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )


def build_http_app(server: Server, max_body_bytes: int) -> Starlette:
    """The SDK's Streamable HTTP app for `server`, at /mcp, stateless, answering in JSON.

    The Host and Origin checks are the Flask blueprint's (api/mcp.py), after authentication
    (a page of another site has no key: it gets the 401), with this server's own settings and
    errors; the SDK's copy of them is off.
    """
    return server.streamable_http_app(
        streamable_http_path=PATH,
        json_response=True,
        stateless_http=True,
        max_request_body_size=max_body_bytes,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )


def _request_state(ctx: ServerRequestContext) -> dict[str, Any]:
    return ctx.request.scope["state"]  # type: ignore[union-attr]


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)], is_error=True
    )
