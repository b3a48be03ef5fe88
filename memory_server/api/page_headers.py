"""The headers of the HTML pages the server serves itself (the console, the reference)."""

from __future__ import annotations

from flask import Response


def locked_down(response: Response, policy: str) -> Response:
    """`policy` as the Content-Security-Policy, no framing, no sniffing, no referrer."""
    response.headers["Content-Security-Policy"] = policy
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    return response
