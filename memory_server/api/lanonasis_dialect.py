"""Whether a request comes from LanOnasis' client: its `X-Project-Scope` header.

Its own module, so the error shapes (errors.py) and the client's views (lanonasis.py) can
both ask without importing each other.
"""

from __future__ import annotations

from flask import has_request_context, request

HEADER, DIALECT = "X-Project-Scope", "lanonasis-maas"


def speaks_lanonasis() -> bool:
    """Whether the current request (if any) carries the LanOnasis client's project scope."""
    return has_request_context() and request.headers.get(HEADER, "").strip().lower() == DIALECT
