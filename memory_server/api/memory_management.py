"""Surface 2, `/api/v1/memory`: bare memory bodies, `{"data", "pagination"}` lists."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, url_for

from memory_server.api.auth import current_key, current_scope, protect, reads
from memory_server.api.errors import conflict_message
from memory_server.api.http_input import if_match, json_body, query_args
from memory_server.api.http_output import versioned
from memory_server.api.idempotency import created, idempotent
from memory_server.api.openapi_operations import Reply, documented
from memory_server.api.response_schemas import (
    BatchResponseSchema,
    DeletedSchema,
    MemoryListSchema,
    MemorySchema,
    MemoryWithEmbeddingSchema,
    PaginationSchema,
    SearchResponseSchema,
    SearchResultSchema,
    StatsSchema,
    StoredSchema,
    UpdatedSchema,
)
from memory_server.api.schemas import (
    MemoryBatchSchema,
    MemoryCreateSchema,
    MemoryUpdateSchema,
    PageQuerySchema,
    SearchRequestSchema,
    schema,
)
from memory_server.memory_service import NewItem
from memory_server.services import services
from memory_server.storage.memory_store import MemoryExists

bp = Blueprint("memory_management", __name__, url_prefix="/api/v1/memory")
protect(bp)


@bp.post("")
@documented(
    {201: Reply("Stored.", StoredSchema, ("Location", "ETag"))},
    body=MemoryCreateSchema,
    errors=[409],
)
@idempotent
def create_memory() -> tuple[Response, int]:
    """Store a memory, embedding its text unless an `embedding` is given."""
    body = json_body(schema(MemoryCreateSchema))
    stored = services().memories.create(
        current_scope(), body["text"], body.get("metadata"), body.get("id"), body.get("embedding")
    )
    created([stored.memory.id])
    response = jsonify(schema(StoredSchema).dump(stored))
    response.headers["Location"] = url_for(".get_memory", memory_id=stored.memory.id)
    response.headers["ETag"] = stored.memory.etag
    return response, 201


@bp.post("/batch")
@documented(
    {
        201: Reply("Every memory stored.", BatchResponseSchema),
        207: Reply("Some stored, some not (an id was taken): each item says which.",
                   BatchResponseSchema),
    },
    body=MemoryBatchSchema,
)  # fmt: skip
@idempotent
def create_memories() -> tuple[Response, int]:
    """Store up to 100 memories: one embedding pass, one transaction, a result per item."""
    items = [NewItem(**item) for item in json_body(schema(MemoryBatchSchema))["memories"]]
    outcomes = services().memories.create_many(current_scope(), items)
    created(o.memory.id for o in outcomes if not isinstance(o, MemoryExists))
    results = [
        {"index": index, "id": outcome.memory_id, "status": "error", "error": "CONFLICT",
         "message": conflict_message(outcome.memory_id)}
        if isinstance(outcome, MemoryExists)
        else {"index": index, **schema(StoredSchema).dump(outcome)}
        for index, outcome in enumerate(outcomes)
    ]  # fmt: skip
    failed = sum(isinstance(outcome, MemoryExists) for outcome in outcomes)
    body = {"results": results, "stored": len(results) - failed, "failed": failed}
    # 207: some items were stored and some were not; every item says which.
    return jsonify(body), 201 if failed == 0 else 207


@bp.get("")
@documented({200: Reply("A page of memories.", MemoryListSchema)}, query=PageQuerySchema)
def list_memories() -> Response:
    """A page of memories, newest first."""
    query = query_args(schema(PageQuerySchema))
    page = services().memories.list(current_scope(), query["page"], query["limit"])
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
    """Change text and/or metadata; says if it was re-embedded. If-Match guards it."""
    body = json_body(schema(MemoryUpdateSchema))
    updated = services().memories.update(
        current_scope(), memory_id, body.get("text"), body.get("metadata"), if_match()
    )
    response = jsonify(schema(UpdatedSchema).dump(updated))
    response.headers["ETag"] = updated.memory.etag
    return response


@bp.delete("/<memory_id:memory_id>")
@documented({200: Reply("Deleted.", DeletedSchema)}, errors=[404, 412], if_match=True)
def delete_memory(memory_id: str) -> Response:
    """Delete one memory; If-Match guards it."""
    services().memories.delete(current_scope(), memory_id, if_match())
    return jsonify({"success": True, "deleted_id": memory_id})
