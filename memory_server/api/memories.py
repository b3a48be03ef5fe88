"""Surface 1, `/v1/memories`: every answer in a `{"success": true, "data": ...}` envelope."""

from __future__ import annotations

from collections import Counter
from typing import Any

from flask import Blueprint, Response, jsonify, url_for

from memory_server.api.auth import current_scope, protect, reads
from memory_server.api.errors import conflict_message
from memory_server.api.http_input import (
    batch_status,
    create_options,
    if_match,
    json_body,
    query_args,
    update_options,
)
from memory_server.api.http_output import versioned
from memory_server.api.idempotency import created, idempotent
from memory_server.api.openapi_operations import Reply, documented
from memory_server.api.response_schemas import (
    BatchV1Schema,
    DeletedAllV1Schema,
    DeletedV1Schema,
    DuplicateV1Schema,
    HistoryV1Schema,
    MemoryPageV1Schema,
    MemorySchema,
    MemoryV1Schema,
    PaginationV1Schema,
    SearchResultSchema,
    SearchResultsV1Schema,
    VersionSchema,
)
from memory_server.api.schemas import (
    DeleteAllQuerySchema,
    MemoryBatchV1Schema,
    MemoryCreateV1Schema,
    MemoryUpdateSchema,
    PageQueryV1Schema,
    SearchRequestSchema,
    schema,
)
from memory_server.memory_service import Created, Duplicated, NewItem
from memory_server.services import services
from memory_server.storage.memory_store import MemoryExists

bp = Blueprint("memories_v1", __name__, url_prefix="/v1/memories")
protect(bp)

_memory = schema(MemorySchema)
_memories = schema(MemorySchema, many=True)


def _ok(data: Any, status: int = 200, **extra: Any) -> tuple[Response, int]:
    return jsonify({"success": True, "data": data, **extra}), status


@bp.post("")
@documented(
    {
        201: Reply("Stored.", MemoryV1Schema, ("Location", "ETag")),
        200: Reply("A duplicate: nothing stored; `data` is the memory already holding it.",
                   DuplicateV1Schema, ("Location", "ETag")),
    },
    body=MemoryCreateV1Schema,
    errors=[409],
)  # fmt: skip
@idempotent
def create_memory() -> tuple[Response, int]:
    """Store a memory; `memory_id` picks its id.

    A memory with the same text and metadata already in the workspace is not stored again
    (200, `duplicate: true`) unless `on_duplicate` is allow.
    """
    body = json_body(schema(MemoryCreateV1Schema))
    outcome = services().memories.create(
        current_scope(), body["text"], body.get("metadata"), body.get("memory_id"),
        **create_options(body),
    )  # fmt: skip
    created([outcome.memory.id])
    if isinstance(outcome, Duplicated):
        response, status = _ok(
            _memory.dump(outcome.memory), 200, duplicate=True, similarity=outcome.similarity
        )
    else:
        response, status = _ok(_memory.dump(outcome.memory), 201)
    response.headers["Location"] = url_for(".get_memory", memory_id=outcome.memory.id)
    response.headers["ETag"] = outcome.memory.etag
    return response, status


_BATCH_REPLIES = {
    201: Reply("Every memory stored or a duplicate, at least one stored.", BatchV1Schema),
    200: Reply("Every memory a duplicate: nothing stored.", BatchV1Schema),
    207: Reply("Some not stored because an id was taken: each item says which.", BatchV1Schema),
}


@bp.post("/batch")
@documented(_BATCH_REPLIES, body=MemoryBatchV1Schema)
@idempotent
def create_memories() -> tuple[Response, int]:
    """Store up to 100 memories: one embedding pass, one transaction, a result per item.

    Items are deduplicated against the workspace and each other (status duplicate).
    """
    body = json_body(schema(MemoryBatchV1Schema))
    defaults = create_options(body)
    items = [
        NewItem(item["text"], item.get("metadata"), item.get("memory_id"),
                **create_options(item, defaults))
        for item in body["memories"]
    ]  # fmt: skip
    outcomes = services().memories.create_many(current_scope(), items)
    created(o.memory.id for o in outcomes if not isinstance(o, MemoryExists))
    data = [_batch_item(index, outcome) for index, outcome in enumerate(outcomes)]
    counts = Counter(item["status"] for item in data)
    return _ok(data, batch_status(counts["stored"], counts["error"]))


def _batch_item(index: int, outcome: Created | Duplicated | MemoryExists) -> dict[str, Any]:
    if isinstance(outcome, MemoryExists):
        return {"index": index, "status": "error", "error": "CONFLICT",
                "message": conflict_message(outcome.memory_id)}  # fmt: skip
    if isinstance(outcome, Duplicated):
        return {"index": index, "status": "duplicate", "memory": _memory.dump(outcome.memory),
                "similarity": outcome.similarity}  # fmt: skip
    return {"index": index, "status": "stored", "memory": _memory.dump(outcome.memory)}


@bp.get("")
@documented({200: Reply("A page of memories.", MemoryPageV1Schema)}, query=PageQueryV1Schema)
def list_memories() -> tuple[Response, int]:
    """A page of memories, newest first; `filters` (JSON, as in search) narrows it."""
    query = query_args(schema(PageQueryV1Schema))
    page = services().memories.list(
        current_scope(), query["page"], query["per_page"], filters=query.get("filters")
    )
    return _ok(_memories.dump(page.items), pagination=schema(PaginationV1Schema).dump(page))


@bp.post("/search")
@reads  # a search changes nothing: a read-only key may send it
@documented(
    {200: Reply("The matches, best first.", SearchResultsV1Schema)}, body=SearchRequestSchema
)
def search_memories() -> tuple[Response, int]:
    """Memories ranked by meaning, words or both, best first."""
    body = json_body(schema(SearchRequestSchema))
    found = services().memories.search(current_scope(), **body)
    return _ok(schema(SearchResultSchema, many=True).dump(found.results))


@bp.get("/<memory_id:memory_id>")
@documented({200: Reply("The memory.", MemoryV1Schema, ("ETag",))}, errors=[404], conditional=True)
def get_memory(memory_id: str) -> Response:
    """One memory; `ETag` is its version, for If-Match on PUT and DELETE."""
    memory = services().memories.get(current_scope(), memory_id)
    return versioned(_ok(_memory.dump(memory))[0], memory)


@bp.put("/<memory_id:memory_id>")
@documented(
    {200: Reply("The updated memory.", MemoryV1Schema, ("ETag",))},
    body=MemoryUpdateSchema,
    errors=[404, 412],
    if_match=True,
)
def update_memory(memory_id: str) -> Response:
    """Change text, metadata and/or expiry (metadata replaces the old one); If-Match guards it."""
    body = json_body(schema(MemoryUpdateSchema))
    updated = services().memories.update(
        current_scope(), memory_id, body.get("text"), body.get("metadata"), if_match(),
        **update_options(body),
    )  # fmt: skip
    response = _ok(_memory.dump(updated.memory))[0]
    response.headers["ETag"] = updated.memory.etag
    return response


@bp.get("/<memory_id:memory_id>/history")
@documented({200: Reply("Its versions, oldest first.", HistoryV1Schema)}, errors=[404])
def memory_history(memory_id: str) -> tuple[Response, int]:
    """A memory's kept versions, oldest first: each create and update, with when and what."""
    versions = services().memories.history(current_scope(), memory_id)
    return _ok(schema(VersionSchema, many=True).dump(versions))


@bp.delete("/<memory_id:memory_id>")
@documented({200: Reply("Deleted.", DeletedV1Schema)}, errors=[404, 412], if_match=True)
def delete_memory(memory_id: str) -> tuple[Response, int]:
    """Delete one memory; If-Match guards it."""
    services().memories.delete(current_scope(), memory_id, if_match())
    return _ok({"id": memory_id, "deleted": True})


@bp.delete("")
@documented({200: Reply("How many were deleted.", DeletedAllV1Schema)}, query=DeleteAllQuerySchema)
def delete_all_memories() -> tuple[Response, int]:
    """Delete every memory of the caller's workspace; needs `confirm=true`."""
    query_args(schema(DeleteAllQuerySchema))
    deleted = services().memories.delete_all(current_scope())
    return _ok({"deleted_count": deleted})
