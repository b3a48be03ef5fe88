"""Topics: named groups of memories per owner and workspace, on either backend. No Flask here.

LanOnasis' client organises memories in topics (a name, a colour, an icon, a parent topic).
A memory names its topic in its metadata (`topic_id`, see maas_fields.py) as a label: a
topic's memories are found by filtering on it, and deleting a topic leaves its memories as
they are (their `topic_id` then names no topic) and lifts its subtopics to the top level.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from memory_server.clock import utc_now
from memory_server.scope import Scope
from memory_server.storage.database import Connection

COLUMNS = "id, name, description, color, icon, parent_topic_id, metadata, created_at, updated_at"
# Fields a topic's update may change; None clears the optional ones.
CHANGEABLE = ("name", "description", "color", "icon", "parent_topic_id", "metadata")
# A chain of parents longer than this is refused (and no cycle can hide in one).
MAX_DEPTH = 32


@dataclass(frozen=True)
class Topic:
    """One topic of a workspace."""

    id: str
    name: str
    description: str | None
    color: str | None
    icon: str | None
    parent_topic_id: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""


class TopicNotFound(Exception):
    """No topic with this id in the workspace."""

    def __init__(self, topic_id: str) -> None:
        super().__init__(f"Topic {topic_id!r} not found")
        self.topic_id = topic_id


class InvalidParent(ValueError):
    """A parent topic that would make a cycle (or nest too deep)."""


class ParentNotFound(InvalidParent):
    """A parent topic that is not in the workspace."""


class TopicStore:
    """Topics in the database's `topics` table (SQLite migration 13, PostgreSQL 2)."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def create(self, scope: Scope, fields: dict[str, Any]) -> Topic:
        """A new topic with a fresh UUID (the client requires one) and these fields."""
        topic_id, now = str(uuid.uuid4()), utc_now()
        with self.db.transaction() as conn:
            self._lock(conn, scope)
            if fields.get("parent_topic_id") is not None:
                self._check_parent(conn, scope, topic_id, fields["parent_topic_id"])
            conn.execute(
                f"INSERT INTO topics (owner, workspace, {COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (scope.owner, scope.workspace, topic_id, fields["name"],
                 fields.get("description"), fields.get("color"), fields.get("icon"),
                 fields.get("parent_topic_id"), json.dumps(fields.get("metadata") or {}),
                 now, now),
            )  # fmt: skip
            return self._get(conn, scope, topic_id)

    def list(self, scope: Scope) -> list[Topic]:
        """The workspace's topics, oldest first."""
        rows = self.db.connection().execute(
            f"SELECT {COLUMNS} FROM topics WHERE owner = ? AND workspace = ?"
            " ORDER BY created_at, id",
            (scope.owner, scope.workspace),
        )
        return [_topic(row) for row in rows]

    def get(self, scope: Scope, topic_id: str) -> Topic:
        """The topic with this id in the workspace; TopicNotFound otherwise."""
        with self.db.snapshot() as conn:
            return self._get(conn, scope, topic_id)

    def update(self, scope: Scope, topic_id: str, changes: dict[str, Any]) -> Topic:
        """Change the fields given (CHANGEABLE); None clears an optional one."""
        with self.db.transaction() as conn:
            self._lock(conn, scope)
            current = self._get(conn, scope, topic_id)
            if changes.get("parent_topic_id") is not None:
                self._check_parent(conn, scope, topic_id, changes["parent_topic_id"])
            merged = {name: changes.get(name, getattr(current, name)) for name in CHANGEABLE}
            conn.execute(
                "UPDATE topics SET name = ?, description = ?, color = ?, icon = ?,"
                " parent_topic_id = ?, metadata = ?, updated_at = ?"
                " WHERE owner = ? AND workspace = ? AND id = ?",
                (merged["name"], merged["description"], merged["color"], merged["icon"],
                 merged["parent_topic_id"], json.dumps(merged["metadata"] or {}), utc_now(),
                 scope.owner, scope.workspace, topic_id),
            )  # fmt: skip
            return self._get(conn, scope, topic_id)

    def delete(self, scope: Scope, topic_id: str) -> None:
        """Delete a topic; its subtopics move to the top level, its memories stay."""
        with self.db.transaction() as conn:
            self._lock(conn, scope)
            self._get(conn, scope, topic_id)
            conn.execute(
                "UPDATE topics SET parent_topic_id = NULL, updated_at = ?"
                " WHERE owner = ? AND workspace = ? AND parent_topic_id = ?",
                (utc_now(), scope.owner, scope.workspace, topic_id),
            )
            conn.execute(
                "DELETE FROM topics WHERE owner = ? AND workspace = ? AND id = ?",
                (scope.owner, scope.workspace, topic_id),
            )

    def count(self, scope: Scope) -> int:
        """How many topics the workspace has."""
        row = self.db.connection().execute(
            "SELECT count(*) FROM topics WHERE owner = ? AND workspace = ?",
            (scope.owner, scope.workspace),
        )
        return row.fetchone()[0]

    def _lock(self, conn: Connection, scope: Scope) -> None:
        # A parent check and the write it allows hold together on PostgreSQL too.
        self.db.serialize(conn, f"topics:{scope.owner}/{scope.workspace}")

    def _get(self, conn: Connection, scope: Scope, topic_id: str) -> Topic:
        row = conn.execute(
            f"SELECT {COLUMNS} FROM topics WHERE owner = ? AND workspace = ? AND id = ?",
            (scope.owner, scope.workspace, topic_id),
        ).fetchone()
        if row is None:
            raise TopicNotFound(topic_id)
        return _topic(row)

    def _check_parent(self, conn: Connection, scope: Scope, topic_id: str, parent: str) -> None:
        """The parent must be a topic of the workspace, and not the topic or its descendant."""
        seen = 0
        while parent is not None:
            if parent == topic_id:
                raise InvalidParent("a topic cannot be its own parent, nor its subtopic's child")
            try:
                parent = self._get(conn, scope, parent).parent_topic_id
            except TopicNotFound:
                raise ParentNotFound(f"parent topic {parent!r} not found") from None
            seen += 1
            if seen > MAX_DEPTH:
                raise InvalidParent(f"topics nest at most {MAX_DEPTH} levels deep")


def _topic(row: Any) -> Topic:
    return Topic(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]), row[7], row[8])
