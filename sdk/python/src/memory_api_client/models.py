"""Typed results of the client's calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

T = TypeVar("T")


def _known(cls: type[T], data: dict[str, Any]) -> T:
    """`cls` from the fields of `data` it has: a newer server may send fields it does not know."""
    names = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return cls(**{name: value for name, value in data.items() if name in names})


@dataclass(frozen=True)
class Memory:
    """A stored memory; `embedding` and `etag` (its version) are filled by `get` only.

    `expires_at`: when it expires (then it is gone), None if it never does.
    """

    id: str
    text: str
    metadata: dict[str, Any]
    created_at: str
    updated_at: str
    embedding: list[float] | None = None
    etag: str | None = None
    expires_at: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any], etag: str | None = None) -> Memory:
        """Build from the server's JSON (and the ETag header it came with)."""
        return cls(
            id=data["id"],
            text=data["text"],
            metadata=data.get("metadata") or {},
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            embedding=data.get("embedding"),
            etag=etag,
            expires_at=data.get("expires_at"),
        )


@dataclass(frozen=True)
class UpsertResult:
    """What `upsert` did: `status` is "stored" (created), "updated" or "duplicate".

    "duplicate": nothing was stored, a live memory already holds this text and metadata (or
    a vector at least `duplicate_threshold` close); `id` is that memory's, `similarity` 1.0
    for an exact copy, else the vectors' cosine. `expires_at` is the memory's expiry, if any.
    """

    id: str
    status: Literal["stored", "updated", "duplicate"]
    embedding_generated: bool
    vector_dimensions: int | None = None
    tokens_used: int | None = None
    replayed: bool = False  # the first answer to this Idempotency-Key, sent again
    similarity: float | None = None
    expires_at: str | None = None


@dataclass(frozen=True)
class BatchItemResult:
    """One item of `create_many`, by its `index` in the batch.

    `status` "stored" (with the embedding fields), "duplicate" (not stored: `id` is the memory
    already holding it, in the workspace or earlier in the batch, and `similarity` says how
    close), or "error" with `error` (e.g. "CONFLICT": the id is taken) and `message`; such an
    item was not stored.
    """

    index: int
    id: str
    status: Literal["stored", "duplicate", "error"]
    embedding_generated: bool | None = None
    vector_dimensions: int | None = None
    tokens_used: int | None = None
    error: str | None = None
    message: str | None = None
    similarity: float | None = None
    expires_at: str | None = None


@dataclass(frozen=True)
class BatchResult:
    """What `create_many` did: a result per item, in the order sent; `failed` > 0 means 207.

    `duplicates`: how many items were not stored because a memory already held them.
    """

    results: list[BatchItemResult]
    stored: int
    failed: int
    replayed: bool = False  # the first answer to this Idempotency-Key, sent again
    duplicates: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any], replayed: bool = False) -> BatchResult:
        """Build from the server's JSON."""
        return cls(
            [_known(BatchItemResult, item) for item in data["results"]],
            data["stored"],
            data["failed"],
            replayed,
            data.get("duplicates", 0),
        )


@dataclass(frozen=True)
class UpdateResult:
    """What `update` did; `etag` is the memory's new version, `expires_at` its expiry now."""

    id: str
    status: str
    embedding_regenerated: bool
    etag: str | None = None
    expires_at: str | None = None


@dataclass(frozen=True)
class MemoryVersion:
    """One version of a memory, from `history`: `version` 1 is its create, then +1 an update."""

    version: int
    event: Literal["created", "updated"]
    text: str
    metadata: dict[str, Any]
    changed_at: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MemoryVersion:
        """Build from the server's JSON."""
        return _known(cls, data)


@dataclass(frozen=True)
class MemoryPage:
    """One page of memories, newest first."""

    memories: list[Memory]
    page: int
    limit: int
    total: int
    pages: int


@dataclass(frozen=True)
class BestChunk:
    """The chunk of a found memory that matched best: `text` is the memory's `text[start:end]`.

    `index` is its position among the memory's chunks (0 for a memory that is one chunk);
    `start` and `end` count code points, as Python indexes a str, `end` exclusive.
    """

    index: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class SearchResult:
    """A memory found by a search, with its score (see the server's docs/api.md for each mode).

    `best_chunk` is None only from a server older than that field; `expires_at` is None
    for a memory that never expires.
    """

    id: str
    text: str
    metadata: dict[str, Any]
    score: float
    created_at: str
    updated_at: str
    best_chunk: BestChunk | None = None
    expires_at: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchResult:
        """Build from the server's JSON."""
        chunk = data.get("best_chunk")
        return _known(cls, {**data, "best_chunk": chunk and _known(BestChunk, chunk)})


@dataclass(frozen=True)
class SearchResults:
    """Search results, best first."""

    results: list[SearchResult]
    query: str
    total_results: int
    search_time_ms: float


@dataclass(frozen=True)
class Webhook:
    """A registered webhook endpoint; `secret` is set only on the result of `create_webhook`."""

    id: str
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    created_at: str
    updated_at: str
    secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Webhook:
        """Build from the server's JSON."""
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class DeliveryAttempt:
    """One attempt to deliver an event to a webhook endpoint."""

    event_id: str
    event_type: str
    attempt: int
    attempted_at: str
    status_code: int | None
    error: str | None
    duration_ms: float
    outcome: str
    next_retry_at: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeliveryAttempt:
        """Build from the server's JSON."""
        return _known(cls, data)


@dataclass(frozen=True)
class WorkspaceStats:
    """Counts of one workspace; the times are None while it holds no memory."""

    workspace: str
    memories: int
    chunks: int  # the vectors searched: one per chunk of a long memory
    oldest_created_at: str | None
    last_updated_at: str | None


@dataclass(frozen=True)
class OwnerStats:
    """Counts over every workspace of the API key's owner."""

    memories: int
    workspaces: list[WorkspaceStats]


@dataclass(frozen=True)
class MemoryStats(WorkspaceStats):
    """The client's workspace's counts (the inherited fields), and its owner's in `owner`."""

    owner: OwnerStats

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MemoryStats:
        """Build from the server's JSON."""
        owner = data["owner"]
        workspaces = [_known(WorkspaceStats, w) for w in owner["workspaces"]]
        return _known(cls, {**data, "owner": OwnerStats(owner["memories"], workspaces)})
