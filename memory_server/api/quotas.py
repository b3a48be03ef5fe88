"""Per-key quotas by tier: flask-limiter with a moving (truly rolling) window, headers and 429s."""

from __future__ import annotations

import math
import time

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter, RateLimitExceeded
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage

from memory_server.api.errors import APIError, error_response, invalid_request
from memory_server.api.http_input import request_json
from memory_server.api.schemas import MAX_BATCH

RETRY_AFTER = "Retry-After"


def is_per_process(storage_uri: str) -> bool:
    """Whether counters in this storage live inside one process (so workers cannot share them)."""
    return storage_uri.split(":", 1)[0].lower() == "memory"


def init_rate_limits(app: Flask) -> Limiter:
    """Attach the quota limiter; register `auth.authenticate` first, so 401s never count."""
    uri = app.config["RATELIMIT_STORAGE"]
    options: dict[str, object] = {"wrap_exceptions": True}  # failures arrive as StorageError
    if uri.lower().startswith(("redis://", "rediss://", "redis+unix://")):
        # Fail fast (then 503) instead of holding a request thread while Redis is unreachable.
        options |= {"socket_connect_timeout": 2, "socket_timeout": 2}
    limiter = Limiter(
        key_func=_key_id,
        # One application-wide counter per key: a quota covers every endpoint together.
        application_limits=[_tier_limit],
        # A batch costs one request per memory in it: batching cannot get around a quota.
        application_limits_cost=_request_cost,
        # moving-window keeps each hit's time: a rolling hour with no 2x burst at window edges.
        strategy="moving-window",
        storage_uri=uri,
        storage_options=options,
        # We write the headers ourselves so Retry-After and the body's retry_after always agree.
        headers_enabled=False,
        key_prefix="memory-api",
    )
    limiter.request_filter(_not_limited)
    limiter.init_app(app)
    app.extensions["rate_limiter"] = limiter
    app.after_request(_quota_headers)
    app.register_error_handler(RateLimitExceeded, too_many_requests)
    app.register_error_handler(StorageError, _storage_unavailable)
    return limiter


def _key_id() -> str:
    return g.api_key.id


def _tier_limit() -> str:
    return current_app.config["TIER_LIMITS"][g.api_key.tier]


def _request_cost() -> int:
    if request.method != "POST" or not request.path.endswith("/batch"):
        return 1
    try:
        items = request_json().get("memories")
    except APIError:
        return 1  # refused as invalid a moment later; counted as one request
    return min(max(len(items), 1), MAX_BATCH) if isinstance(items, list) else 1


def _not_limited() -> bool:
    """Unauthenticated routes (/health, 404s) and unlimited tiers are never counted."""
    key = g.get("api_key")
    return key is None or current_app.config["TIER_LIMITS"][key.tier] is None


def _window() -> tuple[int, int, float] | None:
    """(limit, remaining, reset time) of the current request's quota, if it has one."""
    request_limit = current_app.extensions["rate_limiter"].current_limit
    if request_limit is None:
        return None
    reset, remaining = request_limit.window
    return request_limit.limit.amount, remaining, reset


def _quota_headers(response: Response) -> Response:
    try:
        window = _window()
    except StorageError:
        current_app.logger.warning(
            "rate limit storage unreachable: response sent without quota headers"
        )
        return response
    if window is not None:
        amount, remaining, reset = window
        response.headers["X-RateLimit-Limit"] = str(amount)
        response.headers["X-RateLimit-Remaining"] = str(max(0, remaining))
        response.headers["X-RateLimit-Reset"] = str(math.ceil(reset))
    return response


def too_many_requests(exc: RateLimitExceeded) -> Response:
    """The 429 of a request over its quota (or a 400 for a batch bigger than the quota)."""
    request_limit = current_app.extensions["rate_limiter"].current_limit
    cost = _request_cost()
    if request_limit is not None and cost > request_limit.limit.amount:
        # No wait would let it through: the batch is bigger than the whole quota.
        amount, period = request_limit.limit.amount, request_limit.limit.get_expiry()
        return error_response(
            invalid_request(
                f"This batch costs {cost} requests, more than this key's whole quota "
                f"({amount} per {period} s): send at most {amount} memories per batch",
                {"fields": {"memories": [f"At most {amount} for this key's quota."]}},
            )
        )
    retry_after = max(1, math.ceil(_seconds_until_room(cost)))
    error = APIError(
        429,
        "RATE_LIMITED",
        "Too many requests",
        extra={"retry_after": retry_after},
        headers={RETRY_AFTER: str(retry_after)},
    )
    return error_response(error)


def _seconds_until_room(cost: int) -> float:
    """Seconds until this key's quota has room for a request costing `cost`.

    The moving window keeps every counted request's time, newest first; a request of cost k
    fits once the entry k places from the limit has left the window (limits' own test in
    `acquire_entry`). The window's reset (its oldest entry) is only right for cost 1.
    """
    limiter = current_app.extensions["rate_limiter"]
    request_limit = limiter.current_limit
    if request_limit is None:
        return 1.0
    amount, expiry = request_limit.limit.amount, request_limit.limit.get_expiry()
    entered = _entry_time(limiter.storage, request_limit.key, amount - cost)
    if entered is None:  # a storage whose entries cannot be read: the whole window is safe
        return float(expiry)
    return entered + expiry - time.time()


def _entry_time(storage: object, key: str, index: int) -> float | None:
    """When the index-th newest counted request of `key` was made (memory and Redis)."""
    # No such entry: there is room already (older ones left the window since the check).
    room_now = 0.0
    if isinstance(storage, MemoryStorage):
        entries = storage.events.get(key, [])
        return entries[index].atime if index < len(entries) else room_now
    if isinstance(storage, RedisStorage):
        found = storage.get_connection(readonly=True).lindex(storage.prefixed_key(key), index)
        return float(found) if found is not None else room_now
    return None


def _storage_unavailable(exc: StorageError) -> Response:
    # Fail closed: serving without counting would silently break every quota.
    current_app.logger.error("rate limit storage unreachable: %s", exc.storage_error)
    message = "Rate limit storage is unreachable; try again shortly"
    return error_response(APIError(503, "SERVICE_UNAVAILABLE", message))
