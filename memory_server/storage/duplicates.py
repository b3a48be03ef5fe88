"""Finding the memory a new one would duplicate: same text and metadata, or a close vector.

Both run inside the write transaction that would store the new memory, so two clients
storing the same fact at once store it once. Expired memories are gone: never duplicates.
No Flask here.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from memory_server.scope import Scope
from memory_server.search.vector_index import VectorIndex
from memory_server.storage.chunk_ids import chunk_ids, memory_rowid
from memory_server.storage.database import Connection

# Chunks asked of the vector index for a near-duplicate check: the nearest memories are
# among them, and the exact similarity of each is computed after.
NEAR_CANDIDATES = 16


def canonical_metadata(metadata: dict[str, Any]) -> str:
    """Metadata as one JSON text: key order does not matter, true is not 1, 1.0 is not 1."""
    return json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def exact(
    conn: Connection, scope: Scope, content_hash: str, metadata: dict[str, Any], now: str
) -> int | None:
    """The rowid of the oldest live memory of the scope with this text and metadata."""
    rows = conn.execute(
        "SELECT rowid, metadata FROM memories WHERE owner = ? AND workspace = ?"
        " AND content_hash = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY rowid",
        (scope.owner, scope.workspace, content_hash, now),
    ).fetchall()
    wanted = canonical_metadata(metadata)
    for row in rows:
        if canonical_metadata(json.loads(row["metadata"])) == wanted:
            return row["rowid"]
    return None


def memory_vector(vectors: np.ndarray) -> np.ndarray:
    """One unit vector for a memory: its only chunk's, or the normalized mean of its chunks."""
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    mean = vectors.mean(axis=0) if len(vectors) > 1 else vectors[0]
    return (mean / np.linalg.norm(mean)).astype(np.float32)


def similar(
    conn: Connection,
    index: VectorIndex,
    scope: Scope,
    vectors: np.ndarray,
    threshold: float,
    now: str,
) -> tuple[int, float] | None:
    """The live memory of the scope most similar to these chunk vectors, if >= threshold.

    Similarity is the cosine between whole-memory vectors (`memory_vector`): for memories
    of one chunk, the cosine of their two vectors.
    """
    query = memory_vector(vectors)
    hits = index.nearest(conn, scope.partition, query, NEAR_CANDIDATES)
    rowids = list(dict.fromkeys(memory_rowid(chunk_id) for chunk_id, _ in hits))
    if not rowids:
        return None
    rows = conn.execute(
        f"SELECT rowid, chunk_count FROM memories WHERE {conn.dialect.in_list('rowid')}"
        " AND (expires_at IS NULL OR expires_at > ?)",
        (conn.dialect.list_param(rowids), now),
    ).fetchall()
    best: tuple[int, float] | None = None
    for row in rows:
        _, stored = index.vectors(conn, chunk_ids(row["rowid"], row["chunk_count"]))
        if not len(stored):
            continue
        score = float(memory_vector(stored) @ query)
        # float32 rounding: a copy of the same text scores 0.9999999, and 1.0 must match it.
        if score >= threshold - 1e-6 and (best is None or score > best[1]):
            best = (row["rowid"], score)
    return best
