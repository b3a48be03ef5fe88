"""A memory's versions: the earlier ones in `memory_history`, the current one in its own row.

Keeping only earlier versions here means a memory that is never changed costs nothing extra.
Rows are keyed by the memory's rowid: a trigger (migration 9) deletes them with the memory,
and an id created again later starts a history of its own. No Flask here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from memory_server.storage.database import Connection


@dataclass(frozen=True)
class Version:
    """One version of a memory: what it held, from when, and the change that made it."""

    version: int
    event: str
    text: str
    metadata: dict[str, Any]
    changed_at: str


def event_of(version: int) -> str:
    """The change that made a version: the first is the create, every later one an update."""
    return "created" if version == 1 else "updated"


def keep_previous(conn: Connection, row: Any, max_versions: int) -> None:
    """Before `row` (a memory selected with MEMORY_COLUMNS) changes, keep it as a version.

    At most `max_versions` versions of a memory are kept, the current one included: the
    oldest go first. 0 or 1 keeps none here (history off, or only the current version).
    """
    if max_versions < 2:
        return
    conn.execute(
        "INSERT INTO memory_history"
        " (memory_rowid, version, event, text, metadata, changed_at) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (memory_rowid, version) DO UPDATE SET event = excluded.event,"
        " text = excluded.text, metadata = excluded.metadata, changed_at = excluded.changed_at",
        (row["rowid"], row["version"], event_of(row["version"]), row["text"], row["metadata"],
         row["updated_at"]),
    )  # fmt: skip
    # After this change the memory is at version + 1; keep the max_versions - 1 before it.
    oldest_kept = row["version"] + 2 - max_versions
    conn.execute(
        "DELETE FROM memory_history WHERE memory_rowid = ? AND version < ?",
        (row["rowid"], oldest_kept),
    )


def versions(conn: Connection, row: Any, max_versions: int) -> list[Version]:
    """The newest `max_versions` versions of the memory in `row`, oldest first.

    The last is the current one. A cap lowered since older versions were kept applies at
    once here, and to what is stored at the memory's next change.
    """
    earlier = conn.execute(
        "SELECT version, event, text, metadata, changed_at FROM memory_history"
        " WHERE memory_rowid = ? AND version < ? AND version > ? ORDER BY version",
        (row["rowid"], row["version"], row["version"] - max_versions),
    ).fetchall()
    found = [
        Version(r["version"], r["event"], r["text"], json.loads(r["metadata"]), r["changed_at"])
        for r in earlier
    ]
    found.append(
        Version(
            row["version"],
            event_of(row["version"]),
            row["text"],
            json.loads(row["metadata"]),
            row["updated_at"],
        )
    )
    return found


def count(conn: Connection) -> int:
    """How many earlier versions the whole database keeps."""
    return conn.execute("SELECT count(*) FROM memory_history").fetchone()[0]
