"""Rows copied from one database to another as they are, on either backend. No Flask here.

What `memory-server copy-to` moves besides the memories themselves (which go through the
import path: memory_service.py): API keys, webhook endpoints and topics (tables with the same
columns on both backends, copied by id), and each memory's earlier versions with its version
number (found in the target by owner, workspace and id: rowids differ between databases).
Running it again finishes an interrupted copy and brings over what changed in the source.
"""

from __future__ import annotations

from typing import Any

# Tables whose rows copy as they are, each with the column that identifies a row.
BY_ID = {"api_keys": "id", "webhook_endpoints": "id", "topics": "id"}
BATCH = 500


def copy_table(source: Any, target: Any, table: str) -> int:
    """Copy every row of one of BY_ID's tables, the source's version winning; how many.

    A row the target has already is overwritten, so a second run carries what changed in
    the source meanwhile: a key revoked, a webhook's secret rotated, a topic renamed.
    """
    key = BY_ID[table]  # only known tables: their names go into the SQL
    with source.snapshot() as conn:
        cursor = conn.execute(f"SELECT * FROM {table} ORDER BY {key}")
        columns = [column[0] for column in cursor.description]
        rows = [tuple(row) for row in cursor.fetchall()]
    updates = ", ".join(f"{column} = excluded.{column}" for column in columns if column != key)
    for first in range(0, len(rows), BATCH):
        with target.transaction() as conn:
            conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)})"
                f" VALUES ({', '.join('?' * len(columns))})"
                f" ON CONFLICT ({key}) DO UPDATE SET {updates}",
                rows[first : first + BATCH],
            )
    return len(rows)


def copy_history(source: Any, target: Any) -> int:
    """Copy every memory's kept versions and its version number; how many versions were new.

    Run after the memories are in the target; a memory the target lacks is skipped.
    """
    with source.snapshot() as conn:
        versions = conn.execute(
            "SELECT m.owner, m.workspace, m.id, h.version, h.event,"
            " h.text, h.metadata, h.changed_at FROM memory_history h"
            " JOIN memories m ON m.rowid = h.memory_rowid ORDER BY h.memory_rowid, h.version"
        ).fetchall()
        numbers = conn.execute(
            "SELECT owner, workspace, id, version FROM memories WHERE version > 1"
        ).fetchall()
    inserted = 0
    for first in range(0, max(len(versions), len(numbers)), BATCH):
        with target.transaction() as conn:
            # The next change must number its version after the copied ones.
            for owner, workspace, memory_id, version in numbers[first : first + BATCH]:
                conn.execute(
                    "UPDATE memories SET version = ? WHERE owner = ? AND workspace = ?"
                    " AND id = ? AND version < ?",
                    (version, owner, workspace, memory_id, version),
                )
            for row in versions[first : first + BATCH]:
                inserted += conn.execute(
                    "INSERT INTO memory_history"
                    " (memory_rowid, version, event, text, metadata, changed_at)"
                    " SELECT rowid, ?, ?, ?, ?, ? FROM memories"
                    " WHERE owner = ? AND workspace = ? AND id = ?"
                    " ON CONFLICT (memory_rowid, version) DO NOTHING",
                    (row["version"], row["event"], row["text"], row["metadata"],
                     row["changed_at"], row["owner"], row["workspace"], row["id"]),
                ).rowcount  # fmt: skip
    return inserted
