"""The one service layer: what creating, reading, changing and deleting a memory means."""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from embeddings import Embedder
from memory_store import EmbeddingModelMismatch, Memory, MemoryStore, Scope


class InvalidEmbedding(ValueError):
    """A client-supplied embedding cannot be stored."""


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
class Updated:
    """An updated memory and whether its vector was recomputed."""

    memory: Memory
    embedding_regenerated: bool
    tokens_used: int


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


class MemoryService:
    """Memories of one database, embedded with one model."""

    def __init__(self, store: MemoryStore, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder
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
                self.store.bind_embedding_model(self.embedder.name, self.embedder.dimension)
            except EmbeddingModelMismatch as exc:
                raise StartupError(
                    f"The database {self.store.db.path} holds {exc.stored_dimension}-dimensional "
                    f"vectors from the model {exc.stored_model!r}, but MEMORY_API_EMBEDDING_MODEL "
                    f"is {self.embedder.name!r} ({self.embedder.dimension} dimensions). Start "
                    f"with MEMORY_API_EMBEDDING_MODEL={exc.stored_model!r} again, or set "
                    "MEMORY_API_DB to a new database file for the new model."
                ) from exc
            self._prepared = True

    def create(
        self,
        scope: Scope,
        text: str,
        metadata: dict[str, Any] | None = None,
        memory_id: str | None = None,
        embedding: Sequence[float] | None = None,
    ) -> Created:
        """Store a memory, embedding its text unless the client sent a vector."""
        self.prepare()
        if embedding is not None:
            vector, tokens = self._client_vector(embedding), 0
        else:
            embedded = self.embedder.embed([text])
            vector, tokens = embedded.vectors[0], embedded.token_counts[0]
        memory = self.store.insert(
            scope, memory_id or new_memory_id(), text, metadata or {}, content_hash(text), vector
        )
        return Created(memory, embedding is None, len(vector), tokens)

    def get(self, scope: Scope, memory_id: str, with_embedding: bool = False) -> Memory:
        """One memory of the scope."""
        if with_embedding:
            self.prepare()
        return self.store.get(scope, memory_id, with_embedding=with_embedding)

    def list(self, scope: Scope, page: int, per_page: int) -> Page:
        """A page of the scope's memories, newest first."""
        items, total = self.store.page(scope, limit=per_page, offset=(page - 1) * per_page)
        return Page(items, page, per_page, total)

    def update(
        self,
        scope: Scope,
        memory_id: str,
        text: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Updated:
        """Replace text and/or metadata; re-embed only when the text really changed."""
        self.prepare()
        vector, tokens, new_hash = None, 0, None
        if text is not None:
            new_hash = content_hash(text)
            if new_hash != self.store.get(scope, memory_id).content_hash:
                embedded = self.embedder.embed([text])
                vector, tokens = embedded.vectors[0], embedded.token_counts[0]
        memory = self.store.update(scope, memory_id, text, metadata, new_hash, vector)
        return Updated(memory, vector is not None, tokens)

    def delete(self, scope: Scope, memory_id: str) -> None:
        """Delete one memory of the scope."""
        self.store.delete(scope, memory_id)

    def delete_all(self, scope: Scope) -> int:
        """Delete every memory of the scope; return how many."""
        return self.store.delete_all(scope)

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
