"""The outbox: events every memory change writes in its own transaction, leased to senders.

Deliveries are claimed under a lease (one attempt in flight per endpoint, across processes),
settled with their outcome, and pruned after the log retention. No Flask.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from memory_server.clock import from_unix, utc_now
from memory_server.scope import Scope
from memory_server.storage.database import Connection, Database

if TYPE_CHECKING:  # psycopg is imported only by a server that uses PostgreSQL
    from memory_server.storage.postgres.database import PostgresDatabase

# Delivered and failed deliveries (and their attempts) are kept this long for the log.
LOG_RETENTION_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Event:
    """Something that happened to a memory, to be delivered to subscribed endpoints."""

    type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Claimed:
    """A due delivery this process holds the lease for."""

    rowid: int
    endpoint_id: str
    owner: str
    url: str
    secret: str
    event_id: str
    event_type: str
    payload: str
    attempt: int
    lease_token: str


@dataclass(frozen=True)
class Outcome:
    """How one attempt at a claimed delivery ended, and what happens next."""

    claimed: Claimed
    outcome: str  # delivered | retrying | failed
    attempted_at: str
    status_code: int | None
    error: str | None
    duration_ms: float
    retry_at: float | None = None
    disable_reason: str | None = None


class Outbox:
    """Pending deliveries: written with each change, claimed, settled, pruned."""

    def __init__(self, db: Database | PostgresDatabase) -> None:
        self.db = db

    @staticmethod
    def enqueue(conn: Connection, scope: Scope, events: list[Event]) -> int:
        """Write events for every enabled, subscribed endpoint, in the caller's transaction."""
        endpoints = [
            (endpoint_id, set(json.loads(subscribed)))
            for endpoint_id, subscribed in conn.execute(
                "SELECT id, events FROM webhook_endpoints"
                " WHERE owner = ? AND workspace = ? AND enabled = 1",
                (scope.owner, scope.workspace),
            )
        ]
        if not endpoints:
            return 0
        now, events_rows, rows = time.time(), [], []
        for event in events:
            subscribers = [e for e, subscribed in endpoints if event.type in subscribed]
            if not subscribers:
                continue
            event_id = f"evt_{secrets.token_hex(12)}"
            payload = json.dumps(
                {
                    "id": event_id,
                    "type": event.type,
                    "created_at": from_unix(now),
                    "workspace_id": scope.workspace,
                    "data": event.data,
                },
                ensure_ascii=False,
                separators=(",", ":"),
            )
            events_rows.append((event_id, event.type, payload, now))
            rows += [(endpoint_id, event_id, event.type, now) for endpoint_id in subscribers]
        # The payload once, however many endpoints get it; one delivery row per endpoint.
        conn.executemany(
            "INSERT INTO webhook_events (id, type, payload, created_at) VALUES (?, ?, ?, ?)",
            events_rows,
        )
        conn.executemany(
            "INSERT INTO webhook_deliveries"
            " (endpoint_id, event_id, event_type, state, next_attempt_at)"
            " VALUES (?, ?, ?, 'pending', ?)",
            rows,
        )
        return len(rows)

    def claim(
        self,
        limit: int,
        lease_seconds: float,
        busy_endpoints: Sequence[str] = (),
        full_owners: Sequence[str] = (),
    ) -> list[Claimed]:
        """Take the lease on up to `limit` due deliveries, at most one per endpoint.

        An endpoint with an attempt in flight (here: `busy_endpoints`, or under a lease held
        by another process) gets none, nor do endpoints of `full_owners`. No other process
        gets the claimed deliveries until the lease ends.
        """
        now, token = time.time(), secrets.token_hex(8)
        sql = self.db.dialect
        with self.db.transaction() as conn:
            # One claim at a time, across processes and hosts: the check that an endpoint
            # has no lease and the new lease must not interleave with another claim's.
            self.db.serialize(conn, "outbox.claim")
            rows = conn.execute(
                sql.claim_deliveries,
                (now + lease_seconds, token, now, sql.list_param(busy_endpoints),
                 sql.list_param(full_owners), now, limit),
            ).fetchall()  # fmt: skip
            endpoints = {
                row["id"]: row
                for row in conn.execute(
                    "SELECT id, owner, url, secret FROM webhook_endpoints"
                    f" WHERE {sql.in_list('id')}",
                    (sql.list_param(sorted({row["endpoint_id"] for row in rows})),),
                )
            }
            payloads = {
                row[0]: row[1]
                for row in conn.execute(
                    f"SELECT id, payload FROM webhook_events WHERE {sql.in_list('id')}",
                    (sql.list_param(sorted({row["event_id"] for row in rows})),),
                )
            }
        return [
            Claimed(
                row["rowid"],
                row["endpoint_id"],
                endpoints[row["endpoint_id"]]["owner"],
                endpoints[row["endpoint_id"]]["url"],
                endpoints[row["endpoint_id"]]["secret"],
                row["event_id"],
                row["event_type"],
                payloads[row["event_id"]],
                row["attempts"] + 1,
                token,
            )
            for row in rows
        ]

    def release(self, claimed: Sequence[Claimed]) -> None:
        """Give back leases not used: the deliveries are due again at once."""
        with self.db.transaction() as conn:
            conn.executemany(
                "UPDATE webhook_deliveries SET lease_until = 0, lease_token = NULL"
                " WHERE rowid = ? AND lease_token = ?",
                [(c.rowid, c.lease_token) for c in claimed],
            )

    def settle(self, outcomes: list[Outcome]) -> int:
        """Log attempts and settle their deliveries in one transaction; return how many settled.

        A delivery whose lease was lost meanwhile (taken over after expiry) is left alone.
        """
        settled = 0
        with self.db.transaction() as conn:
            for done in outcomes:
                claimed = done.claimed
                state = {"delivered": "delivered", "retrying": "pending", "failed": "failed"}
                # A settled delivery keeps its settling time in next_attempt_at, for `prune`.
                next_attempt_at = done.retry_at if done.outcome == "retrying" else time.time()
                updated = conn.execute(
                    "UPDATE webhook_deliveries SET state = ?, attempts = ?, next_attempt_at = ?,"
                    " lease_until = 0, lease_token = NULL WHERE rowid = ? AND lease_token = ?",
                    (state[done.outcome], claimed.attempt, next_attempt_at, claimed.rowid,
                     claimed.lease_token),
                )  # fmt: skip
                if updated.rowcount == 0:
                    continue
                settled += 1
                conn.execute(
                    "INSERT INTO webhook_attempts (delivery_rowid, endpoint_id, event_id,"
                    " event_type, attempt, attempted_at, status_code, error, duration_ms, outcome,"
                    " next_retry_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (claimed.rowid, claimed.endpoint_id, claimed.event_id, claimed.event_type,
                     claimed.attempt, done.attempted_at, done.status_code, done.error,
                     round(done.duration_ms, 1), done.outcome,
                     from_unix(done.retry_at) if done.retry_at else None),
                )  # fmt: skip
                if done.disable_reason:
                    conn.execute(
                        "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?,"
                        " updated_at = ? WHERE id = ?",
                        (done.disable_reason, utc_now(), claimed.endpoint_id),
                    )
        return settled

    def prune(self) -> int:
        """Forget settled deliveries (and their attempts) older than the log retention."""
        with self.db.transaction() as conn:
            deleted = conn.execute(
                "DELETE FROM webhook_deliveries WHERE state != 'pending' AND next_attempt_at < ?",
                (time.time() - LOG_RETENTION_SECONDS,),
            )
            # Payloads no delivery refers to any more (pruned, or of a deleted endpoint).
            conn.execute(
                "DELETE FROM webhook_events"
                " WHERE id NOT IN (SELECT event_id FROM webhook_deliveries)"
            )
        return deleted.rowcount

    def next_due(self) -> float | None:
        """When the earliest pending delivery of an enabled endpoint becomes due, if any."""
        row = (
            self.db.connection()
            .execute(
                "SELECT min("
                f"{self.db.dialect.greatest('d.next_attempt_at', 'd.lease_until')})"
                " FROM webhook_deliveries d"
                " JOIN webhook_endpoints e ON e.id = d.endpoint_id"
                " WHERE d.state = 'pending' AND e.enabled = 1"
            )
            .fetchone()
        )
        return row[0]
