"""API key authentication, the workspace a request works in, and what its key may do."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Blueprint, current_app, g, request

from memory_server.api.errors import forbidden, invalid_request, unauthorized
from memory_server.api_keys import NAME_PATTERN, ApiKey
from memory_server.scope import Scope
from memory_server.services import services

DEFAULT_WORKSPACE = "default"
# Methods that change nothing; any other one writes, unless its view is marked `reads`.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_protected: set[str] = set()

View = TypeVar("View", bound=Callable)


def protect(bp: Blueprint) -> Blueprint:
    """Make every route of `bp` need an API key, a workspace the key may use, and write access.

    Writes are refused to a read-only key by default: a view that only reads although its
    method is not GET says so with `reads`.
    """
    _protected.add(bp.name)
    bp.before_request(select_workspace)
    bp.before_request(refuse_writes_of_read_only_keys)
    return bp


def reads(view: View) -> View:
    """Mark a view that changes nothing though its method is not GET (a search: a POST).

    A read-only key may call it; every other POST, PUT, PATCH or DELETE is a write.
    """
    view.reads_only = True  # type: ignore[attr-defined]
    return view


def is_protected(blueprint: str | None) -> bool:
    """Whether routes of this blueprint need an API key."""
    return blueprint in _protected


def is_write(method: str, view: Callable | None) -> bool:
    """Whether a request with this method to this view may change something (deny by default)."""
    return method not in SAFE_METHODS and not getattr(view, "reads_only", False)


def authenticate() -> None:
    """App-level before_request: a valid key for protected routes, or 401.

    It runs before the rate limiter's own before_request, so a refused request counts
    against no quota, while every authenticated one (even a 400 or a 403) does.
    """
    if not is_protected(request.blueprint):
        return
    token = presented_key()
    key = services().keys.authenticate(token) if token else None
    if key is None:
        raise unauthorized()
    g.api_key = key


def presented_key() -> str | None:
    """The API key the request presents: `Authorization: Bearer`, else `X-API-Key`.

    X-API-Key is how the LanOnasis client sends a key: the same keys, checked the same way.
    A request with an Authorization header is judged by it alone, so one request cannot
    offer a second key when the first fails.
    """
    if "Authorization" in request.headers:
        scheme, _, token = request.headers["Authorization"].partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None
    return request.headers.get("X-API-Key", "").strip() or None


def select_workspace() -> None:
    """Blueprint before_request: the workspace from X-Workspace-ID, a 400 or a 403 if not one.

    Malformed is a 400; one the key may not use (none means `default`) is a 403.
    """
    header = request.headers.get("X-Workspace-ID")
    workspace = DEFAULT_WORKSPACE if header is None else header
    if not NAME_PATTERN.match(workspace):
        raise invalid_request(
            "X-Workspace-ID must be 1-64 characters of A-Z a-z 0-9 _ . : -",
            {"header": "X-Workspace-ID"},
        )
    key: ApiKey = g.api_key
    if not key.may_use(workspace):
        allowed = ", ".join(key.workspaces or ())
        missing = " (no X-Workspace-ID header means 'default')" if header is None else ""
        raise forbidden(
            f"This API key may not use workspace {workspace!r}{missing}: send X-Workspace-ID "
            f"with one of its workspaces ({allowed}), or use a key made for this workspace",
            {"header": "X-Workspace-ID"},
        )
    g.scope = Scope(key.owner, workspace)


def refuse_writes_of_read_only_keys() -> None:
    """Blueprint before_request: a read-only key gets 403 for anything that may write."""
    view = current_app.view_functions.get(request.endpoint or "")
    if g.api_key.read_only and is_write(request.method, view):
        raise forbidden(read_only_message())


def read_only_message() -> str:
    """Why a read-only key was refused, and what to do instead."""
    return (
        "This API key is read-only: it may read, list and search memories but not create, "
        "change or delete anything (memories or webhooks); use a read-write key for this"
    )


def current_scope() -> Scope:
    """The owner and workspace of the authenticated request."""
    return g.scope


def current_key() -> ApiKey:
    """The API key of the authenticated request."""
    return g.api_key
