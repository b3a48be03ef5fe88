"""The seven memory tools: what a model is told about each, its input schema, and what it does.

Each tool validates its arguments with the REST API's own marshmallow schemas and calls the
same MemoryService; it runs inside a Flask request (bridge.py), so a tool's errors are the
REST API's errors, rendered by the same handlers and sent back as MCP tool errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from flask import current_app
from marshmallow import RAISE, Schema, ValidationError, fields, validates_schema
from mcp_types import CallToolResult, TextContent, Tool, ToolAnnotations

from memory_server.api.auth import current_key, current_scope, read_only_message
from memory_server.api.errors import forbidden
from memory_server.api.fields import MemoryId
from memory_server.api.http_input import create_options, update_options, validate
from memory_server.api.mcp import TOOL_CALL, jsonrpc_message
from memory_server.api.openapi_spec import json_schema
from memory_server.api.response_schemas import VersionSchema
from memory_server.api.schemas import (
    FiltersSchema,
    MemoryCreateSchema,
    MemoryUpdateSchema,
    PageQuerySchema,
    SearchRequestSchema,
    schema,
)
from memory_server.memory_service import Duplicated
from memory_server.search.ranking import ScoredMemory
from memory_server.services import services
from memory_server.storage.memory_store import Memory
from memory_server.webhooks.events import memory_data

# A listed memory shows this much of its text; get_memory gives all of it.
PREVIEW_CHARS = 500


class MemoryRefInput(Schema):
    """get_memory and delete_memory: the memory's id."""

    id = MemoryId(required=True, metadata={"description": "The memory's id (from add or search)."})


_CHANGES = ("text", "metadata", "ttl_seconds", "expires_at")


class UpdateMemoryInput(MemoryUpdateSchema):
    """update_memory: the id, and new text, metadata and/or expiry."""

    openapi: ClassVar[dict[str, Any]] = {
        **MemoryUpdateSchema.openapi,
        "anyOf": [{"required": [name]} for name in _CHANGES],
    }

    id = MemoryId(required=True, metadata={"description": "The memory to change."})

    @validates_schema
    def _something_to_change(self, data: dict, **kwargs: Any) -> None:
        if not any(name in data for name in _CHANGES):
            raise ValidationError(
                "Provide text, metadata, ttl_seconds and/or expires_at to update.", "_schema"
            )


class ListMemoriesInput(PageQuerySchema):
    """list_memories: a page of the workspace's memories, newest first."""

    class Meta:  # noqa: D106 - marshmallow's options
        unknown = RAISE  # an argument the tool does not take is an error, not ignored

    filters = fields.Nested(
        FiltersSchema, metadata={"description": "Only memories matching these search filters."}
    )


# What each tool's structured result holds (MCP's outputSchema: clients may check it).
_STRING = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_METADATA = {"type": "object", "description": "The memory's metadata, as stored."}
_EXPIRES = {
    "type": ["string", "null"],
    "format": "date-time",
    "description": "When it expires; null: never.",
}
_MEMORY = {
    "type": "object",
    "properties": {
        "id": _STRING,
        "text": _STRING,
        "metadata": _METADATA,
        "created_at": _TIME,
        "updated_at": _TIME,
        "expires_at": _EXPIRES,
    },
    "required": ["id", "text", "metadata", "created_at", "updated_at", "expires_at"],
}
_LISTED = {
    **_MEMORY,
    "properties": {
        **_MEMORY["properties"],
        "text": {"type": "string", "description": "The text, or its first 500 characters."},
        "length": {"type": "integer", "description": "The whole text's length, if cut."},
    },
}
_HIT = {
    "type": "object",
    "properties": {
        "id": _STRING,
        "score": {"type": "number"},
        "text": {"type": "string", "description": "The memory, or its best-matching chunk."},
        "excerpt": {
            "type": "object",
            "description": "Present when `text` is a chunk: where it lies in the memory.",
            "properties": {
                "start": {"type": "integer"},
                "end": {"type": "integer"},
                "of_length": {"type": "integer"},
            },
            "required": ["start", "end", "of_length"],
        },
        "metadata": _METADATA,
        "created_at": _TIME,
        "updated_at": _TIME,
    },
    "required": ["id", "score", "text", "metadata", "created_at", "updated_at"],
}


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


OUTPUTS: dict[str, dict[str, Any]] = {
    "add_memory": _object(
        ["id", "status", "metadata", "created_at", "expires_at"],
        id=_STRING,
        status={
            "enum": ["stored", "duplicate"],
            "description": "duplicate: nothing stored; `id` is the memory already holding it.",
        },
        similarity={"type": "number", "description": "A duplicate's similarity (1.0: exact)."},
        metadata=_METADATA,
        created_at=_TIME,
        expires_at=_EXPIRES,
    ),
    "search_memories": _object(
        ["query", "mode", "results"],
        query=_STRING,
        mode=_STRING,
        results={"type": "array", "items": _HIT},
    ),
    "get_memory": _MEMORY,
    "update_memory": _object(
        ["id", "metadata", "updated_at", "expires_at", "re_embedded"],
        id=_STRING,
        metadata=_METADATA,
        updated_at=_TIME,
        expires_at=_EXPIRES,
        re_embedded={"type": "boolean"},
    ),
    "memory_history": _object(
        ["id", "history"],
        id=_STRING,
        history={
            "type": "array",
            "items": _object(
                ["version", "event", "text", "metadata", "changed_at"],
                version={"type": "integer"},
                event={"enum": ["created", "updated"]},
                text=_STRING,
                metadata=_METADATA,
                changed_at=_TIME,
            ),
        },
    ),
    "delete_memory": _object(["id", "deleted"], id=_STRING, deleted={"const": True}),
    "list_memories": _object(
        ["memories", "page", "limit", "total", "total_pages"],
        memories={"type": "array", "items": _LISTED},
        page={"type": "integer"},
        limit={"type": "integer"},
        total={"type": "integer"},
        total_pages={"type": "integer"},
    ),
}


@dataclass(frozen=True)
class MemoryTool:
    """One tool: its MCP description and the function that runs it on validated arguments."""

    name: str
    title: str
    description: str
    input: Schema
    run: Callable[[dict[str, Any]], dict[str, Any]]
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False

    def describe(self) -> Tool:
        """The tool as tools/list shows it."""
        return Tool(
            name=self.name,
            title=self.title,
            description=self.description,
            input_schema=json_schema(self.input),
            output_schema=OUTPUTS[self.name],
            annotations=ToolAnnotations(
                title=self.title,
                read_only_hint=self.read_only,
                destructive_hint=self.destructive,
                idempotent_hint=self.idempotent,
                open_world_hint=False,
            ),
        )

    def permitted(self) -> bool:
        """Whether the current request's key may call this tool (a read-only key: reads only)."""
        return self.read_only or not current_key().read_only

    def call(self, arguments: dict[str, Any]) -> CallToolResult:
        """Run the tool in the current Flask request; an API error becomes a tool error."""
        if jsonrpc_message().get("method") != TOOL_CALL:
            # Only a request that is one tools/call was counted against the quota (api/mcp.py):
            # a tool never runs for any other (a JSON-RPC batch, should an SDK accept one).
            return _tool_error_text("Send each tool call as a request of its own")
        try:
            if not self.permitted():  # the REST API's 403, before the arguments are read
                raise forbidden(read_only_message())
            result = self.run(validate(self.input, arguments, "body"))
        except Exception as exc:  # every error the REST API renders, rendered the same way
            return _tool_error(current_app.handle_user_exception(exc))
        return CallToolResult(
            content=[TextContent(type="text", text=_json(result))], structured_content=result
        )


def permitted_tools() -> list[str]:
    """The names of the tools the current request's key may call, for tools/list."""
    return [name for name, tool in TOOLS.items() if tool.permitted()]


def _tool_error_text(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def _tool_error(response: Any) -> CallToolResult:
    body = response.get_json()
    return CallToolResult(
        content=[TextContent(type="text", text=body["message"])],
        structured_content={"status": response.status_code, **body},
        is_error=True,
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _preview(memory: Memory) -> dict[str, Any]:
    shown = memory_data(memory)
    if len(memory.text) > PREVIEW_CHARS:
        shown |= {"text": memory.text[:PREVIEW_CHARS] + "…", "length": len(memory.text)}
    return shown


def _hit(result: ScoredMemory) -> dict[str, Any]:
    """A search hit an agent can read: the best chunk, not the whole of a long memory."""
    memory, chunk = result.memory, result.best_chunk
    hit: dict[str, Any] = {"id": memory.id, "score": round(result.score, 4)}
    if chunk is None or (chunk.start == 0 and chunk.end == len(memory.text)):
        hit["text"] = memory.text
    else:
        hit |= {
            "text": chunk.text,
            "excerpt": {"start": chunk.start, "end": chunk.end, "of_length": len(memory.text)},
        }
    return hit | {
        "metadata": memory.metadata,
        "created_at": memory.created_at,
        "updated_at": memory.updated_at,
    }


def _add(args: dict[str, Any]) -> dict[str, Any]:
    outcome = services().memories.create(
        current_scope(), args["text"], args.get("metadata"), args.get("id"),
        **create_options(args),
    )  # fmt: skip
    memory = outcome.memory
    result: dict[str, Any] = {"id": memory.id, "status": "stored"}
    if isinstance(outcome, Duplicated):
        result |= {"status": "duplicate", "similarity": round(outcome.similarity, 4)}
    return result | {
        "metadata": memory.metadata,
        "created_at": memory.created_at,
        "expires_at": memory.expires_at,
    }


def _search(args: dict[str, Any]) -> dict[str, Any]:
    found = services().memories.search(current_scope(), **args)
    return {"query": found.query, "mode": args["mode"], "results": [_hit(r) for r in found.results]}


def _get(args: dict[str, Any]) -> dict[str, Any]:
    return memory_data(services().memories.get(current_scope(), args["id"]))


def _update(args: dict[str, Any]) -> dict[str, Any]:
    updated = services().memories.update(
        current_scope(), args["id"], args.get("text"), args.get("metadata"),
        **update_options(args),
    )  # fmt: skip
    memory = updated.memory
    return {
        "id": memory.id,
        "metadata": memory.metadata,
        "updated_at": memory.updated_at,
        "expires_at": memory.expires_at,
        "re_embedded": updated.embedding_regenerated,
    }


def _history(args: dict[str, Any]) -> dict[str, Any]:
    versions = services().memories.history(current_scope(), args["id"])
    return {"id": args["id"], "history": schema(VersionSchema, many=True).dump(versions)}


def _delete(args: dict[str, Any]) -> dict[str, Any]:
    services().memories.delete(current_scope(), args["id"])
    return {"id": args["id"], "deleted": True}


def _list(args: dict[str, Any]) -> dict[str, Any]:
    page = services().memories.list(
        current_scope(), args["page"], args["limit"], filters=args.get("filters")
    )
    return {
        "memories": [_preview(memory) for memory in page.items],
        "page": page.page,
        "limit": page.per_page,
        "total": page.total,
        "total_pages": page.total_pages,
    }


TOOLS: dict[str, MemoryTool] = {
    tool.name: tool
    for tool in (
        MemoryTool(
            "add_memory",
            "Remember something",
            "Store a memory: a self-contained fact, preference, decision or note in plain "
            "words (for example 'The user prefers dark mode in every editor'), with optional "
            'metadata such as {"type": "preference", "tags": ["ui"]}. Use it when you '
            "learn something worth knowing in a later conversation. Returns the new memory's "
            "id. The same text and metadata stored again is not stored twice (status "
            "duplicate, with the existing id); `duplicate_threshold` 0.95 also catches the "
            "same fact reworded. For short-lived facts (a door code, 'in a meeting until 3') "
            "give `ttl_seconds`: the memory is forgotten then. Give `id` only to choose the "
            "id yourself; an id already used is an error.",
            MemoryCreateSchema(exclude=("embedding",)),
            _add,
        ),
        MemoryTool(
            "search_memories",
            "Recall memories",
            "Find stored memories by meaning, lifted by shared names, codes and ids (mode "
            "'hybrid', the default), by meaning alone ('semantic') or by exact words alone "
            "('keyword'). Search before "
            "answering anything that may depend on what the user told you earlier. Returns "
            "the best matches first with a score; for a long memory `text` is only its "
            "best-matching part (`excerpt` says where it lies): call get_memory for all of "
            "it. `filters` narrows by metadata type, source, tags, time or other keys.",
            SearchRequestSchema(),
            _search,
            read_only=True,
            idempotent=True,
        ),
        MemoryTool(
            "get_memory",
            "Read a memory",
            "Read one memory in full by its id: its whole text, metadata and times. Use it "
            "after a search returned an excerpt, or to check a memory before changing it.",
            MemoryRefInput(),
            _get,
            read_only=True,
            idempotent=True,
        ),
        MemoryTool(
            "update_memory",
            "Correct a memory",
            "Change a memory's text and/or metadata when a fact has changed (the user moved, "
            "a decision was reversed); metadata replaces the old object whole. Prefer this "
            "over adding a contradicting memory; the old version stays in memory_history. "
            "`ttl_seconds` or `expires_at` sets when it expires, `expires_at: null` keeps it "
            "for good. Returns the id and whether the text was re-embedded.",
            UpdateMemoryInput(),
            _update,
            idempotent=True,
        ),
        MemoryTool(
            "memory_history",
            "Show a memory's history",
            "Every kept version of one memory, oldest first: what it said at its creation "
            "and after each update, and when. Use it to see what a memory said before it "
            "was corrected, or to undo a wrong update (update_memory with an old text).",
            MemoryRefInput(),
            _history,
            read_only=True,
            idempotent=True,
        ),
        MemoryTool(
            "delete_memory",
            "Forget a memory",
            "Delete one memory by id, for good: when it is wrong, obsolete, or the user asks "
            "you to forget it. There is no undo.",
            MemoryRefInput(),
            _delete,
            destructive=True,
            idempotent=True,
        ),
        MemoryTool(
            "list_memories",
            "List memories",
            "List stored memories newest first, a page at a time (`page` from 1, `limit` up "
            "to 100, default 50); long texts are cut to a preview. Use it to review what is "
            "remembered; to find something specific, search_memories is better.",
            ListMemoriesInput(),
            _list,
            read_only=True,
            idempotent=True,
        ),
    )
}
