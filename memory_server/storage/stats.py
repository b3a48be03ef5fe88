"""Counts of what a database holds: for operators (`flask stats`) and for one caller. No Flask."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from memory_server.clock import utc_now
from memory_server.scope import Scope, partition_sql
from memory_server.storage.database import Database
from memory_server.storage.history import count as history_count


def database_stats(db: Database) -> dict[str, Any]:
    """Memories, workspaces, owners, keys, webhooks and file size of the whole database."""
    with db.snapshot() as conn:
        now = utc_now()
        memories, chunks, workspaces, owners = conn.execute(
            "SELECT count(*), coalesce(sum(chunk_count), 0),"
            f" count(DISTINCT {partition_sql()}), count(DISTINCT owner) FROM memories"
        ).fetchone()
        expiring, expired = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE expires_at <= ?) FROM memories"
            " WHERE expires_at IS NOT NULL",
            (now,),
        ).fetchone()
        active, inactive = conn.execute(
            "SELECT count(*) FILTER (WHERE revoked_at IS NULL"
            "  AND (expires_at IS NULL OR expires_at > ?)),"
            " count(*) FILTER (WHERE revoked_at IS NOT NULL OR expires_at <= ?) FROM api_keys",
            (now, now),
        ).fetchone()
        endpoints = conn.execute("SELECT count(*) FROM webhook_endpoints").fetchone()[0]
        pending = conn.execute(
            "SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'"
        ).fetchone()[0]
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        versions = history_count(conn)
    return {
        "path": db.name,
        "bytes": db.space()["used_bytes"],
        "memories": memories,
        "chunks": chunks,
        "memories_expiring": expiring,
        "memories_expired_unpurged": expired,
        "history_versions": versions,
        "workspaces": workspaces,
        "owners": owners,
        "keys": {"active": active, "revoked_or_expired": inactive},
        "webhook_endpoints": endpoints,
        "webhook_deliveries_pending": pending,
        "embedding_model": meta.get("embedding_model"),
        "embedding_dimension": int(meta["embedding_dimension"])
        if "embedding_dimension" in meta
        else None,
    }


def owner_stats(
    db: Database, scope: Scope, workspaces: Sequence[str] | None = None
) -> dict[str, Any]:
    """The caller's own counts: this workspace, and every workspace of the same owner.

    `workspaces`: only these (a key restricted to them learns nothing of the others).
    """
    only = ""
    if workspaces is not None:
        only = f" AND workspace IN ({', '.join('?' * len(workspaces))})"
    with db.snapshot() as conn:
        rows = conn.execute(
            "SELECT workspace, count(*), coalesce(sum(chunk_count), 0),"
            " min(created_at), max(updated_at)"
            " FROM memories WHERE owner = ? AND (expires_at IS NULL OR expires_at > ?)"
            f"{only} GROUP BY workspace ORDER BY workspace",
            (scope.owner, utc_now(), *(workspaces or ())),
        ).fetchall()
    workspaces = [
        {"workspace": workspace, "memories": memories, "chunks": chunks,
         "oldest_created_at": oldest, "last_updated_at": newest}
        for workspace, memories, chunks, oldest, newest in rows
    ]  # fmt: skip
    current = next(
        (w for w in workspaces if w["workspace"] == scope.workspace),
        {"workspace": scope.workspace, "memories": 0, "chunks": 0,
         "oldest_created_at": None, "last_updated_at": None},
    )  # fmt: skip
    return {
        **current,
        "owner": {
            "memories": sum(w["memories"] for w in workspaces),
            "workspaces": workspaces,
        },
    }
