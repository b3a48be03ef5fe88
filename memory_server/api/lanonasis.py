"""The LanOnasis client's dialect of `/api/v1`: its requests read, and answered, in its shapes.

`@lanonasis/memory-client` sends `X-Project-Scope: lanonasis-maas` with every request. Such a
request to a route of `/api/v1/memory` is answered here instead of by the seed's view (the
same service underneath: see maas_fields.py for where each field lives); every other request
keeps the seed's shapes exactly. The client unwraps nothing: a memory is a bare MemoryEntry,
a list `{"data", "pagination"}`, a search `{"results", "total_results", "search_time_ms"}`.
Errors keep their status and code; `error` carries the sentence, which the client shows
(errors.py). Its topics are in api/lanonasis_topics.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request
from marshmallow import ValidationError

from memory_server.api.auth import current_scope, protect
from memory_server.api.errors import invalid_request
from memory_server.api.fields import Metadata
from memory_server.api.http_input import json_body, query_args
from memory_server.api.lanonasis_dialect import speaks_lanonasis
from memory_server.api.maas_schemas import (
    BulkDeleteSchema,
    EntryCreateSchema,
    EntryListQuerySchema,
    EntrySearchSchema,
    EntryUpdateSchema,
)
from memory_server.api.openapi_operations import Reply, documented
from memory_server.api.response_schemas import DeletedCountSchema
from memory_server.api.schemas import schema
from memory_server.maas_fields import (
    KEYS,
    MEMORY_TYPES,
    ReservedKey,
    entry,
    filters_for,
    metadata_for,
    updated_metadata,
)
from memory_server.memory_service import Duplicated
from memory_server.services import services
from memory_server.storage.memory_store import MemoryNotFound, PreconditionFailed

RECENT = 5  # ids of the newest memories in the client's stats
# An update re-reads the memory and tries again when another writer changed it meanwhile.
UPDATE_ATTEMPTS = 3

bp = Blueprint("lanonasis", __name__, url_prefix="/api/v1")
protect(bp)


def answer_in_its_dialect() -> Response | tuple[Response, int] | None:
    """Seed blueprint before_request: the client's request to a seed route, answered here."""
    # OPTIONS matches the route's first rule whatever its method (the POST of /memory): it
    # must get Flask's own answer, never run a view (a read-only key passes OPTIONS).
    if request.method == "OPTIONS" or not speaks_lanonasis():
        return None
    view = VIEWS.get(request.endpoint or "")
    return None if view is None else view(**(request.view_args or {}))


def create_entry() -> tuple[Response, int]:
    """POST /api/v1/memory: store a MemoryEntry (201), or find it stored already (200)."""
    body = json_body(schema(EntryCreateSchema))
    fields = {name: body[name] for name in KEYS if name in body}
    metadata = _checked(lambda: metadata_for(fields, body.get("metadata")))
    scope = current_scope()
    outcome = services().memories.create(scope, body["content"], metadata)
    status = 200 if isinstance(outcome, Duplicated) else 201
    return jsonify(entry(outcome.memory, scope.owner)), status


def get_entry(memory_id: str) -> Response:
    """GET /api/v1/memory/:id."""
    scope = current_scope()
    return jsonify(entry(services().memories.get(scope, memory_id), scope.owner))


def update_entry(memory_id: str) -> Response:
    """PUT /api/v1/memory/:id: the fields given change, the others stay."""
    body = json_body(schema(EntryUpdateSchema))
    fields = {name: body[name] for name in KEYS if name in body}
    scope, memories = current_scope(), services().memories

    def merged_update() -> Any:
        current = memories.get(scope, memory_id)
        metadata = None
        if fields or "metadata" in body:
            metadata = _checked(
                lambda: updated_metadata(current.metadata, fields, body.get("metadata"))
            )
        # If-Match: the fields merged into what was read must not overwrite a change made
        # since; then read again and merge again.
        return memories.update(
            scope, memory_id, body.get("content"), metadata, if_match=[current.etag]
        )

    for _ in range(UPDATE_ATTEMPTS - 1):
        try:
            return jsonify(entry(merged_update().memory, scope.owner))
        except PreconditionFailed:
            continue
    return jsonify(entry(merged_update().memory, scope.owner))  # a third 412 goes out


def delete_entry(memory_id: str) -> tuple[str, int]:
    """DELETE /api/v1/memory/:id: 204."""
    services().memories.delete(current_scope(), memory_id)
    return "", 204


def list_entries() -> Response:
    """GET /api/v1/memory: a page of entries, `{"data", "pagination"}`."""
    query = query_args(schema(EntryListQuerySchema))
    tags = [tag for tag in query.get("tags", "").split(",") if tag]
    filters = filters_for(
        [query["memory_type"]] if "memory_type" in query else None,
        query.get("status"),
        tags,
        query.get("topic_id"),
        query.get("project_ref"),
    )
    scope = current_scope()
    page = services().memories.list(
        scope, query["page"], query["limit"], filters, order=f"{query['sort']} {query['order']}"
    )
    return jsonify(
        {
            "data": [entry(memory, scope.owner) for memory in page.items],
            "pagination": {
                "page": page.page,
                "limit": page.per_page,
                "total": page.total,
                "pages": math.ceil(page.total / page.per_page),
            },
        }
    )


def search_entries() -> Response:
    """POST /api/v1/memory/search: entries by meaning, each with its `similarity_score`.

    The score is the cosine similarity of the entry's best chunk to the query, so the
    client's `threshold` (0-1) cuts on the same scale; no threshold: every match, ranked.
    """
    body = json_body(schema(EntrySearchSchema))
    filters = filters_for(
        body.get("memory_types") or ([body["type"]] if "type" in body else None),
        body["status"],
        body.get("tags"),
        body.get("topic_id"),
        body.get("project_ref"),
    )
    scope = current_scope()
    found = services().memories.search(
        scope, body["query"], body["limit"], body.get("threshold"), "semantic", filters
    )
    results = [
        {**entry(result.memory, scope.owner), "similarity_score": result.score}
        for result in found.results
    ]
    return jsonify(
        {
            "results": results,
            "total_results": len(results),
            "search_time_ms": found.search_time_ms,
        }
    )


def entry_stats() -> Response:
    """GET /api/v1/memory/stats: the workspace's UserMemoryStats."""
    scope, memories = current_scope(), services().memories
    by_type = {kind: memories.list(scope, 1, 1, filters_for([kind])).total for kind in MEMORY_TYPES}
    recent = memories.list(scope, 1, RECENT)
    return jsonify(
        {
            "total_memories": recent.total,
            "memories_by_type": by_type,
            "total_topics": services().topics.count(scope),
            "recent_memories": [memory.id for memory in recent.items],
        }
    )


@bp.post("/memory/bulk/delete")
@documented(
    {200: Reply("How many were deleted; the ids not found.", DeletedCountSchema)},
    body=BulkDeleteSchema,
)
def bulk_delete() -> Response:
    """Delete up to 100 memories by id (the LanOnasis client's bulk delete)."""
    body = json_body(schema(BulkDeleteSchema))
    scope, memories = current_scope(), services().memories
    ids, failed = list(dict.fromkeys(body["memory_ids"])), []
    for memory_id in ids:
        try:
            memories.delete(scope, memory_id)
        except MemoryNotFound:
            failed.append(memory_id)
    return jsonify({"deleted_count": len(ids) - len(failed), "failed_ids": failed})


def _checked(make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The metadata `make` builds, checked as any memory's metadata is; else a 400."""
    try:
        return Metadata().deserialize(make())
    except ReservedKey as exc:
        raise invalid_request(str(exc), {"metadata": {exc.key: [str(exc)]}}) from exc
    except ValidationError as exc:
        raise invalid_request(
            "The memory's metadata would not be valid", {"metadata": exc.messages}
        ) from exc


# The seed's views and the client's answers to the same routes.
VIEWS: dict[str, Callable[..., Any]] = {
    "memory_management.create_memory": create_entry,
    "memory_management.get_memory": get_entry,
    "memory_management.update_memory": update_entry,
    "memory_management.delete_memory": delete_entry,
    "memory_management.list_memories": list_entries,
    "memory_management.search_memories": search_entries,
    "memory_management.memory_stats": entry_stats,
}
