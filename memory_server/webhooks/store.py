"""Webhook endpoints, the event outbox and the delivery log, in the memory database. No Flask."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from memory_server.clock import from_unix, utc_now
from memory_server.scope import Scope
from memory_server.storage.database import Connection, Database

EVENT_TYPES = ("memory.created", "memory.updated", "memory.deleted", "embedding.generated")
MAX_ENDPOINTS_PER_WORKSPACE = 50
# Delivered and failed deliveries (and their attempts) are kept this long for the log.
LOG_RETENTION_SECONDS = 7 * 24 * 3600


class WebhookNotFound(LookupError):
    """No webhook endpoint with that id in that scope."""


class TooManyWebhooks(Exception):
    """The workspace already has the most endpoints allowed."""


@dataclass(frozen=True)
class Event:
    """Something that happened to a memory, to be delivered to subscribed endpoints."""

    type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Endpoint:
    """A registered webhook receiver (never its secret)."""

    id: str
    url: str
    events: tuple[str, ...]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class NewEndpoint:
    """An endpoint just created: the only moment its secret is shown."""

    endpoint: Endpoint
    secret: str


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


@dataclass(frozen=True)
class Attempt:
    """One try at delivering an event, as the delivery log shows it."""

    event_id: str
    event_type: str
    attempt: int
    attempted_at: str
    status_code: int | None
    error: str | None
    duration_ms: float
    outcome: str
    next_retry_at: str | None


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


_ENDPOINT_COLUMNS = "id, url, events, description, enabled, disabled_reason, created_at, updated_at"


class WebhookStore:
    """Endpoints per scope, and the outbox every memory change writes its events into."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self, scope: Scope, url: str, events: list[str], description: str | None = None
    ) -> NewEndpoint:
        """Register an endpoint; its secret is returned only here."""
        now, secret = utc_now(), new_secret()
        endpoint_id = f"wh_{secrets.token_hex(12)}"
        with self.db.transaction() as conn:
            count = conn.execute(
                "SELECT count(*) FROM webhook_endpoints WHERE owner = ? AND workspace = ?",
                (scope.owner, scope.workspace),
            ).fetchone()[0]
            if count >= MAX_ENDPOINTS_PER_WORKSPACE:
                raise TooManyWebhooks(MAX_ENDPOINTS_PER_WORKSPACE)
            conn.execute(
                "INSERT INTO webhook_endpoints (id, owner, workspace, url, description, events,"
                " secret, enabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
                (endpoint_id, scope.owner, scope.workspace, url, description,
                 json.dumps(events), secret, now, now),
            )  # fmt: skip
        endpoint = Endpoint(endpoint_id, url, tuple(events), description, True, None, now, now)
        return NewEndpoint(endpoint, secret)

    def list(self, scope: Scope) -> list[Endpoint]:
        """The scope's endpoints, oldest first."""
        rows = self.db.connection().execute(
            f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints"
            " WHERE owner = ? AND workspace = ? ORDER BY created_at, id",
            (scope.owner, scope.workspace),
        )
        return [_endpoint(row) for row in rows]

    def get(self, scope: Scope, endpoint_id: str) -> Endpoint:
        """One endpoint of the scope; raise WebhookNotFound otherwise."""
        row = (
            self.db.connection()
            .execute(
                f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints"
                " WHERE owner = ? AND workspace = ? AND id = ?",
                (scope.owner, scope.workspace, endpoint_id),
            )
            .fetchone()
        )
        if row is None:
            raise WebhookNotFound(endpoint_id)
        return _endpoint(row)

    def update(self, scope: Scope, endpoint_id: str, **changes: Any) -> Endpoint:
        """Change url, events, description and/or enabled; enabling clears the disabled reason."""
        columns = {key: value for key, value in changes.items() if value is not None}
        if "events" in columns:
            columns["events"] = json.dumps(columns["events"])
        if "enabled" in columns:
            columns["enabled"] = int(columns["enabled"])
            columns["disabled_reason"] = None if columns["enabled"] else "disabled by its owner"
        columns["updated_at"] = utc_now()
        assignments = ", ".join(f"{column} = ?" for column in columns)
        with self.db.transaction() as conn:
            changed = conn.execute(
                f"UPDATE webhook_endpoints SET {assignments}"
                " WHERE owner = ? AND workspace = ? AND id = ?",
                (*columns.values(), scope.owner, scope.workspace, endpoint_id),
            )
            if changed.rowcount == 0:
                raise WebhookNotFound(endpoint_id)
        return self.get(scope, endpoint_id)

    def delete(self, scope: Scope, endpoint_id: str) -> None:
        """Remove an endpoint with its pending deliveries and its log."""
        with self.db.transaction() as conn:
            deleted = conn.execute(
                "DELETE FROM webhook_endpoints WHERE owner = ? AND workspace = ? AND id = ?",
                (scope.owner, scope.workspace, endpoint_id),
            )
            if deleted.rowcount == 0:
                raise WebhookNotFound(endpoint_id)

    def attempts(self, scope: Scope, endpoint_id: str, limit: int = 50) -> list[Attempt]:
        """The endpoint's most recent delivery attempts, newest first."""
        self.get(scope, endpoint_id)
        rows = self.db.connection().execute(
            "SELECT event_id, event_type, attempt, attempted_at, status_code, error, duration_ms,"
            " outcome, next_retry_at FROM webhook_attempts WHERE endpoint_id = ?"
            " ORDER BY rowid DESC LIMIT ?",
            (endpoint_id, limit),
        )
        return [Attempt(*row) for row in rows]

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
        with self.db.transaction() as conn:
            rows = conn.execute(
                "UPDATE webhook_deliveries SET lease_until = ?, lease_token = ?"
                " WHERE rowid IN (SELECT rowid FROM ("
                # The endpoint's earliest due delivery (SQLite takes rowid from the min row).
                "   SELECT d.rowid AS rowid, min(d.next_attempt_at) AS due"
                "   FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id"
                "   WHERE d.state = 'pending' AND d.next_attempt_at <= ? AND e.enabled = 1"
                "   AND d.endpoint_id NOT IN (SELECT value FROM json_each(?))"
                "   AND e.owner NOT IN (SELECT value FROM json_each(?))"
                "   AND NOT EXISTS (SELECT 1 FROM webhook_deliveries x"
                "     WHERE x.endpoint_id = d.endpoint_id AND x.lease_until >= ?)"
                "   GROUP BY d.endpoint_id ORDER BY due LIMIT ?))"
                " RETURNING rowid, endpoint_id, event_id, event_type, attempts",
                (now + lease_seconds, token, now, json.dumps(list(busy_endpoints)),
                 json.dumps(list(full_owners)), now, limit),
            ).fetchall()  # fmt: skip
            endpoints = {
                row["id"]: row
                for row in conn.execute(
                    "SELECT id, owner, url, secret FROM webhook_endpoints"
                    " WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps(sorted({row["endpoint_id"] for row in rows})),),
                )
            }
            payloads = dict(
                conn.execute(
                    "SELECT id, payload FROM webhook_events"
                    " WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps(sorted({row["event_id"] for row in rows})),),
                ).fetchall()
            )
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
                "SELECT min(max(d.next_attempt_at, d.lease_until)) FROM webhook_deliveries d"
                " JOIN webhook_endpoints e ON e.id = d.endpoint_id"
                " WHERE d.state = 'pending' AND e.enabled = 1"
            )
            .fetchone()
        )
        return row[0]


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        id=row["id"],
        url=row["url"],
        events=tuple(json.loads(row["events"])),
        description=row["description"],
        enabled=bool(row["enabled"]),
        disabled_reason=row["disabled_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
