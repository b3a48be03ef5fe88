"""The storage layer: memories and their vectors, on either backend. No Flask here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from memory_server.clock import utc_now
from memory_server.scope import Scope
from memory_server.search import keyword_terms
from memory_server.search.filters import Filters
from memory_server.search.vector_index import VectorIndex
from memory_server.storage import duplicates
from memory_server.storage.chunk_ids import CHUNK_SLOTS, chunk_ids
from memory_server.storage.database import Connection, Database
from memory_server.storage.history import Version, keep_previous, versions


# Every search asks for these, so they are found by the expiry index: left to itself SQLite
# picks an (owner, workspace) index and reads every memory of the workspace (135 ms a search
# at 100k memories, measured by make bench).
@dataclass(frozen=True)
class Memory:
    """One stored memory; `embedding` is filled only when asked for.

    `etag` is its version as an HTTP entity tag: it changes whenever the memory does.
    """

    id: str
    text: str
    metadata: dict[str, Any]
    content_hash: str
    created_at: str
    updated_at: str
    embedding: list[float] | None = None
    etag: str = ""
    expires_at: str | None = None


def memory_etag(rowid: int, updated_at: str, content_hash: str, metadata_json: str) -> str:
    """A strong entity tag for one version of a memory (a re-created id gets new ones)."""
    version = f"{rowid}|{updated_at}|{content_hash}|{metadata_json}".encode()
    return '"' + hashlib.sha256(version).hexdigest()[:24] + '"'


class MemoryNotFound(LookupError):
    """No memory with that id in that scope."""

    def __init__(self, memory_id: str) -> None:
        super().__init__(memory_id)
        self.memory_id = memory_id


class MemoryExists(Exception):
    """A memory with that id already exists in that scope."""

    def __init__(self, memory_id: str) -> None:
        super().__init__(memory_id)
        self.memory_id = memory_id


class PreconditionFailed(Exception):
    """The memory is not at the version the client named (If-Match); nothing was changed."""

    def __init__(self, memory_id: str, current_etag: str) -> None:
        super().__init__(memory_id)
        self.memory_id = memory_id
        self.current_etag = current_etag


@dataclass(frozen=True)
class Duplicate:
    """A create that stored nothing: the live memory that already holds what it would.

    `similarity` is 1.0 for the same text and metadata, else the cosine of the vectors.
    """

    memory: Memory
    similarity: float


class TextChanged(Exception):
    """An update without new vectors found the text changed since it was checked: re-embed."""


class EmbeddingModelMismatch(RuntimeError):
    """The database's vectors came from another model than the one configured."""

    def __init__(self, stored_model: str, stored_dimension: int) -> None:
        super().__init__(f"vectors in this database come from {stored_model} ({stored_dimension})")
        self.stored_model = stored_model
        self.stored_dimension = stored_dimension


@dataclass(frozen=True)
class NewMemory:
    """A memory to store: its id, content and chunk vectors."""

    id: str
    text: str
    metadata: dict[str, Any]
    content_hash: str
    vectors: np.ndarray | None  # None only while an import asks what is unchanged
    expires_at: str | None = None
    # Whether to store nothing when a live memory of the scope has the same text and
    # metadata, or (with a threshold) a vector at least this cosine-similar.
    skip_duplicates: bool = False
    duplicate_threshold: float | None = None


class VectorIndexNotReady(RuntimeError):
    """Vectors were used before `bind_embedding_model` created the index."""


MEMORY_COLUMNS = (
    "rowid, id, text, metadata, content_hash, created_at, updated_at, chunk_count, expires_at,"
    " version"
)


def live(alias: str = "") -> str:
    """SQL: the memory has not expired at the time bound to the `?` it holds."""
    column = f"{alias}.expires_at" if alias else "expires_at"
    return f"({column} IS NULL OR {column} > ?)"


# An update's `expires_at` when the client did not name one: the memory keeps its own.
KEEP = "keep"


# Writes the events of a change into the outbox, inside the change's own transaction.
Outbox = Callable[[Connection, "Scope", list[Any]], Any]
# The events of a purged memory, from its id, workspace and expiry time.
ExpiredEvents = Callable[[str, str, str], list[Any]]


# How a page of memories may be ordered (ties by insertion order, the same way).
ORDERS = {
    "created_at desc": "created_at DESC, rowid DESC",
    "created_at asc": "created_at ASC, rowid ASC",
    "updated_at desc": "updated_at DESC, rowid DESC",
    "updated_at asc": "updated_at ASC, rowid ASC",
}


class MemoryStore:
    """Memories and their chunk vectors: a row and its vectors are written in one transaction.

    Each write takes an optional `events` function; what it returns for the written memory
    goes to the `outbox` in the same transaction, so no committed change loses its events.
    """

    def __init__(
        self, db: Database, outbox: Outbox | None = None, history_versions: int = 50
    ) -> None:
        self.db = db
        self.outbox = outbox
        # Versions kept per memory, the current one included (0: history is off).
        self.history_versions = history_versions
        self.vectors: VectorIndex | None = None
        self.keywords = db.keyword_index()

    def bind_embedding_model(self, model: str, dimension: int) -> None:
        """Create the vector index for this model, or check the existing one matches it."""
        with self.db.transaction() as conn:
            # Workers (and hosts) starting together bind once; the others then check it.
            self.db.serialize(conn, "meta.embedding_model")
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if "embedding_dimension" not in meta:
                conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [("embedding_model", model), ("embedding_dimension", str(dimension))],
                )
            elif (meta["embedding_model"], int(meta["embedding_dimension"])) != (model, dimension):
                raise EmbeddingModelMismatch(
                    meta["embedding_model"], int(meta["embedding_dimension"])
                )
            self.vectors = self.db.open_vector_index(conn, dimension, model)

    @property
    def dimension(self) -> int | None:
        """Length of the stored vectors, once `bind_embedding_model` has run."""
        return None if self.vectors is None else self.vectors.dimension

    def insert(
        self,
        scope: Scope,
        memory_id: str,
        text: str,
        metadata: dict[str, Any],
        content_hash: str,
        vectors: np.ndarray,
        events: Callable[[Memory], list[Any]] | None = None,
    ) -> Memory:
        """Store a new memory and its chunk vectors; raise MemoryExists if the id is taken."""
        new = NewMemory(memory_id, text, metadata, content_hash, vectors)
        [result] = self.insert_many(scope, [new], events)
        if isinstance(result, MemoryExists):
            raise result
        return result

    def insert_many(
        self,
        scope: Scope,
        items: list[NewMemory],
        events: Callable[[Memory], list[Any]] | None = None,
        expired_events: ExpiredEvents | None = None,
    ) -> list[Memory | MemoryExists | Duplicate]:
        """Store several memories in one transaction; a taken id is reported, not raised.

        Items are stored in order, so a later item can be a duplicate of an earlier one.
        An expired memory still holding a wanted id is purged first (`expired_events`).
        """
        results: list[Memory | MemoryExists | Duplicate] = []
        now = utc_now()
        with self.db.transaction() as conn:
            self._lock_scopes(conn, [scope])
            for item in items:
                self._purge(conn, self._expired_with_id(conn, scope, item.id, now), expired_events)
                # A taken id is a conflict even when the content is a duplicate too.
                duplicate = None if self._taken(conn, scope, item.id) else (
                    self._duplicate(conn, scope, item, now)
                )  # fmt: skip
                if duplicate is not None:
                    results.append(duplicate)
                    continue
                try:
                    memory = self._insert(conn, scope, item, now, now)
                except MemoryExists as conflict:
                    results.append(conflict)
                    continue
                self._emit(conn, scope, events, memory)
                results.append(memory)
        return results

    def find_duplicate(self, scope: Scope, item: NewMemory) -> Duplicate | None:
        """The live memory an item would duplicate by text and metadata (read-only check).

        None too when the item names an id already taken: that create is a conflict.
        """
        with self.db.snapshot() as conn:
            if item.id and self._taken(conn, scope, item.id):
                return None
            rowid = duplicates.exact(conn, scope, item.content_hash, item.metadata, utc_now())
            return None if rowid is None else Duplicate(self._memory_at(conn, rowid), 1.0)

    def _duplicate(
        self, conn: Connection, scope: Scope, item: NewMemory, now: str
    ) -> Duplicate | None:
        if not item.skip_duplicates:
            return None
        rowid = duplicates.exact(conn, scope, item.content_hash, item.metadata, now)
        if rowid is not None:
            return Duplicate(self._memory_at(conn, rowid), 1.0)
        if item.duplicate_threshold is None or item.vectors is None or self.vectors is None:
            return None
        found = duplicates.similar(
            conn, self.vectors, scope, item.vectors, item.duplicate_threshold, now
        )
        return None if found is None else Duplicate(self._memory_at(conn, found[0]), found[1])

    def _taken(self, conn: Connection, scope: Scope, memory_id: str) -> bool:
        """Whether a live memory of the scope has this id."""
        row = conn.execute(
            f"SELECT 1 FROM memories WHERE owner = ? AND workspace = ? AND id = ? AND {live()}",
            (scope.owner, scope.workspace, memory_id, utc_now()),
        )
        return row.fetchone() is not None

    def _memory_at(self, conn: Connection, rowid: int) -> Memory:
        row = conn.execute(f"SELECT {MEMORY_COLUMNS} FROM memories WHERE rowid = ?", (rowid,))
        return memory_from_row(row.fetchone())

    def _expired_with_id(
        self, conn: Connection, scope: Scope, memory_id: str, now: str
    ) -> list[Any]:
        return conn.execute(
            "SELECT rowid, chunk_count, id, owner, workspace, expires_at FROM memories"
            " WHERE owner = ? AND workspace = ? AND id = ? AND expires_at <= ?",
            (scope.owner, scope.workspace, memory_id, now),
        ).fetchall()

    def purge_expired(self, events: ExpiredEvents | None = None, batch: int = 500) -> int:
        """Delete every memory whose time has come, with its events; return how many.

        In transactions of `batch` memories, so a backlog never holds the write lock long.
        """
        purged = 0
        while True:
            with self.db.transaction() as conn:
                rows = conn.execute(
                    "SELECT rowid, chunk_count, id, owner, workspace, expires_at FROM memories"
                    " WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at"
                    " LIMIT ?",
                    (utc_now(), batch),
                ).fetchall()
                self._purge(conn, rows, events)
            purged += len(rows)
            if len(rows) < batch:
                return purged

    def _purge(self, conn: Connection, rows: list[Any], events: ExpiredEvents | None) -> None:
        """Delete these expired memories (their history goes too, by trigger)."""
        self._lock_scopes(conn, [Scope(row["owner"], row["workspace"]) for row in rows])
        for row in rows:
            conn.execute("DELETE FROM memories WHERE rowid = ?", (row["rowid"],))
            scope = Scope(row["owner"], row["workspace"])
            self._delete_vectors(conn, scope, chunk_ids(row["rowid"], row["chunk_count"]))
            if events is not None and self.outbox is not None:
                self.outbox(conn, scope, events(row["id"], scope.workspace, row["expires_at"]))

    def expired_rowids(self, conn: Connection, scope: Scope) -> set[int]:
        """The scope's memories that have expired but are not purged yet (usually none)."""
        rows = conn.execute(
            conn.dialect.expired_in_scope, (utc_now(), scope.owner, scope.workspace)
        )
        return {row[0] for row in rows}

    def _insert(
        self, conn: Connection, scope: Scope, item: NewMemory, created_at: str, updated_at: str
    ) -> Memory:
        terms = keyword_terms.terms(item.text)
        # The keyword index's column is written with the row (on PostgreSQL, an UPDATE after
        # would leave a second version of every new row).
        column, value, indexed = self.keywords.column(terms)
        # A savepoint: on PostgreSQL a failed statement spoils the whole transaction, and a
        # taken id must only fail this item of a batch.
        conn.execute("SAVEPOINT new_memory")
        try:
            (rowid,) = conn.execute(
                "INSERT INTO memories (owner, workspace, id, text, metadata, content_hash,"
                f" created_at, updated_at, expires_at, {column})"
                f" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, {value}) RETURNING rowid",
                (scope.owner, scope.workspace, item.id, item.text, _dump(item.metadata),
                 item.content_hash, created_at, updated_at, item.expires_at, indexed),
            ).fetchone()  # fmt: skip
        except self.db.integrity_error as exc:
            conn.execute("ROLLBACK TO SAVEPOINT new_memory")
            raise MemoryExists(item.id) from exc
        finally:
            conn.execute("RELEASE SAVEPOINT new_memory")
        self.keywords.add(conn, scope, rowid, terms)
        self._write_vectors(conn, rowid, scope, item.vectors, old_count=0)
        etag = memory_etag(rowid, updated_at, item.content_hash, _dump(item.metadata))
        return Memory(
            item.id, item.text, item.metadata, item.content_hash, created_at, updated_at,
            etag=etag, expires_at=item.expires_at,
        )  # fmt: skip

    def get(self, scope: Scope, memory_id: str, with_embedding: bool = False) -> Memory:
        """The memory with this id in this scope; raise MemoryNotFound otherwise."""
        with self.db.snapshot() as conn:
            row = self._row(conn, scope, memory_id)
            embedding = self._memory_vector(conn, row) if with_embedding else None
        return memory_from_row(row, embedding)

    def page(
        self,
        scope: Scope,
        limit: int,
        offset: int,
        filters: Filters | None = None,
        order: str = "created_at desc",
    ) -> tuple[list[Memory], int]:
        """One page of the scope's memories matching `filters`, in `order`, and how many.

        `order` is one of ORDERS' keys: newest first unless asked otherwise.
        """
        order_by = ORDERS[order]
        with self.db.snapshot() as conn:
            active = filters is not None and filters.active
            where, params = conn.dialect.filter_sql(filters) if active else ("1 = 1", [])
            now = utc_now()
            total = conn.execute(
                f"SELECT count(*) FROM memories m WHERE owner = ? AND workspace = ?"
                f" AND {live('m')} AND {where}",
                (scope.owner, scope.workspace, now, *params),
            ).fetchone()[0]
            rows = conn.execute(
                f"SELECT {MEMORY_COLUMNS} FROM memories m WHERE owner = ? AND workspace = ?"
                f" AND {live('m')} AND {where} ORDER BY {order_by}"
                " LIMIT ? OFFSET ?",
                (scope.owner, scope.workspace, now, *params, limit, offset),
            ).fetchall()
        return [memory_from_row(row) for row in rows], total

    def update(
        self,
        scope: Scope,
        memory_id: str,
        text: str | None = None,
        metadata: dict[str, Any] | None = None,
        content_hash: str | None = None,
        vectors: np.ndarray | None = None,
        events: Callable[[Memory], list[Any]] | None = None,
        if_match: Sequence[str] | None = None,
        expires_at: str | None = KEEP,
    ) -> Memory:
        """Change text, metadata and/or expiry (and the vectors with the text) at once.

        A new text without `vectors` is taken only if the stored text still has
        `content_hash` (else TextChanged: the caller embeds it); `if_match` names the
        versions the change may apply to (else PreconditionFailed). `expires_at`: a new
        expiry, None for none, KEEP (default) to leave it. The old version goes to history.
        """
        with self.db.transaction() as conn:
            self._lock_scopes(conn, [scope])
            row = self._row(conn, scope, memory_id)
            _check_version(row, if_match)
            if text is not None and vectors is None and row["content_hash"] != content_hash:
                raise TextChanged(memory_id)  # another writer changed it after the check
            text = row["text"] if text is None else text
            content_hash = row["content_hash"] if content_hash is None else content_hash
            metadata = json.loads(row["metadata"]) if metadata is None else metadata
            expires_at = row["expires_at"] if expires_at == KEEP else expires_at
            now = utc_now()
            keep_previous(conn, row, self.history_versions)
            conn.execute(
                "UPDATE memories SET text = ?, metadata = ?, content_hash = ?, updated_at = ?,"
                " expires_at = ?, version = version + 1 WHERE rowid = ?",
                (text, _dump(metadata), content_hash, now, expires_at, row["rowid"]),
            )
            if text != row["text"]:
                self._reindex_words(conn, scope, row["rowid"], text)
            if vectors is not None:
                self._write_vectors(conn, row["rowid"], scope, vectors, row["chunk_count"])
            etag = memory_etag(row["rowid"], now, content_hash, _dump(metadata))
            memory = Memory(
                memory_id, text, metadata, content_hash, row["created_at"], now, etag=etag,
                expires_at=expires_at,
            )  # fmt: skip
            self._emit(conn, scope, events, memory)
        return memory

    def history(self, scope: Scope, memory_id: str) -> list[Version]:
        """The kept versions of one live memory, oldest first; MemoryNotFound otherwise."""
        with self.db.snapshot() as conn:
            row = self._row(conn, scope, memory_id)
            return versions(conn, row, max(self.history_versions, 1))

    def delete(
        self,
        scope: Scope,
        memory_id: str,
        events: Callable[[str], list[Any]] | None = None,
        if_match: Sequence[str] | None = None,
    ) -> None:
        """Delete one memory and its vectors; raise MemoryNotFound if it is not there."""
        with self.db.transaction() as conn:
            self._lock_scopes(conn, [scope])
            row = self._row(conn, scope, memory_id)
            _check_version(row, if_match)
            # Its keyword postings go with it, by trigger (migration 7).
            conn.execute("DELETE FROM memories WHERE rowid = ?", (row["rowid"],))
            self._delete_vectors(conn, scope, chunk_ids(row["rowid"], row["chunk_count"]))
            self._emit(conn, scope, events, memory_id)

    def delete_all(self, scope: Scope, events: Callable[[str], list[Any]] | None = None) -> int:
        """Delete every memory of the scope (and nothing outside it); return how many."""
        with self.db.transaction() as conn:
            self._lock_scopes(conn, [scope])
            # Expired memories are not the client's any more: the purger deletes those.
            now = utc_now()
            rows = conn.execute(
                "SELECT rowid, chunk_count, id FROM memories WHERE owner = ? AND workspace = ?"
                f" AND {live()}",
                (scope.owner, scope.workspace, now),
            ).fetchall()
            conn.execute(
                f"DELETE FROM memories WHERE owner = ? AND workspace = ? AND {live()}",
                (scope.owner, scope.workspace, now),
            )
            self._delete_vectors(conn, scope, [i for row in rows for i in chunk_ids(*row[:2])])
            if events is not None and self.outbox is not None:  # one outbox call for them all
                self.outbox(conn, scope, [e for row in rows for e in events(row["id"])])
        return len(rows)

    def export(
        self, owner: str | None = None, workspace: str | None = None, with_vectors: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Every memory (of an owner, of a workspace), oldest first, from one snapshot."""
        with self.db.snapshot() as conn:
            rows = conn.execute(
                f"SELECT {MEMORY_COLUMNS}, owner, workspace FROM memories"
                # The casts tell PostgreSQL what an unbound NULL parameter is.
                " WHERE (CAST(? AS TEXT) IS NULL OR owner = ?)"
                " AND (CAST(? AS TEXT) IS NULL OR workspace = ?)"
                " AND (expires_at IS NULL OR expires_at > ?) ORDER BY rowid",
                (owner, owner, workspace, workspace, utc_now()),
            )
            for row in rows:
                record = {
                    "owner": row["owner"],
                    "workspace": row["workspace"],
                    "id": row["id"],
                    "text": row["text"],
                    "metadata": json.loads(row["metadata"]),
                    "created_at": row["created_at"],
                    "updated_at": row["updated_at"],
                    "expires_at": row["expires_at"],
                }
                if with_vectors and self.vectors is not None:
                    ids = chunk_ids(row["rowid"], row["chunk_count"])
                    _, vectors = self.vectors.vectors(conn, ids)
                    record["embeddings"] = [[float(str(x)) for x in v] for v in vectors]
                yield record

    def unchanged(self, items: list[ImportedMemory]) -> set[int]:
        """Which of these memories the database already holds exactly (by their index)."""
        same = set()
        with self.db.snapshot() as conn:
            for index, item in enumerate(items):
                row = conn.execute(
                    "SELECT text, metadata, created_at, updated_at, expires_at FROM memories"
                    " WHERE owner = ? AND workspace = ? AND id = ?",
                    (item.scope.owner, item.scope.workspace, item.memory.id),
                ).fetchone()
                stored = None if row is None else (
                    row["text"], duplicates.canonical_metadata(json.loads(row["metadata"])),
                    row["created_at"], row["updated_at"], row["expires_at"],
                )  # fmt: skip
                wanted = (
                    item.memory.text, duplicates.canonical_metadata(item.memory.metadata),
                    item.created_at, item.updated_at, item.memory.expires_at,
                )  # fmt: skip
                if stored == wanted:
                    same.add(index)
        return same

    def import_many(self, items: list[ImportedMemory]) -> list[str]:
        """Write imported memories as they are in the file: 'created' or 'updated' each."""
        outcomes = []
        with self.db.transaction() as conn:
            self._lock_scopes(conn, [item.scope for item in items])
            for item in items:
                memory, scope = item.memory, item.scope
                row = conn.execute(
                    f"SELECT {MEMORY_COLUMNS} FROM memories"
                    " WHERE owner = ? AND workspace = ? AND id = ?",
                    (scope.owner, scope.workspace, memory.id),
                ).fetchone()
                if row is None:
                    self._insert(conn, scope, memory, item.created_at, item.updated_at)
                    outcomes.append("created")
                    continue
                keep_previous(conn, row, self.history_versions)
                conn.execute(
                    "UPDATE memories SET text = ?, metadata = ?, content_hash = ?,"
                    " created_at = ?, updated_at = ?, expires_at = ?, version = version + 1"
                    " WHERE rowid = ?",
                    (memory.text, _dump(memory.metadata), memory.content_hash,
                     item.created_at, item.updated_at, memory.expires_at, row["rowid"]),
                )  # fmt: skip
                if memory.text != row["text"]:
                    self._reindex_words(conn, scope, row["rowid"], memory.text)
                self._write_vectors(conn, row["rowid"], scope, memory.vectors, row["chunk_count"])
                outcomes.append("updated")
        return outcomes

    def _lock_scopes(self, conn: Connection, scopes: list[Scope]) -> None:
        """Writers of a workspace take turns, as on SQLite, where every writer does.

        The checks before a write (a taken id, a duplicate, a version) then hold until it
        commits on PostgreSQL too; in one order, so two multi-scope writers cannot deadlock.
        """
        for owner, workspace in sorted({(s.owner, s.workspace) for s in scopes}):
            self.db.serialize(conn, f"memories:{owner}/{workspace}")

    def _emit(self, conn: Connection, scope: Scope, events: Callable | None, subject: Any) -> None:
        if events is not None and self.outbox is not None:
            self.outbox(conn, scope, events(subject))

    def _row(self, conn: Connection, scope: Scope, memory_id: str) -> Any:
        """The live memory with this id; an expired one is gone (MemoryNotFound)."""
        row = conn.execute(
            f"SELECT {MEMORY_COLUMNS} FROM memories WHERE owner = ? AND workspace = ? AND id = ?"
            f" AND {live()}",
            (scope.owner, scope.workspace, memory_id, utc_now()),
        ).fetchone()
        if row is None:
            raise MemoryNotFound(memory_id)
        return row

    def _reindex_words(self, conn: Connection, scope: Scope, rowid: int, new_text: str) -> None:
        """Index a memory's new text for keyword search in place of its old one."""
        self.keywords.replace(conn, scope, rowid, keyword_terms.terms(new_text))

    def _write_vectors(
        self, conn: Connection, rowid: int, scope: Scope, vectors: np.ndarray, old_count: int
    ) -> None:
        if self.vectors is None:
            raise VectorIndexNotReady("bind_embedding_model() must run before vectors are written")
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        if not 1 <= len(vectors) <= CHUNK_SLOTS:
            raise ValueError(f"a memory needs 1 to {CHUNK_SLOTS} vectors, got {len(vectors)}")
        # vec0 0.1.9 cannot INSERT OR REPLACE: delete, then insert, in the caller's transaction.
        self._delete_vectors(conn, scope, chunk_ids(rowid, old_count))
        self.vectors.write(conn, scope.partition, chunk_ids(rowid, len(vectors)), vectors)
        conn.execute("UPDATE memories SET chunk_count = ? WHERE rowid = ?", (len(vectors), rowid))

    def _memory_vector(self, conn: Connection, row: Any) -> list[float] | None:
        """One vector for the memory: its only chunk's, or the normalized mean of its chunks."""
        if self.vectors is None:
            return None
        _, vectors = self.vectors.vectors(conn, chunk_ids(row["rowid"], row["chunk_count"]))
        if not len(vectors):
            return None
        vector = vectors[0]
        if len(vectors) > 1:
            mean = vectors.mean(axis=0)
            vector = (mean / np.linalg.norm(mean)).astype(np.float32)
        # str() of a float32 is its shortest exact form: no float64 noise in the JSON.
        return [float(str(x)) for x in vector]

    def _delete_vectors(self, conn: Connection, scope: Scope, ids: list[int]) -> None:
        # Nothing to do before the index exists (a fresh database has no vectors).
        if self.vectors is not None:
            self.vectors.delete(conn, scope.partition, ids)


@dataclass(frozen=True)
class ImportedMemory:
    """A memory from an export file, kept in its scope with its own timestamps.

    `memory.vectors` may be None while the import only asks which memories are unchanged.
    """

    scope: Scope
    memory: NewMemory
    created_at: str
    updated_at: str


def _dump(metadata: dict[str, Any]) -> str:
    return json.dumps(metadata, ensure_ascii=False, separators=(",", ":"))


def _check_version(row: Any, if_match: Sequence[str] | None) -> None:
    """Raise PreconditionFailed unless the row is at one of the versions (or `*`) named."""
    if if_match is None:
        return
    etag = memory_etag(row["rowid"], row["updated_at"], row["content_hash"], row["metadata"])
    if "*" not in if_match and etag not in if_match:
        raise PreconditionFailed(row["id"], etag)


def memory_from_row(row: Any, embedding: list[float] | None = None) -> Memory:
    """A Memory from a row selected with MEMORY_COLUMNS."""
    return Memory(
        id=row["id"],
        text=row["text"],
        metadata=json.loads(row["metadata"]),
        content_hash=row["content_hash"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        embedding=embedding,
        etag=memory_etag(row["rowid"], row["updated_at"], row["content_hash"], row["metadata"]),
        expires_at=row["expires_at"],
    )
