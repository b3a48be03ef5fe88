"""Bearer API key authentication and the workspace a request works in."""

from __future__ import annotations

from flask import g, request

from api_keys import NAME_PATTERN
from app_services import services
from errors import invalid_request, unauthorized
from memory_store import Scope

DEFAULT_WORKSPACE = "default"


def authenticate() -> None:
    """before_request of every API blueprint: a valid key, then a valid workspace, or an error."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    key = services().keys.authenticate(token.strip()) if scheme.lower() == "bearer" else None
    if key is None:
        raise unauthorized()
    workspace = request.headers.get("X-Workspace-ID", DEFAULT_WORKSPACE)
    if not NAME_PATTERN.match(workspace):
        raise invalid_request(
            "X-Workspace-ID must be 1-64 characters of A-Z a-z 0-9 _ . : -",
            {"header": "X-Workspace-ID"},
        )
    g.api_key = key
    g.scope = Scope(key.owner, workspace)


def current_scope() -> Scope:
    """The owner and workspace of the authenticated request."""
    return g.scope
