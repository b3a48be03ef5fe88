"""Chunk vectors in pgvector, and nearest-neighbour search that keeps the API's promises.

The PostgreSQL counterpart of search/vector_index.py, with the same methods. One table holds
each chunk's vector and its scope; an HNSW index (cosine) serves large scopes. pgvector 0.6's
HNSW applies WHERE conditions after its candidate list (`hnsw.ef_search` long), so a small
workspace in a large table, or a filter leaving few memories, could get fewer or worse
results than exist: such searches are exact instead (a sequential scan over the scope or the
candidates, which the planner cannot hand to the index), and an HNSW answer short of k falls
back to the exact one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from memory_server.scope import SEPARATOR
from memory_server.search.vector_index import ChunkVectors
from memory_server.storage.chunk_ids import CHUNK_SLOTS
from memory_server.storage.postgres.portable import PortableConnection

log = logging.getLogger(__name__)

# A scope with at most this many chunks, or a filter leaving at most this many, is searched
# exactly: a sequential scan of that many 384-float vectors takes a few ms.
EXACT_MAX = 20_000
# Candidates HNSW keeps per search: ef_search = max(EF_MIN, EF_PER_RESULT * k), at most
# pgvector's limit of 1,000. The index is built at ef_construction 200 (pgvector's default 64
# kept 0.91 of the true top 10 on tests/test_pg_vector_index.py's clustered vectors). Measured:
# the bench corpus's 100k real vectors in one workspace keep recall@10 1.0000 from ef_search
# 100 up (3.6 ms; 6.3 at 400), but the test's harder clustered vectors kept 0.915-0.98 at 200
# across three index builds and 0.985 in each at 400: 400 it is.
EF_MIN = 400
EF_PER_RESULT = 10
EF_LIMIT = 1000
# Memory for building the HNSW index after a bulk import, taken only as the graph needs it:
# 100k vectors of 384 dimensions fit in ~200 MB; a graph that outgrows it builds slower.
BUILD_MEMORY = "1GB"


def _create_hnsw(conn: PortableConnection) -> None:
    conn.execute(
        "CREATE INDEX IF NOT EXISTS chunk_embeddings_hnsw ON chunk_embeddings"
        " USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 200)"
    )


def vector_literal(vector: np.ndarray) -> str:
    """A vector as pgvector's text form: [1,2,3] (float32 round-trips exactly with repr)."""
    return "[" + ",".join(map(repr, vector.astype(np.float32).tolist())) + "]"


class PgVectorMoves:
    """`memory-server reembed`'s vector steps on PostgreSQL: stage, then swap in whole."""

    @staticmethod
    def create_staging(conn: PortableConnection, dimension: int) -> None:
        """An empty table for the new model's vectors."""
        conn.execute(
            "CREATE TABLE reembed_vectors (chunk_id BIGINT PRIMARY KEY,"
            f" embedding vector({int(dimension)}) NOT NULL)"
        )

    @staticmethod
    def stage(conn: PortableConnection, rows: list[tuple[int, np.ndarray]]) -> None:
        """Staged vectors by chunk id."""
        conn.executemany(
            "INSERT INTO reembed_vectors (chunk_id, embedding) VALUES (?, ?::vector)",
            [(int(i), vector_literal(np.asarray(v, dtype=np.float32))) for i, v in rows],
        )

    @staticmethod
    def swap_in(conn: PortableConnection, dimension: int) -> None:
        """The staged vectors become the index, each with its memory's scope, re-indexed."""
        conn.execute("DROP TABLE chunk_embeddings")
        conn.execute(
            "CREATE TABLE chunk_embeddings (chunk_id BIGINT PRIMARY KEY, scope TEXT NOT NULL,"
            f" embedding vector({int(dimension)}) NOT NULL)"
        )
        conn.execute(
            "INSERT INTO chunk_embeddings (chunk_id, scope, embedding)"
            f" SELECT e.chunk_id, m.owner || '{SEPARATOR}' || m.workspace, e.embedding"
            f" FROM reembed_vectors e JOIN memories m ON m.rowid = e.chunk_id / {CHUNK_SLOTS}"
        )
        conn.execute("DROP TABLE reembed_vectors")
        PgVectorIndex.open(conn, dimension)  # its indexes


class PgVectorIndex(ChunkVectors):
    """Stores chunk vectors of one dimension and finds the nearest ones within a scope."""

    @classmethod
    def open(
        cls, conn: PortableConnection, dimension: int, model: str | None = None
    ) -> PgVectorIndex:
        """The database's index, creating its table and indexes when needed."""
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS chunk_embeddings ("
            f" chunk_id BIGINT PRIMARY KEY, scope TEXT NOT NULL,"
            f" embedding vector({int(dimension)}) NOT NULL)"
        )
        conn.execute(
            "CREATE INDEX IF NOT EXISTS chunk_embeddings_scope ON chunk_embeddings (scope)"
        )
        # Made here when missing: at the first start, and after a bulk import that was
        # killed before it could build it again (until then searches are exact scans).
        _create_hnsw(conn)
        return cls(dimension, model)

    @contextmanager
    def bulk_loading(self, db: Any) -> Iterator[None]:
        """An import into an empty table builds the HNSW index once, at the end.

        Measured with the bench corpus's 100k vectors: kept up to date row by row, loading
        took ~380 s; built after loading, 40 s (134 s with PostgreSQL's default 64MB of
        maintenance_work_mem, in which the graph does not fit). Searches meanwhile are exact
        scans: slower on a large scope, never wrong. Into a table that has vectors already,
        an import keeps the index as it goes (other workspaces search it meanwhile).
        """
        with db.transaction() as conn:
            (empty,) = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM chunk_embeddings)").fetchone()
            if empty:
                conn.execute("DROP INDEX IF EXISTS chunk_embeddings_hnsw")
        if not empty:
            yield
            return
        try:
            yield
        except KeyboardInterrupt:
            raise  # stopped by hand: no long build now; the next server start makes it
        except BaseException:
            # Built anyway, so searches are fast again, but never instead of why it failed.
            try:
                self._build(db)
            except Exception:  # the next server start builds it
                log.exception("building the vector index after a failed import")
            raise
        self._build(db)

    @staticmethod
    def _build(db: Any) -> None:
        """Build the HNSW index, under the lock a server binding the model takes to build it."""
        with db.transaction() as conn:
            db.serialize(conn, "meta.embedding_model")
            conn.execute(f"SET LOCAL maintenance_work_mem = '{BUILD_MEMORY}'")
            _create_hnsw(conn)

    def write(
        self, conn: PortableConnection, partition: str, ids: Sequence[int], vectors: np.ndarray
    ) -> None:
        """Insert the vectors with these ids (which must be free) into a scope."""
        vectors = self.checked(conn, vectors)
        conn.executemany(
            "INSERT INTO chunk_embeddings (chunk_id, scope, embedding) VALUES (?, ?, ?::vector)",
            [(int(i), partition, vector_literal(v)) for i, v in zip(ids, vectors, strict=True)],
        )

    def delete(self, conn: PortableConnection, partition: str, ids: Sequence[int]) -> None:
        """Remove the vectors with these ids from a scope (missing ones are ignored)."""
        if ids:
            conn.execute(
                "DELETE FROM chunk_embeddings WHERE chunk_id = ANY(?)", ([int(i) for i in ids],)
            )

    def vectors(
        self, conn: PortableConnection, ids: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The stored ids among these, and their vectors (one row each)."""
        rows = conn.execute(
            "SELECT chunk_id, embedding::real[] FROM chunk_embeddings"
            " WHERE chunk_id = ANY(?) ORDER BY chunk_id",
            ([int(i) for i in ids],),
        ).fetchall()
        found = np.array([row[0] for row in rows], dtype=np.int64)
        matrix = np.array([row[1] for row in rows], dtype=np.float32)
        return found, matrix.reshape(len(rows), self.dimension)

    def nearest(
        self,
        conn: PortableConnection,
        partition: str,
        query: np.ndarray,
        k: int,
        candidates: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """The k chunks of the scope most cosine-similar to the query, best first.

        `candidates` limits the search to those chunk ids (a filter applied before the cut).
        """
        self.check_model(conn)
        literal = vector_literal(np.asarray(query, dtype=np.float32))
        if candidates is not None and len(candidates) <= EXACT_MAX:
            return self._exact(conn, partition, literal, k, candidates)
        (size,) = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM chunk_embeddings WHERE scope = ? LIMIT ?) s",
            (partition, EXACT_MAX + 1),
        ).fetchone()
        if size <= EXACT_MAX:
            return self._exact(conn, partition, literal, k, candidates)
        found = self._hnsw(conn, partition, literal, k, candidates)
        if len(found) < k:  # the index's candidate list held too few of this scope's
            return self._exact(conn, partition, literal, k, candidates)
        return found

    def _exact(
        self,
        conn: PortableConnection,
        partition: str,
        literal: str,
        k: int,
        candidates: Sequence[int] | None,
    ) -> list[tuple[int, float]]:
        """Every chunk of the scope (or the candidates) scored: `+ 0` keeps the index out."""
        return self._ranked(
            conn, partition, literal, k, candidates, "(embedding <=> ?::vector) + 0, chunk_id"
        )

    def _hnsw(
        self,
        conn: PortableConnection,
        partition: str,
        literal: str,
        k: int,
        candidates: Sequence[int] | None,
    ) -> list[tuple[int, float]]:
        """The HNSW index's answer, its candidate list widened for k (may be short of k)."""
        conn.execute(f"SET LOCAL hnsw.ef_search = {min(EF_LIMIT, max(EF_MIN, EF_PER_RESULT * k))}")
        return self._ranked(conn, partition, literal, k, candidates, "embedding <=> ?::vector")

    @staticmethod
    def _ranked(
        conn: PortableConnection,
        partition: str,
        literal: str,
        k: int,
        candidates: Sequence[int] | None,
        order: str,
    ) -> list[tuple[int, float]]:
        """The scope's (or candidates') first k chunks by `order` (it holds the query's `?`).

        HNSW needs the bare distance as its only sort key to serve the ORDER BY.
        """
        sql = "SELECT chunk_id, 1 - (embedding <=> ?::vector) FROM chunk_embeddings WHERE scope = ?"
        params: list = [literal, partition]
        if candidates is not None:
            sql += " AND chunk_id = ANY(?)"
            params.append([int(i) for i in candidates])
        params += [literal, k]
        rows = conn.execute(f"{sql} ORDER BY {order} LIMIT ?", params)
        return [(int(i), float(score)) for i, score in rows]
