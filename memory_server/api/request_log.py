"""One structured JSON line per request: method, path, status, duration, key id.

Never the key itself, a body or a memory's text: the line is safe to ship to any log store.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

from flask import Flask, Response, g, request

logger = logging.getLogger("memory_api.access")


def init_request_log(app: Flask) -> None:
    """Time every request from its first hook and log it once its response is ready."""

    @app.before_request
    def _started() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _finished(response: Response) -> Response:
        started = g.get("request_started", time.perf_counter())
        key = g.get("api_key")
        scope = g.get("scope")
        # json.dumps escapes quotes and control characters: a path cannot forge a line.
        logger.info(
            json.dumps(
                {
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "key_id": key.id if key else None,
                    "workspace": scope.workspace if scope else None,
                    "bytes": response.content_length,
                    "worker": os.getpid(),
                    **g.get("log_fields", {}),  # e.g. an MCP call's method and tool
                },
                ensure_ascii=True,
            )
        )
        return response


def log_to_stderr(level: str = "INFO") -> None:
    """Send the request lines to stderr, one JSON object each (gunicorn workers call this)."""
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
