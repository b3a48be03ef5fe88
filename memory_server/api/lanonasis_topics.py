"""`/api/v1/topics`: the LanOnasis client's topics, in its shapes (storage/topic_store.py).

A topic's memories are the workspace's memories whose `topic_id` names it (maas_fields.py);
they are listed and counted by filtering on it, as the client's list and search do.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, url_for

from memory_server.api.auth import current_scope, protect
from memory_server.api.http_input import json_body, query_args
from memory_server.api.maas_schemas import (
    TopicCreateSchema,
    TopicListQuerySchema,
    TopicMemoriesQuerySchema,
    TopicUpdateSchema,
)
from memory_server.api.openapi_operations import Reply, documented
from memory_server.api.response_schemas import TOPIC_LIST, TopicSchema, TopicWithMemoriesSchema
from memory_server.api.schemas import schema
from memory_server.maas_fields import entry, filters_for
from memory_server.scope import Scope
from memory_server.services import services
from memory_server.storage.topic_store import Topic

bp = Blueprint("lanonasis_topics", __name__, url_prefix="/api/v1/topics")
protect(bp)


@bp.post("")
@documented(
    {201: Reply("Made.", TopicSchema, ("Location",))},
    body=TopicCreateSchema,
    errors=[404],  # the parent topic named is not in this workspace
)
def create_topic() -> tuple[Response, int]:
    """Make a topic (a UUID id; the parent, if any, must be a topic of this workspace)."""
    body = json_body(schema(TopicCreateSchema))
    scope = current_scope()
    topic = services().topics.create(scope, body)
    response = jsonify(_shown(topic, scope))
    response.headers["Location"] = url_for(".get_topic", topic_id=topic.id)
    return response, 201


@bp.get("")
@documented(
    {200: Reply("The workspace's topics, oldest first (nested if asked).", TOPIC_LIST)},
    query=TopicListQuerySchema,
)
def list_topics() -> Response:
    """Every topic of the workspace; `include_hierarchy=true` nests them with memory counts."""
    query = query_args(schema(TopicListQuerySchema))
    scope = current_scope()
    topics = services().topics.list(scope)
    if not query["include_hierarchy"]:
        return jsonify([_shown(topic, scope) for topic in topics])
    return jsonify(_tree(topics, scope))


@bp.get("/<memory_id:topic_id>")
@documented({200: Reply("The topic.", TopicSchema)}, errors=[404])
def get_topic(topic_id: str) -> Response:
    """One topic."""
    scope = current_scope()
    return jsonify(_shown(services().topics.get(scope, topic_id), scope))


@bp.put("/<memory_id:topic_id>")
@documented(
    {200: Reply("Changed.", TopicSchema)},
    body=TopicUpdateSchema,
    errors=[404, 409],  # no such topic or parent; a parent that would make a cycle
)
def update_topic(topic_id: str) -> Response:
    """Change the fields given; null clears description, colour, icon or parent."""
    body = json_body(schema(TopicUpdateSchema))
    scope = current_scope()
    return jsonify(_shown(services().topics.update(scope, topic_id, body), scope))


@bp.delete("/<memory_id:topic_id>")
@documented({204: Reply("Deleted.")}, errors=[404])
def delete_topic(topic_id: str) -> tuple[str, int]:
    """Delete a topic: its subtopics move to the top level, its memories stay as they are."""
    services().topics.delete(current_scope(), topic_id)
    return "", 204


@bp.get("/<memory_id:topic_id>/memories")
@documented(
    {200: Reply("The topic, a window of its memories and its subtopics.",
                TopicWithMemoriesSchema)},
    query=TopicMemoriesQuerySchema,
    errors=[404],
)  # fmt: skip
def topic_memories(topic_id: str) -> Response:
    """The topic with its memories (newest first, `limit` from `offset`) and subtopics."""
    query = query_args(schema(TopicMemoriesQuerySchema))
    scope, found = current_scope(), services()
    topic = found.topics.get(scope, topic_id)
    memories, total = found.memories.window(
        scope, query["offset"], query["limit"], filters_for(topic_id=topic_id)
    )
    subtopics = [t for t in found.topics.list(scope) if t.parent_topic_id == topic_id]
    return jsonify(
        {
            "topic": _shown(topic, scope),
            "memories": [entry(memory, scope.owner) for memory in memories],
            "total_memories": total,
            "subtopics": [_shown(t, scope) for t in subtopics],
        }
    )


def _shown(topic: Topic, scope: Scope) -> dict[str, Any]:
    """A topic as the client's MemoryTopic (optional fields left out when unset)."""
    shown: dict[str, Any] = {"id": topic.id, "name": topic.name}
    for name in ("description", "color", "icon", "parent_topic_id"):
        if getattr(topic, name) is not None:
            shown[name] = getattr(topic, name)
    return {
        **shown,
        "user_id": scope.owner,
        "is_system": False,
        "metadata": topic.metadata,
        "created_at": topic.created_at,
        "updated_at": topic.updated_at,
    }


def _tree(topics: list[Topic], scope: Scope) -> list[dict[str, Any]]:
    """Root topics with their `children` (nested) and each one's `memory_count`."""
    memories = services().memories
    nodes = {
        topic.id: {
            **_shown(topic, scope),
            "children": [],
            "memory_count": memories.window(scope, 0, 1, filters_for(topic_id=topic.id))[1],
        }
        for topic in topics
    }
    roots = []
    for topic in topics:
        parent = nodes.get(topic.parent_topic_id or "")
        (parent["children"] if parent else roots).append(nodes[topic.id])
    return roots
