"""marshmallow schemas of the answers of both REST surfaces: what the views dump and document.

Fields are `required` where the answer always carries them: that only shapes the OpenAPI
document (dumping ignores it), so the contract Schemathesis checks is the strict one.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from memory_server.search.ranking import KEYWORD_WEIGHT
from memory_server.settings import TIERS
from memory_server.webhooks.endpoints import EVENT_TYPES


def _timestamp(**kwargs: Any) -> fields.String:
    """A UTC timestamp as the store writes it, e.g. 2024-01-15T10:30:00.000Z."""
    return fields.String(required=True, metadata={"format": "date-time"}, **kwargs)


def _expires_at(**kwargs: Any) -> fields.String:
    """When the memory expires, or null: it never does."""
    return fields.String(
        required=True,
        allow_none=True,
        metadata={"format": "date-time", "description": "When it expires; null: never."},
        **kwargs,
    )


def _one_of(*values: str) -> fields.String:
    return fields.String(required=True, validate=validate.OneOf(values))


# Memories ------------------------------------------------------------------------------


class MemorySchema(Schema):
    """A memory as both surfaces show it."""

    id = fields.String(required=True)
    text = fields.String(required=True)
    metadata = fields.Dict(required=True)
    created_at = _timestamp()
    updated_at = _timestamp()
    expires_at = _expires_at()


class VersionSchema(Schema):
    """One version in a memory's history."""

    version = fields.Integer(required=True, metadata={"description": "1 for the create, then +1."})
    event = _one_of("created", "updated")
    text = fields.String(required=True)
    metadata = fields.Dict(required=True)
    changed_at = _timestamp()


class HistorySchema(Schema):
    """200 of GET /api/v1/memory/:id/history: the kept versions, oldest first."""

    history = fields.List(fields.Nested(VersionSchema), required=True)


class _Floats(fields.List):
    """A list of floats the store already made (a vector): passed through as it is.

    marshmallow's item-by-item serializing of 384 floats was a third of a GET's time.
    """

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class MemoryWithEmbeddingSchema(MemorySchema):
    """GET /api/v1/memory/:id: the memory and its vector."""

    embedding = _Floats(fields.Float(), required=True)


class BestChunkSchema(Schema):
    """The part of a result's memory that matched best."""

    index = fields.Integer(
        required=True,
        metadata={"description": "Its position among the memory's chunks (0 if it is one)."},
    )
    start = fields.Integer(
        required=True,
        metadata={"description": "Where it starts in the memory's text (Unicode code points)."},
    )
    end = fields.Integer(
        required=True,
        metadata={"description": "Where it ends in the memory's text (exclusive)."},
    )
    text = fields.String(required=True, metadata={"description": "text[start:end]."})


class SearchResultSchema(Schema):
    """One search result: the memory, its score and the chunk that matched best."""

    id = fields.String(attribute="memory.id", required=True)
    text = fields.String(attribute="memory.text", required=True)
    metadata = fields.Dict(attribute="memory.metadata", required=True)
    score = fields.Function(
        lambda result: round(result.score, 6),
        required=True,
        metadata={
            "type": "number",
            "description": "semantic: cosine similarity; hybrid: that cosine plus up to "
            f"{KEYWORD_WEIGHT} for the query's words the memory holds; keyword: BM25 "
            "relevance.",
        },
    )
    created_at = _timestamp(attribute="memory.created_at")
    updated_at = _timestamp(attribute="memory.updated_at")
    expires_at = _expires_at(attribute="memory.expires_at")
    best_chunk = fields.Nested(
        BestChunkSchema,
        required=True,
        metadata={
            "description": "The chunk of a long memory that matched best; the whole text for "
            "a memory short enough to be one chunk."
        },
    )


class PaginationV1Schema(Schema):
    """`pagination` of GET /v1/memories."""

    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    total_pages = fields.Integer(required=True)


class PaginationSchema(Schema):
    """`pagination` of GET /api/v1/memory."""

    page = fields.Integer(required=True)
    limit = fields.Integer(attribute="per_page", required=True)
    total = fields.Integer(required=True)
    pages = fields.Integer(attribute="total_pages", required=True)


class StoredSchema(Schema):
    """201 of POST /api/v1/memory."""

    id = fields.String(attribute="memory.id", required=True)
    status = fields.Constant("stored", required=True)
    embedding_generated = fields.Boolean(required=True)
    vector_dimensions = fields.Integer(required=True)
    tokens_used = fields.Integer(required=True)
    expires_at = _expires_at(attribute="memory.expires_at")


class DuplicateSchema(Schema):
    """200 of POST /api/v1/memory when nothing was stored: the memory that already holds it."""

    id = fields.String(
        attribute="memory.id",
        required=True,
        metadata={"description": "The existing memory's id."},
    )
    status = fields.Constant("duplicate", required=True)
    similarity = fields.Float(
        required=True,
        metadata={"description": "1.0: the same text and metadata; else the vectors' cosine."},
    )
    embedding_generated = fields.Constant(False, required=True)
    vector_dimensions = fields.Integer(required=True)
    tokens_used = fields.Integer(
        required=True,
        metadata={"description": "Tokens embedded to check for a near duplicate (else 0)."},
    )
    expires_at = _expires_at(attribute="memory.expires_at")


class UpdatedSchema(Schema):
    """200 of PUT /api/v1/memory/:id."""

    id = fields.String(attribute="memory.id", required=True)
    status = fields.Constant("updated", required=True)
    embedding_regenerated = fields.Boolean(required=True)
    expires_at = _expires_at(attribute="memory.expires_at")


class MemoryListSchema(Schema):
    """200 of GET /api/v1/memory."""

    memories = fields.List(fields.Nested(MemorySchema), required=True)
    pagination = fields.Nested(PaginationSchema, required=True)


class SearchResponseSchema(Schema):
    """200 of POST /api/v1/memory/search."""

    results = fields.List(fields.Nested(SearchResultSchema), required=True)
    query = fields.String(required=True)
    total_results = fields.Integer(required=True)
    search_time_ms = fields.Float(required=True)


class BatchItemSchema(Schema):
    """One item of POST /api/v1/memory/batch: stored (with StoredSchema's fields) or not."""

    index = fields.Integer(required=True)
    id = fields.String(
        required=True, metadata={"description": "For a duplicate: the existing memory's id."}
    )
    status = _one_of("stored", "duplicate", "error")
    similarity = fields.Float(metadata={"description": "A duplicate's similarity (1.0: exact)."})
    embedding_generated = fields.Boolean()
    vector_dimensions = fields.Integer()
    tokens_used = fields.Integer()
    expires_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    error = fields.String(metadata={"description": "CONFLICT: the id is taken."})
    message = fields.String()


class BatchResponseSchema(Schema):
    """200, 201 or 207 of POST /api/v1/memory/batch."""

    results = fields.List(fields.Nested(BatchItemSchema), required=True)
    stored = fields.Integer(required=True)
    duplicates = fields.Integer(required=True)
    failed = fields.Integer(required=True)


class DeletedSchema(Schema):
    """200 of DELETE /api/v1/memory/:id and /api/v1/webhooks/:id."""

    success = fields.Constant(True, required=True)
    deleted_id = fields.String(required=True)


class DeletedCountSchema(Schema):
    """200 of POST /api/v1/memory/bulk/delete (the LanOnasis client's bulk delete)."""

    deleted_count = fields.Integer(required=True)
    failed_ids = fields.List(
        fields.String(), required=True, metadata={"description": "Ids not found: not deleted."}
    )


class TopicSchema(Schema):
    """A topic, as LanOnasis' client reads it (its MemoryTopic)."""

    id = fields.String(required=True, metadata={"description": "A UUID."})
    name = fields.String(required=True)
    description = fields.String()
    color = fields.String(metadata={"description": "#RRGGBB."})
    icon = fields.String()
    parent_topic_id = fields.String()
    user_id = fields.String(required=True, metadata={"description": "The key's owner."})
    is_system = fields.Boolean(required=True)
    metadata = fields.Dict(required=True)
    created_at = _timestamp()
    updated_at = _timestamp()


class TopicWithMemoriesSchema(Schema):
    """200 of GET /api/v1/topics/:id/memories."""

    topic = fields.Nested(TopicSchema, required=True)
    memories = fields.List(
        fields.Dict(), required=True, metadata={"description": "The client's MemoryEntry each."}
    )
    total_memories = fields.Integer(required=True)
    subtopics = fields.List(fields.Nested(TopicSchema), required=True)


class TopicNodeSchema(TopicSchema):
    """A topic of GET /api/v1/topics; with include_hierarchy=true, its subtopics and count."""

    children = fields.List(
        fields.Nested(lambda: TopicNodeSchema()),
        metadata={"description": "Its subtopics (include_hierarchy=true)."},
    )
    memory_count = fields.Integer(
        metadata={"description": "How many memories name it (include_hierarchy=true)."}
    )


# GET /api/v1/topics answers a bare array, as the client reads it (openapi_spec.py registers
# the component).
TOPIC_LIST = {"type": "array", "items": {"$ref": "#/components/schemas/TopicNode"}}


class WorkspaceStatsSchema(Schema):
    """Counts of one workspace."""

    workspace = fields.String(required=True)
    memories = fields.Integer(required=True)
    chunks = fields.Integer(required=True)
    oldest_created_at = fields.String(required=True, allow_none=True)
    last_updated_at = fields.String(required=True, allow_none=True)


class OwnerStatsSchema(Schema):
    """Counts over every workspace of the key's owner (that the key may use)."""

    memories = fields.Integer(required=True)
    workspaces = fields.List(fields.Nested(WorkspaceStatsSchema), required=True)


class StatsSchema(WorkspaceStatsSchema):
    """200 of GET /api/v1/memory/stats: this workspace, and the owner's workspaces."""

    owner = fields.Nested(OwnerStatsSchema, required=True)


# The /v1 envelope ----------------------------------------------------------------------


class _EnvelopeV1(Schema):
    success = fields.Constant(True, required=True)


class MemoryV1Schema(_EnvelopeV1):
    """One memory in the /v1 envelope."""

    data = fields.Nested(MemorySchema, required=True)


class DuplicateV1Schema(MemoryV1Schema):
    """200 of POST /v1/memories when nothing was stored: `data` is the memory holding it."""

    duplicate = fields.Constant(True, required=True)
    similarity = fields.Float(
        required=True,
        metadata={"description": "1.0: the same text and metadata; else the vectors' cosine."},
    )


class HistoryV1Schema(_EnvelopeV1):
    """200 of GET /v1/memories/:id/history: the kept versions, oldest first."""

    data = fields.List(fields.Nested(VersionSchema), required=True)


class MemoryPageV1Schema(_EnvelopeV1):
    """200 of GET /v1/memories."""

    data = fields.List(fields.Nested(MemorySchema), required=True)
    pagination = fields.Nested(PaginationV1Schema, required=True)


class SearchResultsV1Schema(_EnvelopeV1):
    """200 of POST /v1/memories/search."""

    data = fields.List(fields.Nested(SearchResultSchema), required=True)


class BatchItemV1Schema(Schema):
    """One item of POST /v1/memories/batch: the stored memory, or why it was not stored."""

    index = fields.Integer(required=True)
    status = _one_of("stored", "duplicate", "error")
    memory = fields.Nested(
        MemorySchema, metadata={"description": "The stored memory, or for a duplicate the one "
                                "already holding it."}
    )  # fmt: skip
    similarity = fields.Float(metadata={"description": "A duplicate's similarity (1.0: exact)."})
    error = fields.String(metadata={"description": "CONFLICT: the id is taken."})
    message = fields.String()


class BatchV1Schema(_EnvelopeV1):
    """200, 201 or 207 of POST /v1/memories/batch."""

    data = fields.List(fields.Nested(BatchItemV1Schema), required=True)


class _DeletedV1Data(Schema):
    id = fields.String(required=True)
    deleted = fields.Constant(True, required=True)


class DeletedV1Schema(_EnvelopeV1):
    """200 of DELETE /v1/memories/:id."""

    data = fields.Nested(_DeletedV1Data, required=True)


class _DeletedAllV1Data(Schema):
    deleted_count = fields.Integer(required=True)


class DeletedAllV1Schema(_EnvelopeV1):
    """200 of DELETE /v1/memories?confirm=true."""

    data = fields.Nested(_DeletedAllV1Data, required=True)


# Keys ----------------------------------------------------------------------------------


class KeyInfoSchema(Schema):
    """The calling API key, without its secret."""

    id = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)
    tier = _one_of(*TIERS)
    owner = fields.String(required=True)
    read_only = fields.Boolean(
        required=True, metadata={"description": "true: it may read, list and search only."}
    )
    workspaces = fields.List(
        fields.String(),
        required=True,
        allow_none=True,
        metadata={"description": "The only workspaces it may use; null: every one of its owner."},
    )
    workspace = fields.String(
        required=True, metadata={"description": "The workspace this request works in."}
    )
    created_at = _timestamp()
    expires_at = fields.String(
        required=True,
        allow_none=True,
        metadata={"format": "date-time", "description": "When it stops working; null: never."},
    )


class KeyInfoV1Schema(_EnvelopeV1):
    """200 of GET /v1/key."""

    data = fields.Nested(KeyInfoSchema, required=True)


# Webhooks ------------------------------------------------------------------------------


class WebhookSchema(Schema):
    """A webhook endpoint (its secret appears only in the 201 of its creation)."""

    id = fields.String(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(validate=validate.OneOf(EVENT_TYPES)), required=True)
    description = fields.String(required=True, allow_none=True)
    enabled = fields.Boolean(required=True)
    disabled_reason = fields.String(required=True, allow_none=True)
    created_at = _timestamp()
    updated_at = _timestamp()


class WebhookCreatedSchema(WebhookSchema):
    """201 of POST /api/v1/webhooks: the endpoint and its signing secret, shown only here."""

    secret = fields.String(
        required=True, metadata={"description": "`whsec_...`: verifies the signatures."}
    )


class WebhookListSchema(Schema):
    """200 of GET /api/v1/webhooks."""

    webhooks = fields.List(fields.Nested(WebhookSchema), required=True)


class DeliveryAttemptSchema(Schema):
    """One attempt in a webhook's delivery log."""

    event_id = fields.String(required=True)
    event_type = fields.String(required=True)
    attempt = fields.Integer(required=True)
    attempted_at = _timestamp()
    status_code = fields.Integer(required=True, allow_none=True)
    error = fields.String(required=True, allow_none=True)
    duration_ms = fields.Float(required=True)
    outcome = _one_of("delivered", "retrying", "failed")
    next_retry_at = fields.String(required=True, allow_none=True)


class DeliveryListSchema(Schema):
    """200 of GET /api/v1/webhooks/:id/deliveries."""

    deliveries = fields.List(fields.Nested(DeliveryAttemptSchema), required=True)


# Service -------------------------------------------------------------------------------


class _DatabaseHealthSchema(Schema):
    ready = fields.Boolean(required=True)
    schema_version = fields.Integer()
    free_bytes = fields.Integer(metadata={"description": "Free space on its disk."})
    used_bytes = fields.Integer(metadata={"description": "The file and its WAL."})
    max_bytes = fields.Integer(
        allow_none=True, metadata={"description": "MEMORY_API_MAX_DATABASE_BYTES, if set."}
    )
    error = fields.String()


class _ModelHealthSchema(Schema):
    ready = fields.Boolean(required=True)
    name = fields.String(required=True)
    backend = fields.String(required=True)
    dimension = fields.Integer(required=True, allow_none=True)
    error = fields.String()


class HealthSchema(Schema):
    """200 or 503 of GET /health."""

    status = _one_of("ok", "unavailable")
    timestamp = _timestamp()
    database = fields.Nested(_DatabaseHealthSchema, required=True)
    model = fields.Nested(_ModelHealthSchema, required=True)


class ErrorSchema(Schema):
    """The one error body of both surfaces."""

    error = fields.String(
        required=True, metadata={"description": "A stable code, e.g. INVALID_REQUEST."}
    )
    message = fields.String(required=True, metadata={"description": "What went wrong."})
    details = fields.Dict(
        metadata={"description": "Which fields (`fields`, `missing_fields`) or header."}
    )
    retry_after = fields.Integer(
        metadata={"description": "On 429 and on 503 EMBEDDING_BUSY: seconds to wait."}
    )


class ErrorV1Schema(ErrorSchema):
    """The error body on /v1: the same, with `success: false`."""

    success = fields.Constant(False, required=True)
