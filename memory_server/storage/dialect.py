"""What SQL says differently on SQLite and PostgreSQL, for stores whose other SQL is shared.

Each backend's database object carries its dialect (`db.dialect`): the SQLite one here, the
PostgreSQL one in storage/postgres/dialect.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from memory_server.search.filters import Filters


@dataclass(frozen=True)
class Dialect:
    """SQL fragments and whole statements that differ between the two engines."""

    name: str
    # `column IN <one parameter holding a list>`, and how to pass that list.
    in_list: Callable[[str], str]
    list_param: Callable[[Iterable[Any]], Any]
    # The larger of two values of a row (SQLite's two-argument max()).
    greatest: Callable[[str, str], str]
    # The scope's expired, not yet purged memories (rowid), from the partial expiry index.
    # Parameters: now, owner, workspace.
    expired_in_scope: str
    # Whether a memory's metadata names a conversation under `key` (a string or a number):
    # storage/contexts.py's THREAD_KEYS.
    names_thread: Callable[[str], str]
    # A Filters tree as a WHERE fragment over `memories m` (never empty) and its parameters.
    filter_sql: Callable[[Filters], tuple[str, list[Any]]]
    # Outbox.claim: lease the earliest due delivery of up to N endpoints with none in flight.
    # Parameters: lease_until, token, now, busy endpoint ids, full owners, now, limit.
    claim_deliveries: str


SQLITE = Dialect(
    name="sqlite",
    in_list=lambda column: f"{column} IN (SELECT value FROM json_each(?))",
    list_param=lambda values: json.dumps(list(values)),
    greatest=lambda a, b: f"max({a}, {b})",
    filter_sql=Filters.to_sql,
    names_thread=lambda key: f"json_type(metadata, '$.{key}') IN ('text', 'integer', 'real')",
    # SQLite's planner would scan the workspace's rows; the expiry index holds only the few
    # memories with an expiry.
    expired_in_scope=(
        "SELECT rowid FROM memories INDEXED BY memories_expiry"
        " WHERE expires_at IS NOT NULL AND expires_at <= ? AND owner = ? AND workspace = ?"
    ),
    claim_deliveries=(
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
        " RETURNING rowid, endpoint_id, event_id, event_type, attempts"
    ),
)
