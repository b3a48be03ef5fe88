"""SQLite connections for the whole process: sqlean + sqlite-vec, WAL, one connection per thread."""

from __future__ import annotations

import math
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# sqlean is a drop-in sqlite3 that can load extensions on every platform; the whole process
# uses only this driver, because two SQLite copies in one process break POSIX locking.
import sqlean as sqlite3
import sqlite_vec

from memory_server.storage import migrations
from memory_server.storage.dialect import SQLITE

IntegrityError = sqlite3.IntegrityError
DatabaseError = sqlite3.DatabaseError

BUSY_TIMEOUT_MS = 10_000
SQLITE_FULL = 13
# Less free space than this on the database's disk counts as full: SQLite needs room for the
# WAL and for checkpoints before a write fails.
LOW_SPACE_BYTES = 16 * 1024 * 1024
# How long a write that found the disk full keeps /health saying so (space may come back).
FULL_MEMORY_SECONDS = 60


SQLITE_READONLY = 8
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26


class Connection(sqlite3.Connection):
    """A SQLite connection that names its dialect, as the PostgreSQL backend's connections do."""

    dialect = SQLITE


class DatabaseUnusable(Exception):
    """The database file cannot be used at all; the message names it and says why."""


class BackupNotHere(Exception):
    """`memory-server backup` does not copy this database: its engine's own tools do."""


class StorageFull(OSError):
    """A write failed for lack of space (the disk, or the database's size limit); rolled back."""


class Database:
    """Hands each thread its own connection to one SQLite file and runs write transactions.

    `max_bytes`: the largest the file may grow (SQLite's max_page_count); a write past it
    fails as on a full disk.
    """

    dialect = SQLITE
    integrity_error = sqlite3.IntegrityError

    def __init__(self, path: str | os.PathLike[str], max_bytes: int | None = None) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.full_at = 0.0  # when a write last found no space (time.time())
        self._local = threading.local()

    def open_connection(self) -> Connection:
        """Open a new, configured connection (the caller owns and closes it)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: the driver never opens transactions behind our back;
        # every write transaction is an explicit BEGIN IMMEDIATE (see `transaction`).
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=True,
            timeout=BUSY_TIMEOUT_MS / 1000,
            factory=Connection,
        )
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        conn.enable_load_extension(False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        if self.max_bytes is not None:
            page = conn.execute("PRAGMA page_size").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {max(1, math.floor(self.max_bytes / page))}")
        return conn

    def connection(self) -> Connection:
        """The calling thread's connection, opened on first use and reopened after a fork."""
        conn = getattr(self._local, "conn", None)
        # A connection must never be used across fork(): a child that inherited one drops
        # it without closing (closing could release the parent's locks) and opens its own.
        if conn is None or self._local.pid != os.getpid():
            conn = self.open_connection()
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def close(self) -> None:
        """Close this thread's connection, if it has one."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local.conn = None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction: BEGIN IMMEDIATE, COMMIT on success, ROLLBACK on any error."""
        conn = self.connection()
        # IMMEDIATE takes the write lock up front: a deferred read-to-write upgrade fails
        # at once with "database is locked" whatever the busy timeout.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")  # can fail too (a full disk): then it is rolled back
        except BaseException as exc:
            if conn.in_transaction:  # SQLite rolls some failures back by itself
                conn.execute("ROLLBACK")
            if getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL:
                self.full_at = time.time()
                raise StorageFull(f"no space left to write {self.path}") from exc
            raise

    @staticmethod
    def open_vector_index(conn: Connection, dimension: int, model: str | None) -> Any:
        """The database's vector index (sqlite-vec), its tables made when missing."""
        from memory_server.search.vector_index import VectorIndex  # it imports this module

        return VectorIndex.open(conn, dimension, model)

    @staticmethod
    def keyword_index() -> Any:
        """The database's keyword index: per-workspace BM25 postings (search/keyword_index.py)."""
        from memory_server.search.keyword_index import Bm25KeywordIndex  # it imports this module

        return Bm25KeywordIndex()

    @staticmethod
    def vector_moves() -> Any:
        """Reembed's vector steps on this backend (search/vector_index.py)."""
        from memory_server.search.vector_index import SqliteVectorMoves

        return SqliteVectorMoves

    @staticmethod
    def hold_all_writes(conn: Connection) -> None:
        """Inside a write transaction: nothing else may write until it ends (SQLite: so)."""

    @staticmethod
    def serialize(conn: Connection, name: str) -> None:
        """Inside a write transaction: nothing to do, SQLite runs one at a time already.

        (PostgreSQL's backend takes a lock named `name` here: storage/postgres/database.py.)
        """

    @property
    def name(self) -> str:
        """The database file, for messages."""
        return str(self.path)

    @property
    def location(self) -> str:
        """What MEMORY_API_DB says to open this database again (storage/open_database.py)."""
        return str(self.path)

    def schema_version(self) -> int:
        """The version the schema is at (PRAGMA user_version)."""
        return self.connection().execute("PRAGMA user_version").fetchone()[0]

    def space(self) -> dict[str, int | bool | None]:
        """Room left: free bytes on the database's disk, its size and limit, and whether full."""
        files = [self.path, self.path.with_name(self.path.name + "-wal")]
        used = sum(f.stat().st_size for f in files if f.exists())
        free = shutil.disk_usage(self.path.parent).free
        recently_full = time.time() - self.full_at < FULL_MEMORY_SECONDS
        return {
            "free_bytes": free,
            "used_bytes": used,
            "max_bytes": self.max_bytes,
            "full": free < LOW_SPACE_BYTES or recently_full,
        }

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read transaction, so several queries see one consistent state."""
        conn = self.connection()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def backup(self, destination: str | os.PathLike[str]) -> None:
        """Copy the database to `destination` as one consistent snapshot, safe while serving.

        SQLite's online backup copies every page under one read transaction (writers go on in
        WAL mode); the copy is checked with `PRAGMA integrity_check`, then renamed into place,
        so `destination` is either the previous file or a complete, verified snapshot.
        """
        destination = Path(destination)
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(destination.name + ".partial")
        partial.unlink(missing_ok=True)
        source = self.open_connection()
        try:
            target = sqlite3.connect(partial, isolation_level=None)
            target.enable_load_extension(True)
            sqlite_vec.load(target)  # the integrity check also checks the vec0 tables
            try:
                source.backup(target)
                (check,) = target.execute("PRAGMA integrity_check").fetchone()
                if check != "ok":
                    raise sqlite3.DatabaseError(f"the backup failed its integrity check: {check}")
                # One self-contained file: no -wal beside it to lose when it is copied around.
                target.execute("PRAGMA journal_mode = DELETE")
            finally:
                target.close()
            os.replace(partial, destination)
        finally:
            source.close()
            partial.unlink(missing_ok=True)

    def migrate(self) -> int:
        """Bring the schema up to date on a short-lived connection; return the schema version.

        A file that cannot be used (a folder that cannot be made, not a database, read-only,
        newer than this server) raises DatabaseUnusable with one clear sentence.
        """
        try:
            conn = self.open_connection()
        except OSError as exc:
            raise DatabaseUnusable(
                f"cannot create the folder of the database {self.path}: {exc.strerror or exc}"
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise DatabaseUnusable(_unusable(self.path, exc)) from exc
        try:
            return migrations.apply(conn)
        except sqlite3.DatabaseError as exc:
            raise DatabaseUnusable(_unusable(self.path, exc)) from exc
        except migrations.SchemaTooNew as exc:
            raise DatabaseUnusable(f"the database {self.path}: {exc}") from exc
        finally:
            conn.close()


def _unusable(path: Path, exc: Exception) -> str:
    """One sentence on why SQLite refused the file."""
    code = getattr(exc, "sqlite_errorcode", None)
    writable = os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))
    if code in (SQLITE_READONLY, SQLITE_CANTOPEN) and not writable:
        return (
            f"the database {path} is read-only: the server must be able to write it and its "
            "folder (its WAL and shared-memory files live beside it)"
        )
    if code == SQLITE_NOTADB:
        return f"{path} is not a SQLite database, or is damaged (restore a backup)"
    if code == SQLITE_READONLY:
        return f"the database {path} is read-only: the server must be able to write it"
    if code == SQLITE_CANTOPEN:
        return f"cannot open the database {path}: check that its folder exists and is writable"
    if code == SQLITE_FULL:
        return f"no space left to open the database {path}"
    return f"cannot use the database {path}: {exc}"
