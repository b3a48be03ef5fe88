"""The storage layer: memories and their vectors in one SQLite file (sqlite-vec). No Flask here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from database import Connection, Database, IntegrityError


@dataclass(frozen=True)
class Scope:
    """Where a memory lives: an owner (from the API key) and a workspace inside it."""

    owner: str
    workspace: str

    @property
    def partition(self) -> str:
        """The vector index partition; owners and workspaces never contain '/'."""
        return f"{self.owner}/{self.workspace}"


@dataclass(frozen=True)
class Memory:
    """One stored memory; `embedding` is filled only when asked for."""

    id: str
    text: str
    metadata: dict[str, Any]
    content_hash: str
    created_at: str
    updated_at: str
    embedding: list[float] | None = None


class MemoryNotFound(LookupError):
    """No memory with that id in that scope."""


class MemoryExists(Exception):
    """A memory with that id already exists in that scope."""


class EmbeddingModelMismatch(RuntimeError):
    """The database's vectors came from another model than the one configured."""

    def __init__(self, stored_model: str, stored_dimension: int) -> None:
        super().__init__(f"vectors in this database come from {stored_model} ({stored_dimension})")
        self.stored_model = stored_model
        self.stored_dimension = stored_dimension


class VectorIndexNotReady(RuntimeError):
    """Vectors were used before `bind_embedding_model` created the index."""


def utc_now() -> str:
    """The current time as ISO 8601 UTC with milliseconds and a `Z` (sorts as text)."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


_COLUMNS = "rowid, id, text, metadata, content_hash, created_at, updated_at"


class MemoryStore:
    """Memories and their vectors: every write of a row and its vector is one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.dimension: int | None = None

    def bind_embedding_model(self, model: str, dimension: int) -> None:
        """Create the vector index for this model, or check the existing one matches it."""
        with self.db.transaction() as conn:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if "embedding_dimension" not in meta:
                conn.execute(
                    "CREATE VIRTUAL TABLE memory_vectors USING vec0("
                    " memory_rowid INTEGER PRIMARY KEY,"
                    " scope TEXT PARTITION KEY,"
                    f" embedding float[{int(dimension)}] distance_metric=cosine)"
                )
                conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [("embedding_model", model), ("embedding_dimension", str(dimension))],
                )
            elif (meta["embedding_model"], int(meta["embedding_dimension"])) != (model, dimension):
                raise EmbeddingModelMismatch(
                    meta["embedding_model"], int(meta["embedding_dimension"])
                )
        self.dimension = dimension

    def insert(
        self,
        scope: Scope,
        memory_id: str,
        text: str,
        metadata: dict[str, Any],
        content_hash: str,
        vector: np.ndarray,
    ) -> Memory:
        """Store a new memory and its vector; raise MemoryExists if the id is taken."""
        now = utc_now()
        with self.db.transaction() as conn:
            try:
                cursor = conn.execute(
                    "INSERT INTO memories"
                    " (owner, workspace, id, text, metadata, content_hash, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        scope.owner,
                        scope.workspace,
                        memory_id,
                        text,
                        _dump(metadata),
                        content_hash,
                        now,
                        now,
                    ),
                )
            except IntegrityError as exc:
                raise MemoryExists(memory_id) from exc
            self._write_vector(conn, cursor.lastrowid, scope, vector)
        return Memory(memory_id, text, metadata, content_hash, now, now)

    def get(self, scope: Scope, memory_id: str, with_embedding: bool = False) -> Memory:
        """The memory with this id in this scope; raise MemoryNotFound otherwise."""
        with self.db.snapshot() as conn:
            row = self._row(conn, scope, memory_id)
            embedding = self._read_vector(conn, row["rowid"]) if with_embedding else None
        return _memory(row, embedding)

    def page(self, scope: Scope, limit: int, offset: int) -> tuple[list[Memory], int]:
        """One page of the scope's memories, newest first, and how many there are in all."""
        with self.db.snapshot() as conn:
            total = conn.execute(
                "SELECT count(*) FROM memories WHERE owner = ? AND workspace = ?",
                (scope.owner, scope.workspace),
            ).fetchone()[0]
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM memories WHERE owner = ? AND workspace = ?"
                " ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
                (scope.owner, scope.workspace, limit, offset),
            ).fetchall()
        return [_memory(row) for row in rows], total

    def update(
        self,
        scope: Scope,
        memory_id: str,
        text: str | None = None,
        metadata: dict[str, Any] | None = None,
        content_hash: str | None = None,
        vector: np.ndarray | None = None,
    ) -> Memory:
        """Change text and/or metadata (and the vector with the text) in one transaction."""
        with self.db.transaction() as conn:
            row = self._row(conn, scope, memory_id)
            text = row["text"] if text is None else text
            content_hash = row["content_hash"] if content_hash is None else content_hash
            metadata = json.loads(row["metadata"]) if metadata is None else metadata
            now = utc_now()
            conn.execute(
                "UPDATE memories SET text = ?, metadata = ?, content_hash = ?, updated_at = ?"
                " WHERE rowid = ?",
                (text, _dump(metadata), content_hash, now, row["rowid"]),
            )
            if vector is not None:
                self._write_vector(conn, row["rowid"], scope, vector)
        return Memory(memory_id, text, metadata, content_hash, row["created_at"], now)

    def delete(self, scope: Scope, memory_id: str) -> None:
        """Delete one memory and its vector; raise MemoryNotFound if it is not there."""
        with self.db.transaction() as conn:
            row = self._row(conn, scope, memory_id)
            conn.execute("DELETE FROM memories WHERE rowid = ?", (row["rowid"],))
            self._delete_vectors(conn, [row["rowid"]])

    def delete_all(self, scope: Scope) -> int:
        """Delete every memory of the scope (and nothing outside it); return how many."""
        with self.db.transaction() as conn:
            rowids = [
                row[0]
                for row in conn.execute(
                    "SELECT rowid FROM memories WHERE owner = ? AND workspace = ?",
                    (scope.owner, scope.workspace),
                )
            ]
            conn.execute(
                "DELETE FROM memories WHERE owner = ? AND workspace = ?",
                (scope.owner, scope.workspace),
            )
            self._delete_vectors(conn, rowids)
        return len(rowids)

    def _row(self, conn: Connection, scope: Scope, memory_id: str) -> Any:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM memories WHERE owner = ? AND workspace = ? AND id = ?",
            (scope.owner, scope.workspace, memory_id),
        ).fetchone()
        if row is None:
            raise MemoryNotFound(memory_id)
        return row

    def _write_vector(self, conn: Connection, rowid: int, scope: Scope, vector: np.ndarray) -> None:
        if self.dimension is None:
            raise VectorIndexNotReady("bind_embedding_model() must run before vectors are written")
        # vec0 0.1.9 cannot INSERT OR REPLACE: delete, then insert, in the caller's transaction.
        self._delete_vectors(conn, [rowid])
        conn.execute(
            "INSERT INTO memory_vectors (memory_rowid, scope, embedding) VALUES (?, ?, ?)",
            (rowid, scope.partition, np.asarray(vector, dtype=np.float32).tobytes()),
        )

    def _read_vector(self, conn: Connection, rowid: int) -> list[float] | None:
        row = conn.execute(
            "SELECT embedding FROM memory_vectors WHERE memory_rowid = ?", (rowid,)
        ).fetchone()
        if row is None:
            return None
        # str() of a float32 is its shortest exact form: no float64 noise in the JSON.
        return [float(str(x)) for x in np.frombuffer(row[0], dtype=np.float32)]

    @staticmethod
    def _delete_vectors(conn: Connection, rowids: list[int]) -> None:
        if not rowids:
            return  # nothing to do, and the index may not exist yet on a fresh database
        conn.executemany(
            "DELETE FROM memory_vectors WHERE memory_rowid = ?", [(r,) for r in rowids]
        )


def _dump(metadata: dict[str, Any]) -> str:
    return json.dumps(metadata, ensure_ascii=False, separators=(",", ":"))


def _memory(row: Any, embedding: list[float] | None = None) -> Memory:
    return Memory(
        id=row["id"],
        text=row["text"],
        metadata=json.loads(row["metadata"]),
        content_hash=row["content_hash"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        embedding=embedding,
    )
