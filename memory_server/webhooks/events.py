"""The webhook events a memory change produces, with their payload data."""

from __future__ import annotations

from typing import Any

from memory_server.storage.memory_store import Memory
from memory_server.webhooks.outbox import Event


def memory_data(memory: Memory) -> dict[str, Any]:
    """A memory as event data: everything but its embedding."""
    return {
        "id": memory.id,
        "text": memory.text,
        "metadata": memory.metadata,
        "created_at": memory.created_at,
        "updated_at": memory.updated_at,
        "expires_at": memory.expires_at,
    }


def embedding_data(memory: Memory, model: str, dimensions: int, tokens: int) -> dict[str, Any]:
    """`embedding.generated` data: the memory, and what the server computed for it."""
    return {
        **memory_data(memory),
        "model": model,
        "vector_dimensions": dimensions,
        "tokens_used": tokens,
    }


def created(memory: Memory, embedded: dict[str, Any] | None) -> list[Event]:
    """`memory.created`, and `embedding.generated` when the server embedded the text."""
    events = [Event("memory.created", memory_data(memory))]
    if embedded is not None:
        events.append(Event("embedding.generated", embedding_data(memory, **embedded)))
    return events


def updated(memory: Memory, embedded: dict[str, Any] | None) -> list[Event]:
    """`memory.updated`, and `embedding.generated` when the new text was embedded."""
    events = [Event("memory.updated", memory_data(memory))]
    if embedded is not None:
        events.append(Event("embedding.generated", embedding_data(memory, **embedded)))
    return events


def deleted(memory_id: str, workspace: str) -> list[Event]:
    """`memory.deleted`: the id and workspace of what is gone."""
    return [Event("memory.deleted", {"id": memory_id, "workspace_id": workspace})]


def expired(memory_id: str, workspace: str, expires_at: str) -> list[Event]:
    """`memory.expired`: the id and workspace of a memory purged at the end of its life."""
    return [
        Event(
            "memory.expired", {"id": memory_id, "workspace_id": workspace, "expires_at": expires_at}
        )
    ]
