"""Rebuild every vector with the configured model (`memory-server reembed`), resumably.

New vectors are written to staging tables batch by batch, each batch in its own transaction,
so an interrupted run continues where it stopped. The last step swaps them in inside one
transaction, first embedding whatever a still-running server added or changed meanwhile; until
then the database keeps serving its old vectors to a server on the old model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from memory_server.embedding.model import Embedder
from memory_server.storage.chunk_ids import (
    CHUNK_SLOTS,
    chunk_id_range,
    chunk_ids,
    memory_rowid_sql,
)
from memory_server.storage.contexts import ContextStore
from memory_server.storage.database import Connection, Database

BATCH = 64
TARGET_KEY = "reembed_target"


@dataclass(frozen=True)
class ReembedPlan:
    """Where a database stands: its model, the configured one, and what is left to do."""

    stored_model: str | None
    stored_dimension: int | None
    target_model: str
    target_dimension: int
    total: int
    done: int

    @property
    def needed(self) -> bool:
        """Whether the vectors are not (yet) the configured model's."""
        stored = (self.stored_model, self.stored_dimension)
        return self.stored_model is not None and stored != (
            self.target_model,
            self.target_dimension,
        )


def plan(db: Database, embedder: Embedder) -> ReembedPlan:
    """What `run` would do, and how much of it an earlier interrupted run already did."""
    with db.snapshot() as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        total = conn.execute("SELECT count(*) FROM memories").fetchone()[0]
        done = 0
        if meta.get(TARGET_KEY) == _target(embedder):
            done = conn.execute(
                "SELECT count(*) FROM reembed_memories r JOIN memories m ON m.rowid = r.rowid"
            ).fetchone()[0]
    dimension = meta.get("embedding_dimension")
    return ReembedPlan(
        meta.get("embedding_model"),
        int(dimension) if dimension else None,
        embedder.identity,
        embedder.dimension,
        total,
        done,
    )


def run(db: Database, embedder: Embedder, progress: Callable[[int], None]) -> int:
    """Re-embed every memory with `embedder` and switch the database to it; return how many."""
    _start(db, embedder)
    embedded = 0
    while True:
        with db.snapshot() as conn:
            rows = conn.execute(
                "SELECT rowid, text, content_hash FROM memories"
                " WHERE rowid > (SELECT coalesce(max(rowid), 0) FROM reembed_memories)"
                " ORDER BY rowid LIMIT ?",
                (BATCH,),
            ).fetchall()
        if not rows:
            break
        vectors = [doc.vectors for doc in embedder.embed_documents([r["text"] for r in rows])]
        with db.transaction() as conn:
            _stage(conn, db.vector_moves(), rows, vectors)
        embedded += len(rows)
        progress(len(rows))
    with db.transaction() as conn:
        embedded += _swap(conn, db, embedder)
    return embedded


def _target(embedder: Embedder) -> str:
    return f"{embedder.identity}|{embedder.dimension}"


def _start(db: Database, embedder: Embedder) -> None:
    """Create the staging tables, or keep them when they are for this same target."""
    with db.transaction() as conn:
        found = conn.execute("SELECT value FROM meta WHERE key = ?", (TARGET_KEY,)).fetchone()
        if found is not None and found[0] == _target(embedder):
            return  # resume
        conn.execute("DROP TABLE IF EXISTS reembed_vectors")
        conn.execute("DROP TABLE IF EXISTS reembed_memories")
        db.vector_moves().create_staging(conn, embedder.dimension)
        conn.execute(
            "CREATE TABLE reembed_memories (rowid BIGINT PRIMARY KEY,"
            " chunk_count INTEGER NOT NULL, content_hash TEXT NOT NULL)"
        )
        _set_meta(conn, [(TARGET_KEY, _target(embedder))])


def _stage(conn: Connection, moves: Any, rows: list, vectors: list[np.ndarray]) -> None:
    """Record the new vectors of these memories (replacing any staged before)."""
    for row, chunks in zip(rows, vectors, strict=True):
        if len(chunks) > CHUNK_SLOTS:
            raise ValueError(f"memory {row['rowid']} has more than {CHUNK_SLOTS} chunks")
        conn.execute(
            "DELETE FROM reembed_vectors WHERE chunk_id >= ? AND chunk_id < ?",
            chunk_id_range(row["rowid"]),
        )
        moves.stage(conn, list(zip(chunk_ids(row["rowid"], len(chunks)), chunks, strict=True)))
        conn.execute(
            "INSERT INTO reembed_memories (rowid, chunk_count, content_hash) VALUES (?, ?, ?)"
            " ON CONFLICT (rowid) DO UPDATE"
            " SET chunk_count = excluded.chunk_count, content_hash = excluded.content_hash",
            (row["rowid"], len(chunks), row["content_hash"]),
        )


def _set_meta(conn: Connection, pairs: list[tuple[str, str]]) -> None:
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        pairs,
    )


def _swap(conn: Connection, db: Any, embedder: Embedder) -> int:
    """Inside the final transaction: catch up, then put the new vectors in place."""
    # No server may write meanwhile (PostgreSQL: a table lock; SQLite's writer is alone).
    db.hold_all_writes(conn)
    moves = db.vector_moves()
    # Memories a running server added or changed since they were staged, and deleted ones.
    stale = conn.execute(
        "SELECT m.rowid, m.text, m.content_hash FROM memories m"
        " LEFT JOIN reembed_memories r ON r.rowid = m.rowid"
        " WHERE r.rowid IS NULL OR r.content_hash != m.content_hash"
    ).fetchall()
    if stale:
        embedded = [d.vectors for d in embedder.embed_documents([r[1] for r in stale])]
        _stage(conn, moves, stale, embedded)
    conn.execute("DELETE FROM reembed_memories WHERE rowid NOT IN (SELECT rowid FROM memories)")
    conn.execute(
        f"DELETE FROM reembed_vectors WHERE {memory_rowid_sql()}"
        " NOT IN (SELECT rowid FROM memories)"
    )
    moves.swap_in(conn, embedder.dimension)
    ContextStore.reset(conn)  # contexts of the old model: computed again with the new one
    conn.execute(
        "UPDATE memories SET chunk_count ="
        " (SELECT chunk_count FROM reembed_memories r WHERE r.rowid = memories.rowid)"
    )
    conn.execute("DROP TABLE reembed_memories")
    _set_meta(
        conn,
        [("embedding_model", embedder.identity), ("embedding_dimension", str(embedder.dimension))],
    )
    conn.execute("DELETE FROM meta WHERE key = ?", (TARGET_KEY,))
    return len(stale)
