"""The database MEMORY_API_DB names: a SQLite file (a path), or PostgreSQL (a URL)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from memory_server.storage.database import Database, DatabaseUnusable
from memory_server.storage.postgres.url import is_postgres_url, redacted

if TYPE_CHECKING:
    from memory_server.storage.postgres.database import PostgresDatabase


def open_database(location: str, max_bytes: int | None = None) -> Database | PostgresDatabase:
    """The database at `location` (nothing is opened yet: connections come on first use)."""
    if is_postgres_url(location):
        if max_bytes is not None:
            # Refused rather than ignored: whoever set it expects writes to stop at a size.
            raise DatabaseUnusable(
                "MEMORY_API_MAX_DATABASE_BYTES limits a SQLite file and cannot apply to "
                "PostgreSQL: unset it, and limit the database's size on its server"
            )
        # Only a server on PostgreSQL imports psycopg.
        from memory_server.storage.postgres.database import PostgresDatabase

        return PostgresDatabase(location)
    return Database(location, max_bytes)


def describe(location: str) -> str:
    """The database for logs: a file's absolute path, or a URL without its password."""
    import os

    return redacted(location) if is_postgres_url(location) else os.path.abspath(location)
