"""SQLite connections for the whole process: sqlean + sqlite-vec, WAL, one connection per thread."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# sqlean is a drop-in sqlite3 that can load extensions on every platform; the whole process
# uses only this driver, because two SQLite copies in one process break POSIX locking.
import sqlean as sqlite3
import sqlite_vec

import migrations

Connection = sqlite3.Connection
IntegrityError = sqlite3.IntegrityError
DatabaseError = sqlite3.DatabaseError

BUSY_TIMEOUT_MS = 10_000


class Database:
    """Hands each thread its own connection to one SQLite file and runs write transactions."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._local = threading.local()

    def open_connection(self) -> Connection:
        """Open a new, configured connection (the caller owns and closes it)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: the driver never opens transactions behind our back;
        # every write transaction is an explicit BEGIN IMMEDIATE (see `transaction`).
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=True, timeout=BUSY_TIMEOUT_MS / 1000
        )
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        conn.enable_load_extension(False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
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
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

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
        """Bring the schema up to date on a short-lived connection; return the schema version."""
        conn = self.open_connection()
        try:
            return migrations.apply(conn)
        finally:
            conn.close()
