"""Surface 2, `/api/v1/memory`: bare memory bodies, `{"data", "pagination"}` lists."""

from __future__ import annotations

from collections import Counter
from typing import Any

from flask import Blueprint, Response, jsonify, url_for

from memory_server.api.auth import current_key, current_scope, protect, reads
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
from memory_server.api.lanonasis import answer_in_its_dialect
from memory_server.api.openapi_operations import Reply, documented
from memory_server.api.response_schemas import (
    BatchResponseSchema,
    DeletedSchema,
    DuplicateSchema,
    HistorySchema,
    MemoryListSchema,
    MemorySchema,
    MemoryWithEmbeddingSchema,
    PaginationSchema,
    SearchResponseSchema,
    SearchResultSchema,
    StatsSchema,
    StoredSchema,
    UpdatedSchema,
    VersionSchema,
)
from memory_server.api.schemas import (
    MemoryBatchSchema,
    MemoryCreateSchema,
    MemoryUpdateSchema,
    PageQuerySchema,
    SearchRequestSchema,
    schema,
)
from memory_server.memory_service import Created, Duplicated, NewItem
from memory_server.services import services
from memory_server.storage.memory_store import MemoryExists

bp = Blueprint("memory_management", __name__, url_prefix="/api/v1/memory")
protect(bp)
# After authentication and the workspace: the LanOnasis client's requests get its shapes.
bp.before_request(answer_in_its_dialect)


@bp.post("")
@documented(
    {
        201: Reply("Stored.", StoredSchema, ("Location", "ETag")),
        200: Reply("A duplicate: nothing stored; the memory already holding it.",
                   DuplicateSchema, ("Location", "ETag")),
    },
    body=MemoryCreateSchema,
    errors=[409],
)  # fmt: skip
@idempotent
def create_memory() -> tuple[Response, int]:
    """Store a memory, embedding its text unless an `embedding` is given.

    A memory with the same text and metadata already in the workspace is not stored again
    (200, status duplicate) unless `on_duplicate` is allow.
    """
    body = json_body(schema(MemoryCreateSchema))
    outcome = services().memories.create(
        current_scope(), body["text"], body.get("metadata"), body.get("id"), body.get("embedding"),
        **create_options(body),
    )  # fmt: skip
    created([outcome.memory.id])
    duplicate = isinstance(outcome, Duplicated)
    response = jsonify(schema(DuplicateSchema if duplicate else StoredSchema).dump(outcome))
    response.headers["Location"] = url_for(".get_memory", memory_id=outcome.memory.id)
    response.headers["ETag"] = outcome.memory.etag
    return response, 200 if duplicate else 201


@bp.post("/batch")
@documented(
    {
        201: Reply("Every memory stored or a duplicate, at least one stored.",
                   BatchResponseSchema),
        200: Reply("Every memory a duplicate: nothing stored.", BatchResponseSchema),
        207: Reply("Some not stored because an id was taken: each item says which.",
                   BatchResponseSchema),
    },
    body=MemoryBatchSchema,
)  # fmt: skip
@idempotent
def create_memories() -> tuple[Response, int]:
    """Store up to 100 memories: one embedding pass, one transaction, a result per item.

    Items are deduplicated against the workspace and each other (status duplicate).
    """
    body = json_body(schema(MemoryBatchSchema))
    defaults = create_options(body)
    items = [NewItem(**{**defaults, **item}) for item in body["memories"]]
    outcomes = services().memories.create_many(current_scope(), items)
    created(o.memory.id for o in outcomes if not isinstance(o, MemoryExists))
    results = [_batch_item(index, outcome) for index, outcome in enumerate(outcomes)]
    counts = Counter(result["status"] for result in results)
    reply = {
        "results": results,
        "stored": counts["stored"],
        "duplicates": counts["duplicate"],
        "failed": counts["error"],
    }
    return jsonify(reply), batch_status(counts["stored"], counts["error"])


def _batch_item(index: int, outcome: Created | Duplicated | MemoryExists) -> dict[str, Any]:
    if isinstance(outcome, MemoryExists):
        return {"index": index, "id": outcome.memory_id, "status": "error", "error": "CONFLICT",
                "message": conflict_message(outcome.memory_id)}  # fmt: skip
    if isinstance(outcome, Duplicated):
        return {"index": index, **schema(DuplicateSchema).dump(outcome)}
    return {"index": index, **schema(StoredSchema).dump(outcome)}


@bp.get("")
@documented({200: Reply("A page of memories.", MemoryListSchema)}, query=PageQuerySchema)
def list_memories() -> Response:
    """A page of memories, newest first; `filters` (JSON, as in search) narrows it."""
    query = query_args(schema(PageQuerySchema))
    page = services().memories.list(
        current_scope(), query["page"], query["limit"], filters=query.get("filters")
    )
    return jsonify(
        {
            "memories": schema(MemorySchema, many=True).dump(page.items),
            "pagination": schema(PaginationSchema).dump(page),
        }
    )


@bp.post("/search")
@reads  # a search changes nothing: a read-only key may send it
@documented(
    {200: Reply("The matches, best first.", SearchResponseSchema)}, body=SearchRequestSchema
)
def search_memories() -> Response:
    """Memories ranked by meaning, words or both, best first."""
    body = json_body(schema(SearchRequestSchema))
    found = services().memories.search(current_scope(), **body)
    return jsonify(
        {
            "results": schema(SearchResultSchema, many=True).dump(found.results),
            "query": found.query,
            "total_results": len(found.results),
            "search_time_ms": found.search_time_ms,
        }
    )


@bp.get("/stats")
@documented({200: Reply("The caller's counts.", StatsSchema)})
def memory_stats() -> Response:
    """The caller's own counts: this workspace, and each workspace of the owner the key may use."""
    return jsonify(services().memories.stats(current_scope(), current_key().workspaces))


@bp.get("/<memory_id:memory_id>")
@documented(
    {200: Reply("The memory and its vector.", MemoryWithEmbeddingSchema, ("ETag",))},
    errors=[404],
    conditional=True,
)
def get_memory(memory_id: str) -> Response:
    """One memory with its embedding; `ETag` is its version, for If-Match on PUT and DELETE."""
    memory = services().memories.get(current_scope(), memory_id, with_embedding=True)
    return versioned(jsonify(schema(MemoryWithEmbeddingSchema).dump(memory)), memory)


@bp.put("/<memory_id:memory_id>")
@documented(
    {200: Reply("Updated.", UpdatedSchema, ("ETag",))},
    body=MemoryUpdateSchema,
    errors=[404, 412],
    if_match=True,
)
def update_memory(memory_id: str) -> Response:
    """Change text, metadata and/or expiry; says if it was re-embedded. If-Match guards it."""
    body = json_body(schema(MemoryUpdateSchema))
    updated = services().memories.update(
        current_scope(), memory_id, body.get("text"), body.get("metadata"), if_match(),
        **update_options(body),
    )  # fmt: skip
    response = jsonify(schema(UpdatedSchema).dump(updated))
    response.headers["ETag"] = updated.memory.etag
    return response


@bp.get("/<memory_id:memory_id>/history")
@documented({200: Reply("Its versions, oldest first.", HistorySchema)}, errors=[404])
def memory_history(memory_id: str) -> Response:
    """A memory's kept versions, oldest first: each create and update, with when and what."""
    versions = services().memories.history(current_scope(), memory_id)
    return jsonify({"history": schema(VersionSchema, many=True).dump(versions)})


@bp.delete("/<memory_id:memory_id>")
@documented({200: Reply("Deleted.", DeletedSchema)}, errors=[404, 412], if_match=True)
def delete_memory(memory_id: str) -> Response:
    """Delete one memory; If-Match guards it."""
    services().memories.delete(current_scope(), memory_id, if_match())
    return jsonify({"success": True, "deleted_id": memory_id})
