"""GET /console: the web console, one page and its own script and style, served offline.

The page holds no data: it signs in with an API key kept in the tab's sessionStorage and
calls the same REST API as any client, with the key as a Bearer header (never a cookie, so
no CSRF). Its Content-Security-Policy lets it load and call nothing but this server.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from flask import Blueprint, Response, abort, request

from memory_server.api.openapi_operations import Reply, documented
from memory_server.api.page_headers import locked_down

ASSETS = Path(__file__).resolve().parent.parent / "console"
# The only files served: nothing else of the package can be asked for by name.
MEDIA_TYPES = {
    "index.html": "text/html",
    "console.js": "text/javascript",
    "console.css": "text/css",
}

bp = Blueprint("console", __name__)

# Nothing from elsewhere: scripts, styles, images and API calls come from this origin only;
# no inline script or style (an injected one would not run), no framing, no form posts.
# The script writes no HTML at all, so Trusted Types can refuse every HTML sink outright.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'"
)


@bp.get("/console")
@documented({200: Reply("The console: an HTML page.", {"type": "string"}, media_type="text/html")})
def console_page() -> Response:
    """The web console: browse, search and curate memories with an API key, in a browser."""
    return _file("index.html")


@bp.get("/console/assets/<name>")
def asset(name: str) -> Response:
    """The console's script or style sheet."""
    if name == "index.html" or name not in MEDIA_TYPES:
        abort(404)
    return _file(name)


def _file(name: str) -> Response:
    """One of the console's files, from memory, with its ETag (a 304 when unchanged)."""
    body, etag = _read(name)
    response = Response(body, mimetype=MEDIA_TYPES[name])
    response.set_etag(etag)
    return response.make_conditional(request)


@cache
def _read(name: str) -> tuple[bytes, str]:
    """A file's bytes and a tag of its content, read once per process (they are small)."""
    body = (ASSETS / name).read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:32]


@bp.after_request
def _lock_down(response: Response) -> Response:
    """Every console answer (page and assets): the policy above, no sniffing, no referrer."""
    # Revalidated on each load (ETag): an upgraded server never runs an old script.
    response.headers["Cache-Control"] = "no-cache"
    return locked_down(response, CONTENT_SECURITY_POLICY)
