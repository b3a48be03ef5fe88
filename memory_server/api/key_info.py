"""GET /v1/key: what the request's own API key is and may do (the console asks it at sign-in)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from memory_server.api.auth import current_key, current_scope, protect
from memory_server.api.openapi_operations import Reply, documented
from memory_server.api.response_schemas import KeyInfoSchema, KeyInfoV1Schema
from memory_server.api.schemas import schema

bp = Blueprint("key_info", __name__, url_prefix="/v1/key")
protect(bp)


@bp.get("")
@documented({200: Reply("The key and the workspace this request works in.", KeyInfoV1Schema)})
def key_info() -> Response:
    """The calling key: id, tier, owner, read-only or not, its workspaces; never its secret."""
    key = current_key()
    info = {**key.__dict__, "workspace": current_scope().workspace}
    return jsonify({"success": True, "data": schema(KeyInfoSchema).dump(info)})
