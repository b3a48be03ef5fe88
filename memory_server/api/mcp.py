"""`/mcp`: the memory tools over MCP's Streamable HTTP, behind the REST API's key, scope and quota.

Flask authenticates the request, picks its workspace (X-Workspace-ID), counts a tool call
against the key's quota like any request and logs it; the MCP SDK then answers the
JSON-RPC message (memory_server/mcp/), and a tool runs back in this request's thread.
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
from flask import Blueprint, Response, current_app, g, request
from flask_limiter import RateLimitExceeded

from memory_server.api.auth import protect, reads
from memory_server.api.errors import APIError
from memory_server.api.quotas import too_many_requests
from memory_server.mcp.bridge import Bridge, BridgeTimeout

bp = Blueprint("mcp", __name__)
protect(bp)

TOOL_CALL = "tools/call"


def mcp_bridge() -> Bridge:
    """The current app's bridge to the MCP server."""
    return current_app.extensions["memory_api.mcp"]


# POST only: stateless JSON mode keeps no session to DELETE and opens no event stream on
# GET; the spec's answer to both is 405, which Flask gives with an Allow header.
@bp.post("/mcp")
@reads  # each tool says whether it writes; a read-only key gets only the rest (tools.py)
def mcp_endpoint() -> Response:
    """One MCP message (JSON-RPC over Streamable HTTP), answered in JSON."""
    message = jsonrpc_message()
    g.log_fields = _log_fields(message)
    try:
        status, headers, body = mcp_bridge().handle(_asgi_scope(), request.get_data(cache=True))
    except BridgeTimeout as exc:
        raise APIError(504, "GATEWAY_TIMEOUT", f"The MCP server did not answer: {exc}") from exc
    response = Response(body, status)
    for name, value in headers:
        if name.lower() == "content-type":
            response.headers["Content-Type"] = value
        elif name.lower() not in ("content-length", "date", "server"):
            response.headers.add(name, value)
    return response


@bp.before_request
def check_host() -> None:
    """Refuse a Host or browser Origin that is not this server's (DNS rebinding)."""
    allowed = allowed_hosts()
    host = _host_name(request.host)
    if "*" not in allowed and host not in allowed:
        raise APIError(
            421,
            "MISDIRECTED_REQUEST",
            f"This server does not serve MCP under the name {host!r}: add it to "
            "MEMORY_API_MCP_ALLOWED_HOSTS",
        )
    origin = request.headers.get("Origin")
    if origin is not None and "*" not in allowed:
        origin_host = _host_name(origin.partition("://")[2].split("/", 1)[0])
        if origin_host not in allowed:
            raise APIError(
                403,
                "FORBIDDEN_ORIGIN",
                f"Pages from {origin!r} may not call this server's MCP endpoint",
            )


@bp.errorhandler(RateLimitExceeded)
def quota_used_up(exc: RateLimitExceeded) -> Response:
    """A tool call over quota: the REST API's 429, told to the model as a tool error."""
    refused = too_many_requests(exc)  # the REST API's 429, Retry-After and all
    message = jsonrpc_message()
    if message.get("id") is None:
        return refused
    body = refused.get_json()
    result = types.CallToolResult(
        content=[types.TextContent(type="text", text=f"{body['message']}: {_retry(body)}")],
        structured_content={"status": refused.status_code, **body},
        is_error=True,
    )
    answer = {
        "jsonrpc": "2.0",
        "id": message["id"],
        "result": result.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    response = current_app.response_class(json.dumps(answer), 200, mimetype="application/json")
    for name in ("Retry-After",):
        if name in refused.headers:
            response.headers[name] = refused.headers[name]
    return response


def not_a_tool_call() -> bool:
    """Limiter filter: MCP messages other than tools/call (listing, discovery) cost nothing."""
    return request.blueprint == bp.name and jsonrpc_message().get("method") != TOOL_CALL


def jsonrpc_message() -> dict[str, Any]:
    """The request's JSON-RPC message, or {} if it is none (the SDK answers that one)."""
    if "jsonrpc_message" not in g:
        try:
            message = json.loads(request.get_data(cache=True) or b"{}")
        except (ValueError, RecursionError):
            message = {}
        g.jsonrpc_message = message if isinstance(message, dict) else {}
    return g.jsonrpc_message


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def allowed_hosts() -> set[str]:
    """Host names MCP is served under: loopback, the setting's, the addresses it binds."""
    names = {name if name == "*" else _host_name(name) for name in LOOPBACK_NAMES}
    names |= {n if n == "*" else _host_name(n) for n in current_app.config["MCP_ALLOWED_HOSTS"]}
    for bind in current_app.config["BIND"].split(","):
        if bind.strip().startswith(("unix:", "fd://")):
            continue  # a socket file or descriptor names no host
        bound = _host_name(bind)
        if bound not in ("0.0.0.0", "::", ""):
            names.add(bound)
    return names


def _host_name(host: str) -> str:
    """`[::1]:8080` -> `::1`, `Api.Example:80` -> `api.example`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def _retry(body: dict[str, Any]) -> str:
    seconds = body.get("retry_after")
    return f"retry in {seconds} s" if seconds else "retry later"


def _log_fields(message: dict[str, Any]) -> dict[str, Any]:
    fields = {"mcp_method": message.get("method")}
    params = message.get("params")
    if message.get("method") == TOOL_CALL and isinstance(params, dict):
        name = params.get("name")
        fields["tool"] = name if isinstance(name, str) else None
    return fields


def _asgi_scope() -> dict[str, Any]:
    """The ASGI scope of this request, for the SDK's Starlette app."""
    environ = request.environ
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": environ.get("SERVER_PROTOCOL", "HTTP/1.1").split("/")[-1],
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.path.encode("utf-8"),
        "query_string": environ.get("QUERY_STRING", "").encode("latin-1"),
        "root_path": "",
        "headers": [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in request.headers.items()
        ],
        "server": (environ.get("SERVER_NAME", "localhost"), _port(environ.get("SERVER_PORT"))),
        "client": (request.remote_addr or "", _port(environ.get("REMOTE_PORT"))),
        "state": {},
    }


def _port(value: str | None) -> int:
    """A port from the environ; 0 when the server in front did not say (an in-process one)."""
    return int(value) if value and value.isdigit() else 0
