"""`Idempotency-Key` on create endpoints: a retried create returns the first answer."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from flask import Response, current_app, g, make_response, request

from memory_server.api.auth import current_scope
from memory_server.api.errors import APIError, invalid_request
from memory_server.api.http_input import request_json
from memory_server.services import services
from memory_server.storage.database import StorageFull
from memory_server.storage.idempotency_store import KeyInFlight, KeyReused

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}\Z")  # printable ASCII, no spaces


def fingerprint(method: str, path: str, body: Any) -> str:
    """What makes two requests the same: endpoint and JSON, however the JSON is spaced."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def created(memory_ids: Iterable[str]) -> None:
    """Tell `@idempotent` which memories this request stored (forgetting the key with them)."""
    g.idempotent_created = list(memory_ids)


def idempotent(view: Callable[..., Any]) -> Callable[..., Response]:
    """Make a create endpoint honour `Idempotency-Key` (see docs/api.md for the rules)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return make_response(view(*args, **kwargs))
        if not KEY_PATTERN.match(key):
            raise invalid_request(
                f"{HEADER} must be 1-255 printable ASCII characters without spaces",
                {"header": HEADER},
            )
        store, scope = services().idempotency, current_scope()
        try:
            replay = store.begin(
                scope, key, fingerprint(request.method, request.path, request_json())
            )
        except KeyInFlight as exc:
            raise APIError(
                409, "IDEMPOTENCY_KEY_IN_USE",
                "A request with this Idempotency-Key is still running; retry in a moment",
                headers={"Retry-After": "1"},
            ) from exc  # fmt: skip
        except KeyReused as exc:
            raise APIError(
                # A conflict with the key's stored request, not a malformed one: 409, told
                # apart from a retry of a running request by its code and no Retry-After.
                409, "IDEMPOTENCY_KEY_REUSED",
                "This Idempotency-Key was used for a different request; use a new key",
            ) from exc  # fmt: skip
        if replay is not None:
            response = Response(replay.body, replay.status, mimetype="application/json")
            if replay.location:
                response.headers["Location"] = replay.location
            response.headers["Idempotent-Replayed"] = "true"
            return response
        try:
            response = make_response(view(*args, **kwargs))
        except BaseException:
            store.release(scope, key)  # nothing was stored: a retry may run it again
            raise
        try:
            if 200 <= response.status_code < 300:
                store.complete(
                    scope, key, response.status_code, response.get_data(as_text=True),
                    response.headers.get("Location"), g.pop("idempotent_created", ()),
                )  # fmt: skip
            else:
                store.release(scope, key)
        except StorageFull:
            # The create itself is stored: answer it. The unrecorded reservation is taken
            # over after ABANDONED_AFTER_S, like one whose process died.
            current_app.logger.warning("Idempotency-Key %r not recorded: storage full", key)
        return response

    wrapper.idempotent = True  # type: ignore[attr-defined]  # the OpenAPI document reads it
    return wrapper
