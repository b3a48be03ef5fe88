"""PostgreSQL connections for the whole process: a psycopg pool, transactions, migrations.

Several hosts share one database: migrations run under an advisory lock, so hosts starting
together apply each one exactly once; every other host waits, then finds the schema current.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from memory_server.storage.database import BackupNotHere, DatabaseUnusable
from memory_server.storage.postgres import schema
from memory_server.storage.postgres.dialect import POSTGRES
from memory_server.storage.postgres.portable import Fetched, PortableConnection
from memory_server.storage.postgres.url import redacted

# A constant of this project (the first bytes of "memory-s"): two servers of it on one
# database take the same lock; other applications are unlikely to use this number.
MIGRATION_LOCK = 0x6D656D6F72792D73
CONNECT_TIMEOUT_S = 10


class OneShot:
    """`PostgresDatabase.connection()`: each statement on a pooled connection, read whole."""

    dialect = POSTGRES

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Fetched:
        """Run one statement in its own transaction; its rows and row count."""
        with self.db.pool().connection() as conn:
            cursor = PortableConnection(conn).execute(sql, params)
            rows = cursor.fetchall() if cursor.description else []
            return Fetched(rows, cursor.rowcount)


class PostgresDatabase:
    """A pool of connections to one PostgreSQL database, shared by the threads of a process.

    `min_size`/`max_size`: connections kept open and the most a process opens (one per
    request thread and background job is enough).
    """

    dialect = POSTGRES
    integrity_error = psycopg.errors.IntegrityError

    def __init__(self, url: str, min_size: int = 1, max_size: int = 16) -> None:
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        self._pool: ConnectionPool | None = None
        self._pid = 0
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The database's URL without its password."""
        return redacted(self.url)

    @property
    def location(self) -> str:
        """What MEMORY_API_DB says to open this database again (storage/open_database.py)."""
        return self.url

    def pool(self) -> ConnectionPool:
        """The process's pool, opened on first use and again in a forked child."""
        # A pool must never cross fork(): the child drops the parent's (its sockets belong to
        # the parent) and opens its own.
        if self._pool is None or self._pid != os.getpid():
            with self._lock:
                if self._pool is None or self._pid != os.getpid():
                    self._pool = ConnectionPool(
                        self.url,
                        min_size=self.min_size,
                        max_size=self.max_size,
                        kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
                        open=True,
                        name="memory-server",
                    )
                    self._pid = os.getpid()
        return self._pool

    def connection(self) -> OneShot:
        """Statements each run on a pooled connection of their own (autocommit), read whole.

        The SQLite backend's `connection()` is the thread's connection; here a bare read
        borrows one from the pool only for as long as it runs.
        """
        return OneShot(self)

    @contextmanager
    def transaction(self) -> Iterator[PortableConnection]:
        """A write transaction: COMMIT on success, ROLLBACK on any error."""
        with self.pool().connection() as conn, conn.transaction():
            yield PortableConnection(conn)

    @contextmanager
    def snapshot(self) -> Iterator[PortableConnection]:
        """A read-only transaction, so several queries see one consistent state."""
        with self.pool().connection() as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            try:
                yield PortableConnection(conn)
            finally:
                conn.execute("COMMIT")

    @staticmethod
    def open_vector_index(conn: PortableConnection, dimension: int, model: str | None) -> Any:
        """The database's vector index (pgvector), its table and indexes made when missing."""
        from memory_server.storage.postgres.vector_index import PgVectorIndex

        return PgVectorIndex.open(conn, dimension, model)

    @staticmethod
    def keyword_index() -> Any:
        """The database's keyword index: full-text search (storage/postgres/keyword_index.py)."""
        from memory_server.storage.postgres.keyword_index import FullTextKeywordIndex

        return FullTextKeywordIndex()

    @staticmethod
    def vector_moves() -> Any:
        """Reembed's vector steps on this backend (storage/postgres/vector_index.py)."""
        from memory_server.storage.postgres.vector_index import PgVectorMoves

        return PgVectorMoves

    @staticmethod
    def hold_all_writes(conn: PortableConnection) -> None:
        """Inside a transaction: no other transaction may write memories until it ends."""
        conn.execute("LOCK TABLE memories IN SHARE ROW EXCLUSIVE MODE")

    @staticmethod
    def serialize(conn: PortableConnection, name: str) -> None:
        """Inside a transaction: wait until no other transaction holds `name`, then hold it.

        SQLite runs one write transaction at a time; PostgreSQL runs them side by side, so
        a check-then-write that must not race (the first key, say) takes this lock first.
        It is released when the transaction ends.
        """
        conn.raw.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (name,))

    def close(self) -> None:
        """Close this process's pool, if it has one."""
        if self._pool is not None and self._pid == os.getpid():
            self._pool.close()
        self._pool = None

    def schema_version(self) -> int:
        """The version the schema is at (the highest migration applied)."""
        row = self.connection().execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
        return row.fetchone()[0]

    def space(self) -> dict[str, int | bool | None]:
        """The database's size; PostgreSQL manages its own disk, so no free space or limit."""
        row = self.connection().execute("SELECT pg_database_size(current_database())")
        return {"used_bytes": row.fetchone()[0], "full": False}

    def backup(self, destination: str) -> None:
        """Refuse: a PostgreSQL database is backed up with its own tools."""
        raise BackupNotHere(
            f"{self.name} is a PostgreSQL database: back it up with pg_dump "
            f"(pg_dump --format=custom --file={destination} DBNAME), or your provider's backups"
        )

    def migrate(self) -> int:
        """Bring the schema up to date, once across every host starting now; return its version.

        The advisory lock is held for the whole run by one session: a second host blocks on
        it, then sees the new version and has nothing left to do.
        """
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            raise DatabaseUnusable(f"cannot connect to {self.name}: {_first_line(exc)}") from exc
        try:
            conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            try:
                return _apply(conn)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        except SchemaTooNew as exc:
            raise DatabaseUnusable(f"the database {self.name}: {exc}") from exc
        except psycopg.Error as exc:
            raise DatabaseUnusable(f"cannot use {self.name}: {_first_line(exc)}") from exc
        finally:
            conn.close()


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer server than this one."""


def _apply(conn: psycopg.Connection) -> int:
    """Apply every pending migration, each in its own transaction with its version row."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    (version,) = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    if version > len(schema.MIGRATIONS):
        raise SchemaTooNew(
            f"schema version {version} is newer than this server ({len(schema.MIGRATIONS)}): "
            "upgrade the server before using this database"
        )
    for number in range(version + 1, len(schema.MIGRATIONS) + 1):
        with conn.transaction():
            conn.execute(schema.MIGRATIONS[number - 1])
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (number,))
    return len(schema.MIGRATIONS)


def _first_line(exc: Exception) -> str:
    """A driver error's first line (libpq adds hints on the next ones)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
