"""One JSON error shape for both REST surfaces, rendered by one set of handlers."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from memory_server.api.lanonasis_dialect import speaks_lanonasis
from memory_server.embedding.model import ModelLoadError
from memory_server.embedding.turns import EmbeddingBusy
from memory_server.memory_service import HistoryOff, InvalidEmbedding, StartupError
from memory_server.search.vector_index import ModelChanged
from memory_server.storage.database import StorageFull
from memory_server.storage.memory_store import MemoryExists, MemoryNotFound, PreconditionFailed
from memory_server.storage.topic_store import InvalidParent, ParentNotFound, TopicNotFound
from memory_server.webhooks.endpoints import TooManyWebhooks, WebhookNotFound
from memory_server.webhooks.urls import InvalidURL, RefusedURL

# Error codes for the HTTP statuses werkzeug raises on its own (routing, body size, ...).
_HTTP_CODES = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    503: "SERVICE_UNAVAILABLE",
}


class APIError(Exception):
    """An error a client can act on: HTTP status, stable code, human message, details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}
        # Top-level fields some errors carry by contract, e.g. the seed's 429 `retry_after`.
        self.extra = extra or {}


def invalid_request(message: str, details: dict[str, Any] | None = None) -> APIError:
    """A 400 with the seed's INVALID_REQUEST code."""
    return APIError(400, "INVALID_REQUEST", message, details)


def forbidden(message: str, details: dict[str, Any] | None = None) -> APIError:
    """A 403 FORBIDDEN: the key is valid but may not do this (read-only, another workspace)."""
    return APIError(403, "FORBIDDEN", message, details)


def unauthorized() -> APIError:
    """The seed's 401, identical for every authentication failure (no hint what was wrong)."""
    return APIError(
        401,
        "UNAUTHORIZED",
        "Invalid or expired API key",
        headers={"WWW-Authenticate": 'Bearer realm="memory-api"'},
    )


def error_body(
    path: str,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The one error shape; the `/v1` surface wraps every body with `"success": false`.

    The LanOnasis client (api/lanonasis.py) shows `error` as the message when it is a
    string: to it `error` is the sentence, and the code moves to `code`.
    """
    body: dict[str, Any] = {"error": code, "message": message, **(extra or {})}
    if details is not None:
        body["details"] = details
    if path == "/v1" or path.startswith("/v1/"):
        body = {"success": False, **body}
    elif path.startswith("/api/v1/") and speaks_lanonasis():
        body = {**body, "error": message, "code": code}
    return body


def error_response(error: APIError) -> Response:
    """Render an APIError as the one JSON error shape."""
    body = error_body(request.path, error.code, error.message, error.details, error.extra)
    response = jsonify(body)
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def register_error_handlers(app: Flask) -> None:
    """Turn every exception into the one JSON error shape."""
    app.register_error_handler(APIError, error_response)
    app.register_error_handler(HTTPException, _http_exception)
    app.register_error_handler(MemoryNotFound, _not_found)
    app.register_error_handler(HistoryOff, _history_off)
    app.register_error_handler(TopicNotFound, _topic_not_found)
    app.register_error_handler(ParentNotFound, _parent_not_found)
    app.register_error_handler(InvalidParent, _invalid_parent)
    app.register_error_handler(MemoryExists, _conflict)
    app.register_error_handler(InvalidEmbedding, _invalid_embedding)
    app.register_error_handler(WebhookNotFound, _webhook_not_found)
    app.register_error_handler(TooManyWebhooks, _too_many_webhooks)
    app.register_error_handler(InvalidURL, _invalid_webhook_url)
    app.register_error_handler(RefusedURL, _refused_webhook_url)
    app.register_error_handler(StartupError, _unavailable)
    app.register_error_handler(ModelLoadError, _unavailable)
    app.register_error_handler(ModelChanged, _unavailable)
    app.register_error_handler(EmbeddingBusy, _embedding_busy)
    app.register_error_handler(PreconditionFailed, _precondition_failed)
    app.register_error_handler(StorageFull, _storage_full)
    app.register_error_handler(Exception, _internal_error)


def _http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    messages = {
        404: "No such endpoint",
        405: f"Method {request.method} is not allowed here",
        413: "Request body is too large",
    }
    # Keep the Allow header of a 405; werkzeug's other headers describe its HTML page.
    headers = {name: value for name, value in exc.get_headers() if name.lower() == "allow"}
    code = _HTTP_CODES.get(status, exc.name.upper().replace(" ", "_"))
    message = messages.get(status) or exc.description or exc.name
    return error_response(APIError(status, code, message, headers=headers))


def _not_found(exc: MemoryNotFound) -> Response:
    return error_response(APIError(404, "NOT_FOUND", f"Memory {exc.memory_id!r} not found"))


def _topic_not_found(exc: TopicNotFound) -> Response:
    return error_response(APIError(404, "NOT_FOUND", str(exc)))


def _parent_not_found(exc: ParentNotFound) -> Response:
    details = {"parent_topic_id": [str(exc)]}
    return error_response(APIError(404, "NOT_FOUND", f"parent_topic_id: {exc}", details))


def _invalid_parent(exc: InvalidParent) -> Response:
    details = {"parent_topic_id": [str(exc)]}
    return error_response(APIError(409, "CONFLICT", f"parent_topic_id: {exc}", details))


def _history_off(exc: HistoryOff) -> Response:
    return error_response(
        APIError(
            404, "HISTORY_DISABLED",
            "This server keeps no memory history (MEMORY_API_HISTORY_VERSIONS=0)",
        )
    )  # fmt: skip


def conflict_message(memory_id: str) -> str:
    """Why a memory with this id cannot be created (a 409, or one item of a batch)."""
    return f"A memory with id {memory_id!r} already exists in this workspace"


def _conflict(exc: MemoryExists) -> Response:
    return error_response(APIError(409, "CONFLICT", conflict_message(exc.memory_id)))


def _webhook_not_found(exc: WebhookNotFound) -> Response:
    return error_response(APIError(404, "NOT_FOUND", f"Webhook {exc.endpoint_id!r} not found"))


def _too_many_webhooks(exc: TooManyWebhooks) -> Response:
    message = f"This workspace already has {exc.limit} webhooks, the most allowed"
    return error_response(APIError(409, "CONFLICT", message))


def _invalid_webhook_url(exc: InvalidURL) -> Response:
    details = {"fields": {"url": [str(exc)]}}
    return error_response(invalid_request(f"Invalid webhook URL: {exc}", details))


def _refused_webhook_url(exc: RefusedURL) -> Response:
    # Well-formed, but not somewhere this server calls: the operator's policy, not a
    # malformed request.
    return error_response(
        APIError(403, "WEBHOOK_URL_NOT_ALLOWED", f"Webhook URL not allowed: {exc}",
                 {"fields": {"url": [str(exc)]}})
    )  # fmt: skip


def _invalid_embedding(exc: InvalidEmbedding) -> Response:
    if exc.index is None:
        details = {"fields": {"embedding": [str(exc)]}}
        return error_response(invalid_request("Invalid field: embedding", details))
    # In a batch: name the item, as marshmallow does for the other fields of an item.
    details = {"fields": {"memories": {str(exc.index): {"embedding": [str(exc)]}}}}
    return error_response(invalid_request("Invalid field: memories", details))


def _storage_full(exc: StorageFull) -> Response:
    # The write was rolled back: nothing changed. 507 says it is the server's storage.
    message = (
        "The server's storage is full (its disk, or MEMORY_API_MAX_DATABASE_BYTES): nothing "
        "was stored or changed; retry once space is freed"
    )
    return error_response(APIError(507, "STORAGE_FULL", message))


def _precondition_failed(exc: PreconditionFailed) -> Response:
    # The current version's tag comes with it: read the memory again and retry with it.
    message = f"Memory {exc.memory_id!r} has changed since that version (If-Match); nothing changed"
    headers = {"ETag": exc.current_etag}
    return error_response(APIError(412, "PRECONDITION_FAILED", message, headers=headers))


def _embedding_busy(exc: EmbeddingBusy) -> Response:
    # The caller's own long texts: 429, like its quota; the whole server's: 503. Either way
    # nothing was stored, and Retry-After is when a running one should be done.
    status = 429 if exc.per_owner else 503
    seconds = str(exc.retry_after)
    return error_response(
        APIError(status, "EMBEDDING_BUSY", str(exc), headers={"Retry-After": seconds},
                 extra={"retry_after": exc.retry_after})
    )  # fmt: skip


def _unavailable(exc: Exception) -> Response:
    return error_response(APIError(503, "SERVICE_UNAVAILABLE", str(exc)))


def _internal_error(exc: Exception) -> Response:
    # Only a bug of ours gets here: log it whole, tell the client nothing internal.
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(APIError(500, "INTERNAL_ERROR", "Internal server error"))
