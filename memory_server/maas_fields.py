"""LanOnasis MaaS fields of a memory: where each lives in its metadata. No Flask here.

The official `@lanonasis/memory-client` speaks in `MemoryEntry`s (title, content, summary,
memory_type, status, topic_id, project_ref, tags, metadata). A memory here is a text with
metadata, so `content` is the text and the other fields are top-level metadata keys, which
makes a memory written by the client an ordinary memory of both seed surfaces (its tags and
type filterable as any) and the other way round:

    title -> metadata.title        memory_type -> metadata.type     tags -> metadata.tags
    summary -> metadata.summary    status -> metadata.status        topic_id, project_ref

A memory stored without them still reads as an entry: its title is its text's first line,
its type `context` unless metadata.type names one of the six, its status `active` unless
metadata.status names one of the four. The client's own `metadata` is the rest.
"""

from __future__ import annotations

from typing import Any

from memory_server.search.filters import Filters
from memory_server.storage.memory_store import Memory

MEMORY_TYPES = ("context", "project", "knowledge", "reference", "personal", "workflow")
STATUSES = ("active", "archived", "draft", "deleted")
DEFAULT_TYPE, DEFAULT_STATUS = "context", "active"
# Entry field -> the metadata key that holds it.
KEYS = {
    "title": "title",
    "summary": "summary",
    "memory_type": "type",
    "status": "status",
    "topic_id": "topic_id",
    "project_ref": "project_ref",
    "tags": "tags",
}
RESERVED = frozenset(KEYS.values())
TITLE_CHARS = 100  # a title made from a text's first line is cut here


class ReservedKey(ValueError):
    """The client's metadata names a key an entry field lives in (use the field instead)."""

    def __init__(self, key: str, entry_field: str) -> None:
        super().__init__(f"metadata.{key} holds the memory's {entry_field}: set {entry_field}")
        self.key = key


def metadata_for(fields: dict[str, Any], metadata: dict[str, Any] | None) -> dict[str, Any]:
    """A new memory's metadata from an entry's fields and the client's own metadata."""
    extra = dict(metadata or {})
    _check_reserved(extra)
    stored = {"type": DEFAULT_TYPE, "status": DEFAULT_STATUS, "tags": []}
    stored.update({KEYS[name]: value for name, value in fields.items() if value is not None})
    return {**extra, **stored}


def updated_metadata(
    current: dict[str, Any], fields: dict[str, Any], metadata: dict[str, Any] | None
) -> dict[str, Any]:
    """A memory's metadata after an update: fields given replace, None removes, the rest stay.

    The client's `metadata`, when given, replaces the memory's own keys (not the fields').
    """
    if metadata is not None:
        # What a read showed in `metadata` may come back as it was (a type no field holds).
        _check_reserved({k: v for k, v in metadata.items() if k not in current or current[k] != v})
        kept = {k: v for k, v in current.items() if k in RESERVED}
        current = {**metadata, **kept}
    updated = dict(current)
    for name, value in fields.items():
        if value is None:
            updated.pop(KEYS[name], None)
        else:
            updated[KEYS[name]] = value
    return updated


def entry(memory: Memory, owner: str) -> dict[str, Any]:
    """The memory as the client's MemoryEntry."""
    meta = memory.metadata
    kind = meta.get("type") if meta.get("type") in MEMORY_TYPES else DEFAULT_TYPE
    status = meta.get("status") if meta.get("status") in STATUSES else DEFAULT_STATUS
    tags = meta.get("tags")
    # Keys that hold a field come out as that field; a value no field can hold stays here.
    shown = {
        key: value
        for key, value in meta.items()
        if not (key in RESERVED and _holds_field(key, value))
    }
    found: dict[str, Any] = {
        "id": memory.id,
        "title": _title(memory),
        "content": memory.text,
        "memory_type": kind,
        "status": status,
        "tags": [tag for tag in tags if isinstance(tag, str)] if isinstance(tags, list) else [],
        "metadata": shown,
        "user_id": owner,
        # Reads are not counted here: a read stays a read, never a write.
        "access_count": 0,
        "created_at": memory.created_at,
        "updated_at": memory.updated_at,
    }
    for name in ("summary", "topic_id", "project_ref"):
        if isinstance(meta.get(KEYS[name]), str):
            found[name] = meta[KEYS[name]]
    return found


def filters_for(
    memory_types: list[str] | None = None,
    status: str | None = None,
    tags: list[str] | None = None,
    topic_id: str | None = None,
    project_ref: str | None = None,
) -> Filters:
    """Filters matching the entries that have these field values (None: any).

    A memory whose metadata holds no type (or one not of the six) is a `context` entry, and
    one with no status (or another) an `active` one, so those match by what they are not.
    """
    conditions: dict[str, tuple] = {}
    if memory_types:
        wanted = tuple(dict.fromkeys(memory_types))
        others = tuple(kind for kind in MEMORY_TYPES if kind not in wanted)
        if DEFAULT_TYPE in wanted:
            conditions["type"] = (("nin", others),) if others else ()
        else:
            conditions["type"] = (("in", wanted),)
    if status is not None:
        if status == DEFAULT_STATUS:
            others = tuple(s for s in STATUSES if s != DEFAULT_STATUS)
            conditions["status"] = (("nin", others),)
        else:
            conditions["status"] = (("eq", status),)
    for key, value in (("topic_id", topic_id), ("project_ref", project_ref)):
        if value is not None:
            conditions[key] = (("eq", value),)
    return Filters(
        tags_any=tuple(tags or ()),
        metadata={key: value for key, value in conditions.items() if value},
    )


def _check_reserved(metadata: dict[str, Any]) -> None:
    for name, key in KEYS.items():
        if key in metadata:
            raise ReservedKey(key, name)


def _holds_field(key: str, value: Any) -> bool:
    """Whether a reserved key's value is shown as its field (else it stays in metadata)."""
    if key == "type":
        return value in MEMORY_TYPES
    if key == "status":
        return value in STATUSES
    if key == "tags":
        return isinstance(value, list)
    return isinstance(value, str)


def _title(memory: Memory) -> str:
    title = memory.metadata.get("title")
    if isinstance(title, str) and title:
        return title
    first = memory.text.strip().splitlines()[0] if memory.text.strip() else memory.id
    return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1].rstrip() + "…"
