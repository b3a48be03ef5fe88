"""Bearer API key authentication and the workspace a request works in."""

from __future__ import annotations

from flask import Blueprint, g, request

from memory_server.api.errors import invalid_request, unauthorized
from memory_server.api_keys import NAME_PATTERN
from memory_server.scope import Scope
from memory_server.services import services

DEFAULT_WORKSPACE = "default"
_protected: set[str] = set()


def protect(bp: Blueprint) -> Blueprint:
    """Make every route of `bp` need an API key and work in the request's workspace."""
    _protected.add(bp.name)
    bp.before_request(select_workspace)
    return bp


def is_protected(blueprint: str | None) -> bool:
    """Whether routes of this blueprint need an API key."""
    return blueprint in _protected


def authenticate() -> None:
    """App-level before_request: a valid key for protected routes, or 401.

    It runs before the rate limiter's own before_request, so a refused request counts
    against no quota, while every authenticated one (even a 400) does.
    """
    if not is_protected(request.blueprint):
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    key = services().keys.authenticate(token.strip()) if scheme.lower() == "bearer" else None
    if key is None:
        raise unauthorized()
    g.api_key = key


def select_workspace() -> None:
    """Blueprint before_request: the workspace from X-Workspace-ID, or a clear 400."""
    workspace = request.headers.get("X-Workspace-ID", DEFAULT_WORKSPACE)
    if not NAME_PATTERN.match(workspace):
        raise invalid_request(
            "X-Workspace-ID must be 1-64 characters of A-Z a-z 0-9 _ . : -",
            {"header": "X-Workspace-ID"},
        )
    g.scope = Scope(g.api_key.owner, workspace)


def current_scope() -> Scope:
    """The owner and workspace of the authenticated request."""
    return g.scope
