"""GET /health (and /api/v1/health): whether the database and the model are ready (no key)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from memory_server.api.openapi_operations import Reply, documented
from memory_server.api.response_schemas import HealthSchema
from memory_server.clock import utc_now
from memory_server.services import services

bp = Blueprint("health", __name__)


@bp.get("/health")
# Where the LanOnasis client's healthCheck() asks (it puts /api/v1 before every path).
@bp.get("/api/v1/health")
@documented(
    {
        200: Reply(
            "Ready: the database answers and has room, and the model is loaded.", HealthSchema
        ),
        503: Reply("Not ready yet, or broken: `error` says why.", HealthSchema),
    }
)
def health() -> tuple[Response, int]:
    """200 when the database answers and the model is loaded, 503 otherwise."""
    found = services()
    try:
        database = {"ready": True, "schema_version": found.db.schema_version()}
        space = found.db.space()
        # PostgreSQL reports its size only: it manages its own disk.
        database |= {k: space[k] for k in ("free_bytes", "used_bytes", "max_bytes") if k in space}
        if space["full"]:
            database |= {
                "ready": False,
                "error": "storage full: the disk holding the database has "
                f"{space['free_bytes']:,} bytes free, or a write just found no room "
                "(MEMORY_API_MAX_DATABASE_BYTES); writes are refused with 507",
            }
    except Exception as exc:  # any failure to read is exactly what health must report
        database = {"ready": False, "error": str(exc)}
    memories = found.memories
    model = {
        "ready": memories.ready,
        "name": memories.embedder.name,
        "backend": memories.embedder.backend,
        "dimension": memories.store.dimension,
    }
    if memories.embedder.error:
        model["error"] = memories.embedder.error
    ok = database["ready"] and model["ready"]
    body = {
        "status": "ok" if ok else "unavailable",
        "timestamp": utc_now(),
        "database": database,
        "model": model,
    }
    return jsonify(body), 200 if ok else 503
