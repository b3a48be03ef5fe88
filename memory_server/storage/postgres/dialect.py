"""PostgreSQL's side of storage/dialect.py."""

from __future__ import annotations

from memory_server.storage.dialect import Dialect
from memory_server.storage.postgres.filters_sql import filter_sql

POSTGRES = Dialect(
    name="postgresql",
    in_list=lambda column: f"{column} = ANY(?)",
    list_param=list,
    greatest=lambda a, b: f"greatest({a}, {b})",
    filter_sql=filter_sql,
    names_thread=lambda key: f"jsonb_typeof(metadata_doc -> '{key}') IN ('string', 'number')",
    expired_in_scope=(
        "SELECT rowid FROM memories"
        " WHERE expires_at IS NOT NULL AND expires_at <= ? AND owner = ? AND workspace = ?"
    ),
    # Claims run one at a time (Outbox.claim serializes them), so the no-lease check and
    # the lease cannot race between hosts; DISTINCT ON picks each endpoint's earliest.
    claim_deliveries=(
        "UPDATE webhook_deliveries SET lease_until = ?, lease_token = ?"
        " WHERE rowid IN (SELECT rowid FROM ("
        "   SELECT DISTINCT ON (d.endpoint_id) d.rowid AS rowid, d.next_attempt_at AS due"
        "   FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id"
        "   WHERE d.state = 'pending' AND d.next_attempt_at <= ? AND e.enabled = 1"
        "   AND NOT d.endpoint_id = ANY(?)"
        "   AND NOT e.owner = ANY(?)"
        "   AND NOT EXISTS (SELECT 1 FROM webhook_deliveries x"
        "     WHERE x.endpoint_id = d.endpoint_id AND x.lease_until >= ?)"
        "   ORDER BY d.endpoint_id, d.next_attempt_at, d.rowid) earliest"
        "   ORDER BY due LIMIT ?)"
        " RETURNING rowid, endpoint_id, event_id, event_type, attempts"
    ),
)
