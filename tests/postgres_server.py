"""A real PostgreSQL 16 with pgvector for the tests: the pgserver wheel, on a Unix socket.

No PostgreSQL needs to be installed: the wheel carries the server binaries and pgvector.
It listens on a socket in a temp folder only (no TCP port), and is stopped by `stop`.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import warnings
from pathlib import Path

import psycopg


class PostgresForTests:
    """One PostgreSQL server for a test session; `new_database()` gives each test its own."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="memory-pg-"))
        # pgserver keeps a lock file in platformdirs' runtime folder, which warns (an error
        # under this suite's filterwarnings) and falls back to /tmp/runtime-UID without
        # XDG_RUNTIME_DIR: that fallback is fine.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver

            # "delete": stopping it deletes its data folder too.
            self.server = pgserver.get_server(self.folder / "data", cleanup_mode="delete")
        self.admin_url = self.server.get_uri()

    def new_database(self) -> str:
        """A new, empty database on this server; its URL (a Unix-socket host)."""
        name = "test_" + secrets.token_hex(6)
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.server.get_uri(name)

    def stop(self) -> None:
        """Stop the server and delete its files."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.server.cleanup()
        shutil.rmtree(self.folder, ignore_errors=True)
