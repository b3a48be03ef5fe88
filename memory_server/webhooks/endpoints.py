"""Webhook endpoints per workspace and their delivery log, in the memory database. No Flask."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from memory_server.clock import utc_now
from memory_server.scope import Scope
from memory_server.storage.database import Database

if TYPE_CHECKING:  # psycopg is imported only by a server that uses PostgreSQL
    from memory_server.storage.postgres.database import PostgresDatabase

EVENT_TYPES = (
    "memory.created",
    "memory.updated",
    "memory.deleted",
    "memory.expired",
    "embedding.generated",
)
MAX_ENDPOINTS_PER_WORKSPACE = 50


class WebhookNotFound(LookupError):
    """No webhook endpoint with that id in that scope."""

    def __init__(self, endpoint_id: str) -> None:
        super().__init__(endpoint_id)
        self.endpoint_id = endpoint_id


class TooManyWebhooks(Exception):
    """The workspace already has the most endpoints allowed."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


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


class EndpointRegistry:
    """The endpoints each scope registered, and what was attempted for each."""

    def __init__(self, db: Database | PostgresDatabase) -> None:
        self.db = db

    def create(
        self, scope: Scope, url: str, events: list[str], description: str | None = None
    ) -> NewEndpoint:
        """Register an endpoint; its secret is returned only here."""
        now, secret = utc_now(), new_secret()
        endpoint_id = f"wh_{secrets.token_hex(12)}"
        with self.db.transaction() as conn:
            # The limit holds when two registrations race (PostgreSQL runs them side by side).
            self.db.serialize(conn, f"webhooks:{scope.owner}/{scope.workspace}")
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
