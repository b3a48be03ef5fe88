"""Idempotency keys: the first answer to a create, kept 24 hours, replayed to retries. No Flask.

A request with a new key reserves it (an in-flight row) before it runs, and records its
answer and the memories it created after; a retry with the same key and body gets that answer
back, a concurrent one waits its turn with a 409, and the same key with another body is
refused. Once every memory a key created is deleted, the key is forgotten (a trigger on
memories: SQLite's migration 6, PostgreSQL's schema), so a retry never replays a 201 for
memories that are gone. The SQL is shared by both backends.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from memory_server.scope import Scope
from memory_server.storage.database import Database

if TYPE_CHECKING:  # psycopg is imported only by a server that uses PostgreSQL
    from memory_server.storage.postgres.database import PostgresDatabase

RETENTION_S = 24 * 3600
# A reservation older than this belongs to a request that died (a crashed worker): the key
# may be used again. Longer than any request can take (gunicorn's timeout is 120 s).
ABANDONED_AFTER_S = 180


@dataclass(frozen=True)
class Replay:
    """The recorded answer of the first request with a key."""

    status: int
    body: str
    location: str | None


class KeyInFlight(Exception):
    """The first request with this key has not answered yet."""


class KeyReused(Exception):
    """The key was first used for another request (another endpoint or body)."""


class IdempotencyStore:
    """Reserves, records and replays idempotency keys per owner and workspace."""

    def __init__(self, db: Database | PostgresDatabase) -> None:
        self.db = db

    def begin(self, scope: Scope, key: str, fingerprint: str) -> Replay | None:
        """Reserve the key for this request, or return the answer recorded for it."""
        now = time.time()
        with self.db.transaction() as conn:
            # Two requests with one key must not both find it free (PostgreSQL runs writers
            # side by side; SQLite one at a time).
            self.db.serialize(conn, f"idempotency:{scope.owner}/{scope.workspace}/{key}")
            # Expired keys go here, where the table is written anyway (index on created_at).
            conn.execute("DELETE FROM idempotency_keys WHERE created_at < ?", (now - RETENTION_S,))
            row = conn.execute(
                "SELECT fingerprint, status, body, location, created_at FROM idempotency_keys"
                " WHERE owner = ? AND workspace = ? AND key = ?",
                (scope.owner, scope.workspace, key),
            ).fetchone()
            if row is not None and row["fingerprint"] != fingerprint:
                raise KeyReused(key)
            if row is not None and row["status"] is not None:
                return Replay(row["status"], row["body"], row["location"])
            if row is not None and row["created_at"] > now - ABANDONED_AFTER_S:
                raise KeyInFlight(key)
            # An abandoned reservation (if any) is taken over: replaced whole.
            conn.execute(
                "DELETE FROM idempotency_keys WHERE owner = ? AND workspace = ? AND key = ?",
                (scope.owner, scope.workspace, key),
            )
            conn.execute(
                "INSERT INTO idempotency_keys"
                " (owner, workspace, key, fingerprint, created_at) VALUES (?, ?, ?, ?, ?)",
                (scope.owner, scope.workspace, key, fingerprint, now),
            )
        return None

    def complete(
        self,
        scope: Scope,
        key: str,
        status: int,
        body: str,
        location: str | None,
        memory_ids: Iterable[str] = (),
    ) -> None:
        """Record the answer that retries with this key will get, and what it created."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE idempotency_keys SET status = ?, body = ?, location = ?"
                " WHERE owner = ? AND workspace = ? AND key = ?",
                (status, body, location, scope.owner, scope.workspace, key),
            )
            ids = list(memory_ids)
            # Only memories still there: one deleted between the create and now would leave
            # the key replaying a 201 for nothing (the delete trigger had nothing to forget).
            conn.executemany(
                "INSERT INTO idempotency_memories (owner, workspace, key, memory_id)"
                " SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM memories"
                "   WHERE owner = ? AND workspace = ? AND id = ?) ON CONFLICT DO NOTHING",
                [
                    (scope.owner, scope.workspace, key, memory_id,
                     scope.owner, scope.workspace, memory_id)
                    for memory_id in ids
                ],
            )  # fmt: skip
            recorded = conn.execute(
                "SELECT 1 FROM idempotency_memories WHERE owner = ? AND workspace = ? AND key = ?",
                (scope.owner, scope.workspace, key),
            ).fetchone()
            if ids and not recorded:
                conn.execute(
                    "DELETE FROM idempotency_keys WHERE owner = ? AND workspace = ? AND key = ?",
                    (scope.owner, scope.workspace, key),
                )

    def release(self, scope: Scope, key: str) -> None:
        """Free a reservation whose request failed: a retry may run it afresh."""
        with self.db.transaction() as conn:
            conn.execute(
                "DELETE FROM idempotency_keys"
                " WHERE owner = ? AND workspace = ? AND key = ? AND status IS NULL",
                (scope.owner, scope.workspace, key),
            )
