"""Rebuild every vector with the configured model (`memory-server reembed`), resumably.

New vectors are written to staging tables batch by batch, each batch in its own transaction,
so an interrupted run continues where it stopped. The last step swaps them in inside one
transaction, first embedding whatever a still-running server added or changed meanwhile; until
then the database keeps serving its old vectors to a server on the old model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from memory_server.embedding.model import Embedder
from memory_server.scope import partition_sql
from memory_server.search import code_cache
from memory_server.search.vector_index import CODES, create_codes_table, create_embeddings_table
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
            _stage(conn, rows, vectors)
        embedded += len(rows)
        progress(len(rows))
    with db.transaction() as conn:
        embedded += _swap(conn, embedder)
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
        create_embeddings_table(conn, "reembed_vectors")
        conn.execute(
            "CREATE TABLE reembed_memories (rowid INTEGER PRIMARY KEY,"
            " chunk_count INTEGER NOT NULL, content_hash TEXT NOT NULL)"
        )
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            (TARGET_KEY, _target(embedder)),
        )


def _stage(conn: Connection, rows: list, vectors: list[np.ndarray]) -> None:
    """Record the new vectors of these memories (replacing any staged before)."""
    for row, chunks in zip(rows, vectors, strict=True):
        if len(chunks) > CHUNK_SLOTS:
            raise ValueError(f"memory {row['rowid']} has more than {CHUNK_SLOTS} chunks")
        conn.execute(
            "DELETE FROM reembed_vectors WHERE chunk_id >= ? AND chunk_id < ?",
            chunk_id_range(row["rowid"]),
        )
        conn.executemany(
            "INSERT INTO reembed_vectors (chunk_id, embedding) VALUES (?, ?)",
            [
                (chunk_id, vector.astype(np.float32).tobytes())
                for chunk_id, vector in zip(
                    chunk_ids(row["rowid"], len(chunks)), chunks, strict=True
                )
            ],
        )
        conn.execute(
            "INSERT OR REPLACE INTO reembed_memories (rowid, chunk_count, content_hash)"
            " VALUES (?, ?, ?)",
            (row["rowid"], len(chunks), row["content_hash"]),
        )


def _swap(conn: Connection, embedder: Embedder) -> int:
    """Inside the final transaction: catch up, then put the new vectors in place."""
    # Memories a running server added or changed since they were staged, and deleted ones.
    stale = conn.execute(
        "SELECT m.rowid, m.text, m.content_hash FROM memories m"
        " LEFT JOIN reembed_memories r ON r.rowid = m.rowid"
        " WHERE r.rowid IS NULL OR r.content_hash != m.content_hash"
    ).fetchall()
    if stale:
        _stage(conn, stale, [d.vectors for d in embedder.embed_documents([r[1] for r in stale])])
    conn.execute("DELETE FROM reembed_memories WHERE rowid NOT IN (SELECT rowid FROM memories)")
    conn.execute(
        f"DELETE FROM reembed_vectors WHERE {memory_rowid_sql()}"
        " NOT IN (SELECT rowid FROM memories)"
    )
    conn.execute("DROP TABLE chunk_embeddings")
    conn.execute("ALTER TABLE reembed_vectors RENAME TO chunk_embeddings")
    conn.execute(f"DROP TABLE {CODES}")
    create_codes_table(conn, embedder.dimension)
    conn.execute(
        f"INSERT INTO {CODES} (chunk_id, scope, code)"
        f" SELECT e.chunk_id, {partition_sql('m.owner', 'm.workspace')},"
        " vec_quantize_binary(e.embedding)"
        f" FROM chunk_embeddings e JOIN memories m ON m.rowid = {memory_rowid_sql('e.chunk_id')}"
    )
    code_cache.bump_generation(conn)  # no process may go on with its copy of the old codes
    ContextStore.reset(conn)  # contexts of the old model: computed again with the new one
    conn.execute(
        "UPDATE memories SET chunk_count ="
        " (SELECT chunk_count FROM reembed_memories r WHERE r.rowid = memories.rowid)"
    )
    conn.execute("DROP TABLE reembed_memories")
    conn.executemany(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
        [("embedding_model", embedder.identity), ("embedding_dimension", str(embedder.dimension))],
    )
    conn.execute("DELETE FROM meta WHERE key = ?", (TARGET_KEY,))
    return len(stale)
