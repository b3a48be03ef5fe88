"""GET /openapi.json and GET /docs: the API's contract and its reference page; GET / (no key)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, url_for

from memory_server.api.openapi_operations import Reply, documented
from memory_server.api.openapi_spec import build_spec
from memory_server.api.page_headers import locked_down
from memory_server.api.reference import reference
from memory_server.services import services

bp = Blueprint("api_docs", __name__)

REFERENCE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document, built once per process."""
    cached = current_app.extensions.get("openapi")
    if cached is None:
        memories = services().memories
        # The database's vector length once bound, else the configured model's.
        dimension = memories.store.dimension or memories.embedder.dimension
        cached = current_app.extensions["openapi"] = build_spec(current_app, dimension)
    return cached


@bp.get("/openapi.json")
@documented({200: Reply("This document (OpenAPI 3.1).", {"type": "object"})})
def openapi_json() -> Response:
    """The OpenAPI 3.1 document of every endpoint, generated from the request schemas."""
    return jsonify(openapi_document())


@bp.get("/docs")
@documented({200: Reply("An HTML page.", {"type": "string"}, media_type="text/html")})
def docs() -> Response:
    """The API reference as one HTML page, served offline."""
    page = Response(render_template("api_reference.html", **reference(openapi_document())))
    # No script at all, its own inline style: the console links here, in the same tab.
    return locked_down(page, REFERENCE_POLICY)


@bp.get("/")
@documented({302: Reply("Sent on to /console (the `Location` header).")})
def home() -> Response:
    """What a browser opening the server's address gets: sent on to the web console."""
    return redirect(url_for("console.console_page"))
