"""Chunk vectors and nearest-neighbour search over them. No Flask here.

Two copies of each vector, written in the caller's transaction:
- `chunk_embeddings`: the exact float32 vector, a plain table read by primary key;
- `chunk_codes`: a sqlite-vec `bit` vector (the sign of each dimension, 1/32 of the size),
  partitioned by scope, for a fast first pass.

A search ranks the scope's codes by Hamming distance with numpy (~10 ms for 1M, from the
copy code_cache.py keeps in memory while the scope is unchanged), then scores a shortlist
exactly with the float vectors. sqlite-vec's own float
brute force runs its distances without BLAS and its bit KNN slows down with k; both were
measured slower than this at 100k (see bench/results.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from memory_server.search import code_cache
from memory_server.search.code_cache import CodeCache, ScopeCodes
from memory_server.storage.database import Connection, DatabaseError

CODES = "chunk_codes"
# sqlite-vec 0.1.9 stores a vec0 table in shadow tables: `<name>_chunks` holds blocks of
# rowids with a validity bitmap, `<name>_vector_chunks00` the packed vectors of each block.
# The first pass reads those blocks directly; `_has_block_layout` checks the layout once, and
# another layout falls back to sqlite-vec's own bit KNN (same shortlist, slower).
BLOCKS_SQL = (
    f"SELECT c.validity, c.rowids, v.vectors FROM {CODES}_chunks c"
    f" JOIN {CODES}_vector_chunks00 v ON v.rowid = c.chunk_id WHERE c.partition00 = ?"
)
# How many first-pass candidates get exact scores: at least SHORTLIST_MIN, or
# SHORTLIST_PER_RESULT per result asked for. Measured against exact search at 1M memories
# (bench/scale.py): 500 keep 0.995 of the top 10 and 0.97 of the top 50 (hybrid's candidate
# depth); 1,000 keep 0.989 of the top 50 but cost hybrid a third more time at 10k.
SHORTLIST_MIN = 500
SHORTLIST_PER_RESULT = 5
# A filter that leaves this few chunks is scored exactly, without a first pass.
EXACT_MAX = 2048
VEC0_MAX_K = 4096  # sqlite-vec's largest k, for the fallback first pass


class ModelChanged(RuntimeError):
    """The database moved to another model (`memory-server reembed`) while this process ran."""


class ChunkVectors:
    """What every backend's vector index shares: its model check, input check and rescoring.

    Subclasses store and search the vectors (`vectors`, `write`, `delete`, `nearest`).
    """

    def __init__(self, dimension: int, model: str | None = None) -> None:
        self.dimension = dimension
        self.model = model

    def check_model(self, conn: Any) -> None:
        """Raise ModelChanged if the database's vectors no longer come from this model."""
        if self.model is None:
            return
        row = conn.execute("SELECT value FROM meta WHERE key = 'embedding_model'").fetchone()
        if row is not None and row[0] != self.model:
            raise ModelChanged(
                f"the database's vectors now come from {row[0]}, not {self.model}: restart "
                f"the server with MEMORY_API_EMBEDDING_MODEL (and _BACKEND) set for {row[0]}"
            )

    def checked(self, conn: Any, vectors: np.ndarray) -> np.ndarray:
        """Vectors about to be written, as float32 rows of this index's dimension (or raise)."""
        self.check_model(conn)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dimension:
            raise ValueError(
                f"vectors of dimension {vectors.shape[-1]}, the index holds {self.dimension}"
            )
        return vectors

    def vectors(self, conn: Any, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The stored ids among these, and their vectors (one row each)."""
        raise NotImplementedError

    @contextmanager
    def bulk_loading(self, db: Any) -> Iterator[None]:
        """Around a whole import: an index that builds faster at once than row by row may.

        sqlite-vec has nothing to build; PostgreSQL's HNSW does (storage/postgres/).
        """
        yield

    def cosines(
        self, conn: Any, ids: Sequence[int], query: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The stored chunks among these ids and their exact cosine similarity to the query."""
        found, matrix = self.vectors(conn, ids)
        if not len(found):
            return found, np.empty(0, dtype=np.float32)
        return found, cosine(matrix, query)


class VectorIndex(ChunkVectors):
    """Stores chunk vectors of one dimension and finds the nearest ones within a scope.

    With a `model`, every write and search first checks that the database's vectors still
    come from it: after a `reembed` swap, a server left running on the old model must not
    add old-model vectors or compare its queries with new-model ones.
    """

    def __init__(self, dimension: int, block_layout: bool = True, model: str | None = None) -> None:
        super().__init__(dimension, model)
        self.block_layout = block_layout
        self.cache = CodeCache()

    @classmethod
    def open(cls, conn: Connection, dimension: int, model: str | None = None) -> VectorIndex:
        """The database's index, creating its tables (or upgrading older ones) when needed."""
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if "chunk_embeddings" not in tables:
            _create_tables(conn, dimension)
            if "chunk_vectors" in tables:
                _upgrade_from_float_vec0(conn)
        return cls(dimension, _has_block_layout(conn), model)

    def write(
        self, conn: Connection, partition: str, ids: Sequence[int], vectors: np.ndarray
    ) -> None:
        """Insert the vectors with these ids (which must be free) into a scope."""
        vectors = self.checked(conn, vectors)
        conn.executemany(
            "INSERT INTO chunk_embeddings (chunk_id, embedding) VALUES (?, ?)",
            [(i, v.tobytes()) for i, v in zip(ids, vectors, strict=True)],
        )
        codes = sign_codes(vectors)
        conn.executemany(
            f"INSERT INTO {CODES} (chunk_id, scope, code) VALUES (?, ?, vec_bit(?))",
            [(i, partition, code.tobytes()) for i, code in zip(ids, codes, strict=True)],
        )
        self._changed(conn, partition, ids)

    def delete(self, conn: Connection, partition: str, ids: Sequence[int]) -> None:
        """Remove the vectors with these ids from a scope (missing ones are ignored)."""
        if not ids:
            return
        params = [(i,) for i in ids]
        self._changed(conn, partition, ids)  # before: afterwards their blocks are unknown
        conn.executemany("DELETE FROM chunk_embeddings WHERE chunk_id = ?", params)
        conn.executemany(f"DELETE FROM {CODES} WHERE chunk_id = ?", params)

    def _changed(self, conn: Connection, partition: str, ids: Sequence[int]) -> None:
        """New tokens for the scope and for the blocks holding these ids' codes."""
        conn.execute(code_cache.BUMP_SQL, (partition,))
        if self.block_layout:
            code_cache.bump_blocks(conn, CODES, ids)

    def vectors(self, conn: Connection, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The stored ids among these, and their vectors (one row each)."""
        rows = conn.execute(
            "SELECT chunk_id, embedding FROM chunk_embeddings"
            " WHERE chunk_id IN (SELECT value FROM json_each(?)) ORDER BY chunk_id",
            (json.dumps([int(i) for i in ids]),),
        ).fetchall()
        found = np.array([row[0] for row in rows], dtype=np.int64)
        matrix = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32)
        return found, matrix.reshape(len(rows), self.dimension)

    def nearest(
        self,
        conn: Connection,
        partition: str,
        query: np.ndarray,
        k: int,
        candidates: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """The k chunks of the scope most cosine-similar to the query, best first.

        `candidates` limits the search to those chunk ids (a filter applied before the cut).
        """
        self.check_model(conn)
        query = np.asarray(query, dtype=np.float32)
        if candidates is not None and len(candidates) <= EXACT_MAX:
            return self._rescore(conn, candidates, query, k)
        size = max(SHORTLIST_MIN, SHORTLIST_PER_RESULT * k)
        if self.block_layout:
            shortlist = self._shortlist(conn, partition, query, size, candidates)
        else:
            shortlist = self._vec0_shortlist(conn, partition, query, size, candidates)
        return self._rescore(conn, shortlist, query, k)

    def _shortlist(
        self,
        conn: Connection,
        partition: str,
        query: np.ndarray,
        size: int,
        candidates: Sequence[int] | None,
    ) -> np.ndarray:
        """The ids of the `size` codes nearest the query's by Hamming distance."""
        codes = self._codes(conn, partition)
        keep = None if candidates is None else codes.among(candidates)
        if (codes.count if keep is None else np.count_nonzero(keep)) <= size:
            return codes.ids[codes.valid if keep is None else keep]
        return codes.nearest(sign_codes(query[None, :]).view(codes.words.dtype)[0], size, keep)

    def _codes(self, conn: Connection, partition: str) -> ScopeCodes:
        """The scope's codes as of this transaction: the copy held, brought up to date."""
        now = code_cache.token(conn, partition)
        held = self.cache.get(partition)
        if held is None or held.version != now:
            # 64-bit words when the code length allows (a third of the time of bytes).
            word = np.uint64 if self.dimension % 64 == 0 else np.uint8
            width = self.dimension // (8 * np.dtype(word).itemsize)
            held = code_cache.refresh(conn, CODES, partition, held, now, word, width)
            self.cache.put(partition, held)
        return held

    def _vec0_shortlist(
        self,
        conn: Connection,
        partition: str,
        query: np.ndarray,
        size: int,
        candidates: Sequence[int] | None,
    ) -> np.ndarray:
        sql = f"SELECT chunk_id FROM {CODES} WHERE code MATCH vec_bit(?) AND k = ? AND scope = ?"
        params: list = [sign_codes(query[None, :])[0].tobytes(), min(size, VEC0_MAX_K), partition]
        if candidates is not None:
            sql += " AND chunk_id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps([int(i) for i in candidates]))
        return np.array([row[0] for row in conn.execute(sql, params)], dtype=np.int64)

    def _rescore(
        self, conn: Connection, ids: Sequence[int], query: np.ndarray, k: int
    ) -> list[tuple[int, float]]:
        """Exact cosine similarity of these chunks to the query; the best k, best first."""
        found, scores = self.cosines(conn, ids, query)
        top = np.argsort(-scores, kind="stable")[:k]
        return [(int(found[i]), float(scores[i])) for i in top]


class SqliteVectorMoves:
    """`memory-server reembed`'s vector steps on SQLite: stage the new vectors, swap them in."""

    @staticmethod
    def create_staging(conn: Connection, dimension: int) -> None:
        """An empty table for the new model's vectors."""
        create_embeddings_table(conn, "reembed_vectors")

    @staticmethod
    def stage(conn: Connection, rows: list[tuple[int, np.ndarray]]) -> None:
        """Staged vectors by chunk id."""
        conn.executemany(
            "INSERT INTO reembed_vectors (chunk_id, embedding) VALUES (?, ?)",
            [(i, np.asarray(v, dtype=np.float32).tobytes()) for i, v in rows],
        )

    @staticmethod
    def swap_in(conn: Connection, dimension: int) -> None:
        """The staged vectors become the index (and its codes are made from them)."""
        from memory_server.scope import partition_sql
        from memory_server.storage.chunk_ids import memory_rowid_sql

        conn.execute("DROP TABLE chunk_embeddings")
        conn.execute("ALTER TABLE reembed_vectors RENAME TO chunk_embeddings")
        conn.execute(f"DROP TABLE {CODES}")
        create_codes_table(conn, dimension)
        memory = memory_rowid_sql("e.chunk_id")
        conn.execute(
            f"INSERT INTO {CODES} (chunk_id, scope, code)"
            f" SELECT e.chunk_id, {partition_sql('m.owner', 'm.workspace')},"
            " vec_quantize_binary(e.embedding)"
            f" FROM chunk_embeddings e JOIN memories m ON m.rowid = {memory}"
        )
        code_cache.bump_generation(conn)  # no process may go on with its copy of the old codes


def cosine(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Each row's cosine similarity to the query (0 for a zero vector)."""
    # Client-supplied vectors need not be unit length: divide by both norms.
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(query)
    return matrix @ query / np.where(norms == 0, 1, norms)


def sign_codes(vectors: np.ndarray) -> np.ndarray:
    """One bit per dimension, set where the value is positive: sqlite-vec's `bit` layout."""
    return np.packbits(np.asarray(vectors) > 0, axis=1, bitorder="little")


def _has_block_layout(conn: Connection) -> bool:
    """Whether sqlite-vec stores the codes in the block layout the first pass reads."""
    try:
        conn.execute(BLOCKS_SQL + " LIMIT 0", ("",)).fetchall()
    except DatabaseError:  # another layout: use the fallback
        return False
    return True


def create_codes_table(conn: Connection, dimension: int) -> None:
    """The sign codes' sqlite-vec table, for vectors of this dimension."""
    # The scope partition makes a first pass read only that workspace's codes.
    conn.execute(
        f"CREATE VIRTUAL TABLE {CODES} USING vec0("
        f" chunk_id INTEGER PRIMARY KEY, scope TEXT PARTITION KEY, code bit[{int(dimension)}])"
    )


def create_embeddings_table(conn: Connection, name: str = "chunk_embeddings") -> None:
    """The exact vectors' table (float32 blobs by chunk id); reembed stages into a copy."""
    conn.execute(f"CREATE TABLE {name} (chunk_id INTEGER PRIMARY KEY, embedding BLOB NOT NULL)")


def _create_tables(conn: Connection, dimension: int) -> None:
    create_embeddings_table(conn)
    create_codes_table(conn, dimension)


def _upgrade_from_float_vec0(conn: Connection) -> None:
    """Move vectors from the first layout (one float vec0 table) into this one."""
    conn.execute(
        "INSERT INTO chunk_embeddings (chunk_id, embedding)"
        " SELECT chunk_id, embedding FROM chunk_vectors"
    )
    conn.execute(
        f"INSERT INTO {CODES} (chunk_id, scope, code)"
        " SELECT chunk_id, scope, vec_quantize_binary(embedding) FROM chunk_vectors"
    )
    conn.execute("DROP TABLE chunk_vectors")
