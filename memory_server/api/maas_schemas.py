"""What the LanOnasis client sends: its bodies and query strings, as marshmallow schemas.

The limits are the client's own (its zod schemas), so whatever it accepts is accepted here.
Keys it adds on its own that this server has no use for (`organization_id`, its
`preprocessing`, `rechunk`, `search_mode`, ...) are accepted and ignored; any other key is
refused, as the REST API refuses keys it does not know. Query strings pass unknown keys,
as the client sends any list option it is given.
"""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from memory_server.api.fields import Metadata, StrictFloat, StrictInteger, Text
from memory_server.api.schemas import REQUIRED
from memory_server.maas_fields import MEMORY_TYPES, STATUSES

CLIENT_MAX_TAGS = 20  # the client's own limit (the REST API takes 100)
MAX_BULK = 100
SORTS = ("created_at", "updated_at")
ORDERS = ("asc", "desc")


def _string(low: int, high: int, **kwargs: Any) -> fields.String:
    if kwargs.get("required"):  # named as the seed names a missing field (http_input.py)
        kwargs["error_messages"] = {"required": REQUIRED}
    return fields.String(validate=validate.Length(low, high), **kwargs)


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("Must contain at least one non-whitespace character.")


def _tags(**kwargs: Any) -> fields.List:
    return fields.List(_string(1, 50), validate=validate.Length(max=CLIENT_MAX_TAGS), **kwargs)


IGNORED = "Sent by the client on its own; ignored here."


class _ClientBody(Schema):
    # With `organizationId` configured, the client adds this to its bodies; here the key
    # decides whose memories these are.
    organization_id = _string(0, 256, metadata={"description": IGNORED})


class _ClientQuery(Schema):
    class Meta:
        unknown = EXCLUDE


def _says_something(data: dict[str, Any]) -> None:
    """An update must change something (the ignored keys change nothing)."""
    if not data.keys() - IGNORED_KEYS:
        raise ValidationError("Give at least one field to change.")


# Keys accepted only to be ignored (see the module's docstring).
IGNORED_KEYS = frozenset(
    {"organization_id", "preprocessing", "rechunk", "regenerate_embedding", "search_mode",
     "filters", "include_chunks"}
)  # fmt: skip


class EntryCreateSchema(_ClientBody):
    """POST /api/v1/memory from the client: a MemoryEntry to store."""

    title = _string(1, 500, required=True)
    content = Text(required=True, error_messages={"required": REQUIRED})
    summary = _string(0, 1000)
    memory_type = fields.String(load_default="context", validate=validate.OneOf(MEMORY_TYPES))
    topic_id = _string(1, 100)
    project_ref = _string(0, 100)
    tags = _tags(load_default=list)
    metadata = Metadata()
    preprocessing = Metadata(metadata={"description": IGNORED})


class EntryUpdateSchema(Schema):  # the client adds no organization_id to updates
    """PUT /api/v1/memory/:id from the client: the fields to change (null clears one)."""

    title = _string(1, 500)
    content = Text()
    summary = _string(0, 1000, allow_none=True)
    memory_type = fields.String(validate=validate.OneOf(MEMORY_TYPES))
    status = fields.String(validate=validate.OneOf(STATUSES))
    topic_id = _string(1, 100, allow_none=True)
    project_ref = _string(0, 100, allow_none=True)
    tags = _tags()
    metadata = Metadata()
    rechunk = fields.Boolean(metadata={"description": IGNORED})
    regenerate_embedding = fields.Boolean(metadata={"description": IGNORED})

    @validates_schema
    def _changes_something(self, data: dict, **kwargs: Any) -> None:
        _says_something(data)


class EntrySearchSchema(_ClientBody):
    """POST /api/v1/memory/search from the client."""

    query = fields.String(
        required=True,
        validate=[validate.Length(1, 1000), _not_blank],
        error_messages={"required": REQUIRED},
    )
    memory_types = fields.List(
        fields.String(validate=validate.OneOf(MEMORY_TYPES)), validate=validate.Length(1, 6)
    )
    tags = fields.List(_string(1, 256), validate=validate.Length(max=100))
    topic_id = _string(1, 100)
    project_ref = _string(0, 100)
    status = fields.String(load_default="active", validate=validate.OneOf(STATUSES))
    limit = StrictInteger(load_default=20, validate=validate.Range(1, 100))
    threshold = StrictFloat(validate=validate.Range(0, 1))
    # enhancedSearch's: its `type` filters as memory_types would; the rest is ignored.
    type = fields.String(validate=validate.OneOf(MEMORY_TYPES))
    search_mode = fields.String(
        validate=validate.OneOf(("vector", "text", "hybrid")), metadata={"description": IGNORED}
    )
    filters = Metadata(metadata={"description": IGNORED})
    include_chunks = fields.Boolean(metadata={"description": IGNORED})


class EntryListQuerySchema(_ClientQuery):
    """GET /api/v1/memory's query string from the client; `tags` comma-separated."""

    page = fields.Integer(load_default=1, validate=validate.Range(1, 1_000_000))
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    memory_type = fields.String(validate=validate.OneOf(MEMORY_TYPES))
    status = fields.String(validate=validate.OneOf(STATUSES))
    topic_id = _string(1, 100)
    project_ref = _string(0, 100)
    tags = _string(1, 5000)
    sort = fields.String(load_default="created_at", validate=validate.OneOf(SORTS))
    order = fields.String(load_default="desc", validate=validate.OneOf(ORDERS))


class BulkDeleteSchema(_ClientBody):
    """POST /api/v1/memory/bulk/delete: the ids to delete."""

    memory_ids = fields.List(
        _string(1, 128),
        required=True,
        validate=validate.Length(1, MAX_BULK),
        error_messages={"required": REQUIRED},
    )


COLOR = validate.Regexp(r"^#[0-9A-Fa-f]{6}\Z", error="Must be a colour like #3B82F6.")


class TopicCreateSchema(_ClientBody):
    """POST /api/v1/topics: a topic to make."""

    name = _string(1, 100, required=True)
    description = _string(0, 500)
    color = fields.String(validate=COLOR)
    icon = _string(0, 50)
    parent_topic_id = _string(1, 100)
    metadata = Metadata()


class TopicUpdateSchema(Schema):  # the client adds no organization_id to updates
    """PUT /api/v1/topics/:id: the fields to change (null clears an optional one)."""

    openapi: ClassVar[dict[str, Any]] = {"minProperties": 1}

    name = _string(1, 100)
    description = _string(0, 500, allow_none=True)
    color = fields.String(validate=COLOR, allow_none=True)
    icon = _string(0, 50, allow_none=True)
    parent_topic_id = _string(1, 100, allow_none=True)
    metadata = Metadata()

    @validates_schema
    def _changes_something(self, data: dict, **kwargs: Any) -> None:
        _says_something(data)


class TopicListQuerySchema(_ClientQuery):
    """GET /api/v1/topics: `include_hierarchy=true` nests subtopics in their parents."""

    include_hierarchy = fields.Boolean(load_default=False)


class TopicMemoriesQuerySchema(_ClientQuery):
    """GET /api/v1/topics/:id/memories: a window of the topic's memories, newest first."""

    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 100_000_000))
