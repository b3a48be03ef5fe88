"""Typed errors: one class per failure a caller can act on, all `MemoryAPIError`s."""

from __future__ import annotations

from typing import Any


class MemoryAPIError(Exception):
    """An error answer from the server (or no answer: status 0)."""

    def __init__(
        self,
        message: str,
        status: int = 0,
        code: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}

    def __str__(self) -> str:
        prefix = f"{self.status} {self.code}: " if self.status else ""
        return f"{prefix}{self.message}"


class AuthenticationError(MemoryAPIError):
    """401: the API key is missing, unknown, revoked or expired."""


class ForbiddenError(MemoryAPIError):
    """403: the key may not do this; retrying will not help, `message` says what would.

    `code` FORBIDDEN: the key is read-only, or not made for this workspace;
    WEBHOOK_URL_NOT_ALLOWED: the server's policy refuses the webhook URL.
    """


class NotFoundError(MemoryAPIError):
    """404: no such memory or webhook in this workspace."""


class ValidationError(MemoryAPIError):
    """400, 413 or 415: the request was refused as sent; `details` names the fields."""


class ConflictError(MemoryAPIError):
    """409: the id already exists (or a limit of the workspace is reached)."""


class PreconditionFailedError(MemoryAPIError):
    """412: the memory changed since the version given as `if_match`; nothing was changed.

    `etag` is its current version: read it again, then retry with that.
    """

    def __init__(self, message: str, etag: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.etag = etag


class RateLimitError(MemoryAPIError):
    """429: the key's quota is used up; `retry_after` says for how many seconds."""

    def __init__(self, message: str, retry_after: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailableError(MemoryAPIError):
    """503: the server cannot serve right now (model loading, quota storage down)."""


class ConnectionError(MemoryAPIError):
    """The server could not be reached, or did not answer in time."""


_BY_STATUS: dict[int, type[MemoryAPIError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    413: ValidationError,
    415: ValidationError,
    503: ServiceUnavailableError,
}


def error_from_response(
    status: int, body: Any, retry_after: str | None, etag: str | None = None
) -> MemoryAPIError:
    """The typed error for an error answer of the server."""
    body = body if isinstance(body, dict) else {}
    message = str(body.get("message") or f"HTTP {status}")
    fields = {"status": status, "code": str(body.get("error", "")), "details": body.get("details")}
    if status == 429:
        seconds = body.get("retry_after", retry_after)
        return RateLimitError(message, retry_after=int(seconds or 1), **fields)
    if status == 412:
        return PreconditionFailedError(message, etag=etag, **fields)
    return _BY_STATUS.get(status, MemoryAPIError)(message, **fields)
