"""Answer helpers shared by the REST surfaces: a memory's version as ETag, and 304s."""

from __future__ import annotations

from flask import Response, request

from memory_server.storage.memory_store import Memory


def versioned(response: Response, memory: Memory) -> Response:
    """The response with the memory's ETag; 304 when If-None-Match already names it."""
    response.headers["ETag"] = memory.etag
    # werkzeug compares If-None-Match weakly, as RFC 9110 asks for GET.
    return response.make_conditional(request)
