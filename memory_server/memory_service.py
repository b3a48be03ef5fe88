"""The one service layer: what creating, reading, changing and deleting a memory means."""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from memory_server.embedding.model import INT8_SUFFIX, Embedder
from memory_server.scope import Scope
from memory_server.search.best_chunk import BestChunks
from memory_server.search.filters import Filters
from memory_server.search.ranking import Mode, ScoredMemory, SearchIndex
from memory_server.storage.contexts import ContextStore
from memory_server.storage.history import Version
from memory_server.storage.memory_store import (
    KEEP,
    Duplicate,
    EmbeddingModelMismatch,
    ImportedMemory,
    Memory,
    MemoryExists,
    MemoryStore,
    NewMemory,
    TextChanged,
)
from memory_server.storage.stats import owner_stats
from memory_server.webhooks import events as memory_events

# Context vectors computed per idle turn of the model: a request arriving meanwhile waits
# for at most this many short texts' encode (~10-70 ms: storage/contexts.py CONTEXT_CHARS).
CONTEXT_BATCH = 2


class InvalidEmbedding(ValueError):
    """A client-supplied embedding cannot be stored (`index`: which item of a batch)."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class HistoryOff(LookupError):
    """History is turned off on this server (MEMORY_API_HISTORY_VERSIONS=0)."""


# Memories written per transaction by an import (one embedding pass for those without vectors).
IMPORT_BATCH = 100


class StartupError(RuntimeError):
    """The server cannot serve with this configuration; the message says what to do."""


@dataclass(frozen=True)
class Created:
    """A stored memory and what storing it cost."""

    memory: Memory
    embedding_generated: bool
    vector_dimensions: int
    tokens_used: int


@dataclass(frozen=True)
class Duplicated:
    """A create that stored nothing: `memory` already holds it (`similarity` 1.0: exactly).

    `tokens_used` is what embedding the text cost when a near-duplicate check needed it.
    """

    memory: Memory
    similarity: float
    vector_dimensions: int
    tokens_used: int = 0


@dataclass(frozen=True)
class Updated:
    """An updated memory and whether its vector was recomputed."""

    memory: Memory
    embedding_regenerated: bool
    tokens_used: int


@dataclass(frozen=True)
class SearchResults:
    """Memories ranked for a query, best first, and how long the search took."""

    query: str
    results: list[ScoredMemory]
    search_time_ms: float


@dataclass(frozen=True)
class Page:
    """One page of a scope's memories, newest first."""

    items: list[Memory]
    page: int
    per_page: int
    total: int

    @property
    def total_pages(self) -> int:
        """How many pages of this size the scope fills."""
        return math.ceil(self.total / self.per_page)


def new_memory_id() -> str:
    """A fresh random memory id."""
    return f"mem_{secrets.token_hex(12)}"


def content_hash(text: str) -> str:
    """Fingerprint of a text, so unchanged text is never embedded again."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewItem:
    """One memory of a create or a batch: its text, and what the client may add to it."""

    text: str
    metadata: dict[str, Any] | None = None
    id: str | None = None
    embedding: Sequence[float] | None = None
    expires_at: str | None = None
    # "skip": store nothing when a live memory of the workspace holds the same text and
    # metadata (or, with a threshold, a vector at least that cosine-similar); "allow": copy.
    on_duplicate: str = "skip"
    duplicate_threshold: float | None = None


class MemoryService:
    """Memories of one database, embedded with one model."""

    def __init__(
        self,
        store: MemoryStore,
        embedder: Embedder,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.index = SearchIndex(store)
        self.contexts = ContextStore(store.db)
        self.embedder = embedder
        self.best_chunks = BestChunks(embedder.chunk_spans)
        # Called after each committed change, e.g. to wake the webhook dispatcher at once.
        self.on_change = on_change or (lambda: None)
        self._prepared = False
        self._prepare_lock = threading.Lock()

    @property
    def ready(self) -> bool:
        """Whether the model is loaded and matches the database."""
        return self._prepared

    def prepare(self) -> None:
        """Load the model and check it against the database's vectors (once per process)."""
        if self._prepared:
            return
        with self._prepare_lock:
            if self._prepared:
                return
            self.embedder.load()
            try:
                self.store.bind_embedding_model(self.embedder.identity, self.embedder.dimension)
            except EmbeddingModelMismatch as exc:
                raise StartupError(_mismatch(self, exc)) from exc
            self._prepared = True

    def create(
        self,
        scope: Scope,
        text: str,
        metadata: dict[str, Any] | None = None,
        memory_id: str | None = None,
        embedding: Sequence[float] | None = None,
        **options: Any,
    ) -> Created | Duplicated:
        """Store a memory, embedding every chunk of its text unless the client sent a vector.

        `options`: NewItem's expires_at, on_duplicate and duplicate_threshold.
        """
        item = NewItem(text, metadata, memory_id, embedding, **options)
        try:
            [outcome] = self.create_many(scope, [item])
        except InvalidEmbedding as exc:
            raise InvalidEmbedding(str(exc)) from exc  # a single create has no item index
        if isinstance(outcome, MemoryExists):
            raise outcome
        return outcome

    def create_many(
        self, scope: Scope, items: Sequence[NewItem]
    ) -> list[Created | Duplicated | MemoryExists]:
        """Store a batch in one transaction, embedding every text that needs it in one pass.

        An item whose id is taken comes back as MemoryExists while the others are stored;
        one that duplicates a stored memory (or an earlier item) as Duplicated.
        """
        self.prepare()
        # Every client vector is checked first: a bad one refuses the request, duplicate or not.
        client_vectors: dict[int, np.ndarray] = {}
        for index, item in enumerate(items):
            if item.embedding is not None:
                try:
                    client_vectors[index] = self._client_vector(item.embedding)[np.newaxis]
                except InvalidEmbedding as exc:
                    raise InvalidEmbedding(str(exc), index) from exc
        outcomes: dict[int, Created | Duplicated | MemoryExists] = {}
        for index, item in enumerate(items):
            # An exact duplicate found now costs no embedding; the write checks again.
            found = self._exact_duplicate(scope, item)
            if found is not None:
                outcomes[index] = Duplicated(found.memory, 1.0, self.store.dimension or 0)
        pending = [index for index in range(len(items)) if index not in outcomes]
        stored = self._store(
            scope, [items[index] for index in pending], [client_vectors.get(i) for i in pending]
        )
        outcomes.update(zip(pending, stored, strict=True))
        return [outcomes[index] for index in range(len(items))]

    def _exact_duplicate(self, scope: Scope, item: NewItem) -> Duplicate | None:
        if item.on_duplicate == "allow":
            return None
        probe = NewMemory(item.id or "", item.text, item.metadata or {}, content_hash(item.text),
                          None)  # fmt: skip
        return self.store.find_duplicate(scope, probe)

    def _store(
        self, scope: Scope, items: Sequence[NewItem], vectors: list[np.ndarray | None]
    ) -> list[Created | Duplicated | MemoryExists]:
        """Embed what has no vector yet, then write them all in one transaction."""
        if not items:
            return []
        tokens = [0] * len(items)
        to_embed = [index for index, vector in enumerate(vectors) if vector is None]
        documents = self.embedder.embed_documents(
            [items[index].text for index in to_embed], scope.owner
        )
        for index, embedded in zip(to_embed, documents, strict=True):
            vectors[index], tokens[index] = embedded.vectors, sum(embedded.token_counts)
        new = [
            NewMemory(
                item.id or new_memory_id(),
                item.text,
                item.metadata or {},
                content_hash(item.text),
                vectors[index],
                item.expires_at,
                skip_duplicates=item.on_duplicate != "allow",
                duplicate_threshold=item.duplicate_threshold,
            )
            for index, item in enumerate(items)
        ]
        computed = {
            memory.id: self._computed(memory.vectors, tokens[index])
            for index, memory in enumerate(new)
            if index in to_embed
        }
        stored = self.store.insert_many(
            scope,
            new,
            events=lambda m: memory_events.created(m, computed.get(m.id)),
            expired_events=memory_events.expired,
        )
        self.on_change()
        results: list[Created | Duplicated | MemoryExists] = []
        for index, result in enumerate(stored):
            dimensions = new[index].vectors.shape[1]
            if isinstance(result, Duplicate):
                results.append(
                    Duplicated(result.memory, result.similarity, dimensions, tokens[index])
                )
            elif isinstance(result, MemoryExists):
                results.append(result)
            else:
                results.append(Created(result, index in to_embed, dimensions, tokens[index]))
        return results

    def get(self, scope: Scope, memory_id: str, with_embedding: bool = False) -> Memory:
        """One memory of the scope."""
        if with_embedding:
            self.prepare()
        return self.store.get(scope, memory_id, with_embedding=with_embedding)

    def list(
        self,
        scope: Scope,
        page: int,
        per_page: int,
        filters: Filters | None = None,
        order: str = "created_at desc",
    ) -> Page:
        """A page of the scope's memories (those matching `filters`), newest first by default."""
        items, total = self.store.page(
            scope, limit=per_page, offset=(page - 1) * per_page, filters=filters, order=order
        )
        return Page(items, page, per_page, total)

    def window(
        self, scope: Scope, offset: int, limit: int, filters: Filters | None = None
    ) -> tuple[list[Memory], int]:
        """Up to `limit` matching memories from `offset`, newest first, and how many match."""
        return self.store.page(scope, limit=limit, offset=offset, filters=filters)

    def update(
        self,
        scope: Scope,
        memory_id: str,
        text: str | None = None,
        metadata: dict[str, Any] | None = None,
        if_match: Sequence[str] | None = None,
        expires_at: str | None = KEEP,
    ) -> Updated:
        """Replace text, metadata and/or expiry; re-embed only when the text really changed.

        `if_match`: the versions (ETags) the change may apply to, or `*`; else
        PreconditionFailed and nothing changes. `expires_at`: None clears it, KEEP keeps it.
        """
        self.prepare()
        new_hash = None if text is None else content_hash(text)
        # First try: skip the embedding if the stored text is this text already. The store
        # checks that again inside its write transaction; if another writer changed the text
        # in between, the second try embeds it whatever is stored.
        for skip_unchanged in (True, False):
            vectors, tokens = None, 0
            if text is not None:
                unchanged = new_hash == self.store.get(scope, memory_id).content_hash
                if not (skip_unchanged and unchanged):
                    embedded = self.embedder.embed_document(text, scope.owner)
                    vectors, tokens = embedded.vectors, sum(embedded.token_counts)
            computed = None if vectors is None else self._computed(vectors, tokens)
            try:
                memory = self.store.update(
                    scope, memory_id, text, metadata, new_hash, vectors,
                    events=lambda stored, computed=computed: memory_events.updated(
                        stored, computed
                    ),
                    if_match=if_match, expires_at=expires_at,
                )  # fmt: skip
            except TextChanged:
                continue
            self.on_change()
            return Updated(memory, vectors is not None, tokens)
        raise AssertionError("unreachable: the second try always has vectors")

    def search(
        self,
        scope: Scope,
        query: str,
        limit: int = 10,
        threshold: float | None = None,
        mode: Mode = "hybrid",
        filters: Filters | None = None,
    ) -> SearchResults:
        """The scope's memories that best match the query (see SearchIndex for the modes)."""
        started = time.perf_counter()
        vector = None
        if mode != "keyword":
            self.prepare()
            vector = self.embedder.embed_query(query, scope.owner)
        ranked = self.index.search(
            scope, mode, query, vector, limit, filters or Filters(), threshold
        )
        results = [self.best_chunks.attach(result, query, scope.owner) for result in ranked]
        took = round((time.perf_counter() - started) * 1000, 2)
        return SearchResults(query, results, took)

    def export(
        self, owner: str | None, workspace: str | None, with_embeddings: bool
    ) -> Iterator[dict[str, Any]]:
        """Every memory as a JSON-ready record; chunk vectors and their model if asked."""
        if with_embeddings:
            self.prepare()  # binds the model: the vectors are known to be this model's
        for record in self.store.export(owner, workspace, with_embeddings):
            if with_embeddings:
                record["embedding_model"] = self.embedder.identity
            yield record

    @contextmanager
    def bulk_import(self) -> Iterator[None]:
        """Around a whole import (many `import_records` calls): indexes may build at the end."""
        self.prepare()
        with self.store.vectors.bulk_loading(self.store.db):
            yield

    def import_all(
        self,
        records: Iterable[dict[str, Any]],
        totals: Counter[str],
        progress: Callable[[int], None] = lambda done: None,
    ) -> None:
        """Import records in batches of IMPORT_BATCH, inside one bulk import.

        `totals` counts the outcomes as batches land (`import_records`' keys) and `progress`
        hears how many are done. If reading a record fails, the ones read before it are
        imported first, then the error goes on: whatever a message says is in, is in.
        """
        with self.bulk_import():
            batch: list[dict[str, Any]] = []

            def land() -> None:
                totals.update(self.import_records(batch))
                batch.clear()
                progress(sum(totals[k] for k in ("created", "updated", "unchanged")))

            reading = iter(records)
            while True:
                try:
                    record = next(reading)
                except StopIteration:
                    break
                except Exception:
                    if batch:
                        land()
                    raise
                batch.append(record)
                if len(batch) == IMPORT_BATCH:
                    land()
            if batch:
                land()

    def import_records(self, records: list[dict[str, Any]]) -> dict[str, int]:
        """Store exported memories as they were (ids, texts, metadata, timestamps).

        Running it twice changes nothing the second time. Records already in the database
        exactly are skipped; the others use their vectors when they come from this model,
        and are embedded (in one pass) when they have none or another model's.
        """
        self.prepare()
        items = [
            ImportedMemory(
                Scope(r["owner"], r["workspace"]),
                NewMemory(r["id"], r["text"], r.get("metadata") or {}, content_hash(r["text"]),
                          None, r.get("expires_at")),
                r["created_at"], r["updated_at"],
            )
            for r in records
        ]  # fmt: skip
        same = self.store.unchanged(items)
        changed = [index for index in range(len(items)) if index not in same]
        vectors: dict[int, np.ndarray] = {}
        for index in changed:
            found = records[index].get("embeddings")
            ours = records[index].get("embedding_model") == self.embedder.identity
            if ours and found and all(len(v) == self.store.dimension for v in found):
                vectors[index] = np.asarray(found, dtype=np.float32)
        to_embed = [index for index in changed if index not in vectors]
        documents = self.embedder.embed_documents([items[i].memory.text for i in to_embed])
        vectors.update((i, doc.vectors) for i, doc in zip(to_embed, documents, strict=True))
        outcomes = self.store.import_many(
            [
                replace(items[i], memory=replace(items[i].memory, vectors=vectors[i]))
                for i in changed
            ]
        )
        return {
            "created": outcomes.count("created"),
            "updated": outcomes.count("updated"),
            "unchanged": len(same),
            "embedded": len(to_embed),
        }

    def history(self, scope: Scope, memory_id: str) -> list[Version]:
        """The kept versions of one memory, oldest first (HistoryOff if history is off)."""
        if self.store.history_versions == 0:
            raise HistoryOff()
        return self.store.history(scope, memory_id)

    def purge_expired(self) -> int:
        """Delete the memories whose expiry has passed, each with a memory.expired event."""
        self.prepare()  # the vector index must be open, or purged memories leave vectors
        purged = self.store.purge_expired(events=memory_events.expired)
        if purged:
            self.on_change()
        return purged

    def contextualize(self, limit: int = CONTEXT_BATCH) -> int | None:
        """Compute due context vectors in one idle turn of the model: how many (None: busy)."""
        self.prepare()
        if not self.embedder.turns.idle():  # claim nothing while requests use the model
            return None
        jobs = self.contexts.claim(limit)
        texts = [job.context_text for job in jobs if job.context_text is not None]
        encoded = iter([])
        if texts:
            # The database work is done outside the model's turn: a request never waits
            # for the model while this waits for the database.
            with self.embedder.when_idle() as encode:
                if encode is None:
                    self.contexts.release(jobs)
                    return None
                encoded = iter(encode(texts))
        vectors = [None if job.context_text is None else next(encoded) for job in jobs]
        self.contexts.save(jobs, vectors, self.store.vectors.check_model)
        return len(jobs)

    def stats(self, scope: Scope, workspaces: Sequence[str] | None = None) -> dict[str, Any]:
        """The caller's own counts: this workspace and every workspace of its owner.

        `workspaces`: only those (the ones its key may use).
        """
        return owner_stats(self.store.db, scope, workspaces)

    def delete(self, scope: Scope, memory_id: str, if_match: Sequence[str] | None = None) -> None:
        """Delete one memory of the scope (only at one of the versions `if_match` names)."""
        self.store.delete(scope, memory_id, events=self._deleted_events(scope), if_match=if_match)
        self.on_change()

    def delete_all(self, scope: Scope) -> int:
        """Delete every memory of the scope; return how many."""
        deleted = self.store.delete_all(scope, events=self._deleted_events(scope))
        self.on_change()
        return deleted

    def _computed(self, vectors: np.ndarray, tokens: int) -> dict[str, Any]:
        """What `embedding.generated` reports about vectors the server computed."""
        return {"model": self.embedder.identity, "dimensions": vectors.shape[1], "tokens": tokens}

    @staticmethod
    def _deleted_events(scope: Scope) -> Callable[[str], list[Any]]:
        return lambda memory_id: memory_events.deleted(memory_id, scope.workspace)

    def _client_vector(self, embedding: Sequence[float]) -> np.ndarray:
        expected = self.store.dimension
        if len(embedding) != expected:
            raise InvalidEmbedding(
                f"embedding must have {expected} numbers (this server's model), "
                f"got {len(embedding)}"
            )
        with np.errstate(over="ignore", under="ignore"):
            vector = np.asarray(embedding, dtype=np.float64).astype(np.float32)
            # sqlite-vec computes cosine in float32: the squared norm must be finite and > 0,
            # or every distance to this vector is NaN (too large, too small or all zeros).
            squared_norm = float(np.dot(vector, vector))
        if not np.isfinite(vector).all() or not math.isfinite(squared_norm):
            raise InvalidEmbedding("embedding values must be finite and within float32 range")
        if squared_norm == 0.0:
            raise InvalidEmbedding("embedding must not be all zeros (it has no direction)")
        return vector


def _mismatch(service: MemoryService, exc: EmbeddingModelMismatch) -> str:
    """What to do when the configured model is not the one the database's vectors came from."""
    stored_name = exc.stored_model.removesuffix(INT8_SUFFIX)
    backends = "onnx-int8" if exc.stored_model.endswith(INT8_SUFFIX) else "onnx or torch"
    embedder = service.embedder
    return (
        f"The database {service.store.db.name} holds {exc.stored_dimension}-dimensional vectors "
        f"from the model {stored_name!r} (backend {backends}), but MEMORY_API_EMBEDDING_MODEL is "
        f"{embedder.name!r} with MEMORY_API_EMBEDDING_BACKEND={embedder.backend!r} "
        f"({embedder.dimension} dimensions). To move to the new model, rebuild every vector "
        "with it (resumable, the memories stay): `memory-server reembed` (in a checkout: "
        "`.venv/bin/flask --app app reembed`). "
        f"Or start with MEMORY_API_EMBEDDING_MODEL={stored_name!r} and "
        f"MEMORY_API_EMBEDDING_BACKEND={backends} again."
    )
