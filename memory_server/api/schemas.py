"""marshmallow schemas that validate requests of both REST surfaces (answers: response_schemas)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from memory_server.api.fields import (
    ID_PATTERN,
    MAX_TAGS,
    MAX_TTL_SECONDS,
    Embedding,
    FutureTimestamp,
    JsonNested,
    MemoryId,
    Metadata,
    MetadataFilter,
    StrictBoolean,
    StrictFloat,
    StrictInteger,
    Text,
    UtcTimestamp,
    Vector,
)
from memory_server.api_keys import NAME_PATTERN
from memory_server.clock import format_timestamp
from memory_server.search.filters import Filters
from memory_server.search.ranking import MODES
from memory_server.webhooks.endpoints import EVENT_TYPES
from memory_server.webhooks.urls import MAX_URL_LENGTH, URL_PATTERN

MAX_PAGE = 1_000_000


REQUIRED = "Field is required."


@functools.cache
def schema(cls: type[Schema], many: bool = False) -> Schema:
    """One shared instance per schema class (and `many`), made on first use.

    Building a schema deep-copies its fields (~0.15 ms, twice per request); load and dump
    keep nothing on the instance, so threads can share it.
    """
    return cls(many=many)


_TEXT_DOC = {"description": "The memory: 1-50,000 characters, not only whitespace, no NUL."}


_METADATA_DOC = {"description": "Any JSON object (see Metadata); filterable in search."}


_ID_DOC = {"description": "Your own id for the memory (default: a generated mem_...)."}


def _ttl() -> StrictInteger:
    return StrictInteger(
        validate=validate.Range(1, MAX_TTL_SECONDS),
        metadata={"description": "Expire this many seconds from now (instead of expires_at)."},
    )


_ONE_EXPIRY = {"not": {"required": ["ttl_seconds", "expires_at"]}}


class _Expiry(Schema):
    """`ttl_seconds` or `expires_at`, loaded as one `expires_at` (present only if given)."""

    openapi: ClassVar[dict[str, Any]] = _ONE_EXPIRY

    ttl_seconds = _ttl()
    expires_at = FutureTimestamp(
        metadata={"description": "When it expires: ISO 8601, in the future (naive is UTC)."}
    )

    @validates_schema
    def _one_expiry(self, data: dict, **kwargs: Any) -> None:
        if "ttl_seconds" in data and "expires_at" in data:
            raise ValidationError("Give ttl_seconds or expires_at, not both.", "ttl_seconds")

    @post_load
    def _to_expires_at(self, data: dict, **kwargs: Any) -> dict:
        ttl = data.pop("ttl_seconds", None)
        if ttl is not None:
            data["expires_at"] = format_timestamp(datetime.now(UTC) + timedelta(seconds=ttl))
        return data


ON_DUPLICATE = ("skip", "allow")


def _on_duplicate() -> fields.String:
    return fields.String(
        validate=validate.OneOf(ON_DUPLICATE),
        metadata={
            "description": "skip (default): a memory with the same text and metadata already "
            "in the workspace is answered (200, status duplicate) and nothing is stored; "
            "allow: store a copy anyway."
        },
    )


def _duplicate_threshold() -> StrictFloat:
    threshold = StrictFloat(
        allow_nan=False,
        validate=validate.Range(0, 1, min_inclusive=False),
        metadata={
            "description": "Also a duplicate: a memory whose vector is at least this "
            "cosine-similar (0-1, e.g. 0.95), whatever its metadata."
        },
    )
    threshold.openapi = {"exclusiveMinimum": 0}  # apispec writes the range as `minimum` only
    return threshold


class _Dedupe(Schema):
    on_duplicate = _on_duplicate()
    duplicate_threshold = _duplicate_threshold()


class MemoryCreateV1Schema(_Expiry, _Dedupe):
    """POST /v1/memories."""

    text = Text(required=True, error_messages={"required": REQUIRED}, metadata=_TEXT_DOC)
    metadata = Metadata(metadata=_METADATA_DOC)
    memory_id = MemoryId(metadata=_ID_DOC)


class MemoryCreateSchema(_Expiry, _Dedupe):
    """POST /api/v1/memory."""

    id = MemoryId(metadata=_ID_DOC)
    text = Text(required=True, error_messages={"required": REQUIRED}, metadata=_TEXT_DOC)
    metadata = Metadata(metadata=_METADATA_DOC)
    embedding = Embedding()


MAX_BATCH = 100


TIMESTAMP_PATTERN = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z\Z"


class ImportRecordSchema(Schema):
    """One line of `flask export`, as `flask import` reads it (fields it does not know pass)."""

    class Meta:  # noqa: D106 - marshmallow's options  # noqa: D106 - marshmallow's options
        unknown = EXCLUDE

    owner = fields.String(required=True, validate=validate.Regexp(NAME_PATTERN.pattern))
    workspace = fields.String(required=True, validate=validate.Regexp(NAME_PATTERN.pattern))
    id = fields.String(required=True, validate=validate.Regexp(ID_PATTERN))
    text = Text(required=True)
    metadata = Metadata(load_default=dict)
    created_at = fields.String(required=True, validate=validate.Regexp(TIMESTAMP_PATTERN))
    updated_at = fields.String(required=True, validate=validate.Regexp(TIMESTAMP_PATTERN))
    expires_at = fields.String(allow_none=True, validate=validate.Regexp(TIMESTAMP_PATTERN))
    embedding_model = fields.String()
    embeddings = fields.List(
        Vector(validate=validate.Length(1, 4096)),
        validate=validate.Length(1, 1024),
    )


def _batch_of(item: type[Schema]) -> fields.List:
    """`memories`: 1-100 items, each validated by `item`."""
    return fields.List(
        fields.Nested(item),
        required=True,
        validate=validate.Length(1, MAX_BATCH),
        error_messages={"required": REQUIRED},
    )


class MemoryBatchV1Schema(_Dedupe):
    """POST /v1/memories/batch: 1-100 memories shaped as for POST /v1/memories.

    on_duplicate and duplicate_threshold here apply to every item that does not set its own.
    """

    memories = _batch_of(MemoryCreateV1Schema)


class MemoryBatchSchema(_Dedupe):
    """POST /api/v1/memory/batch: 1-100 memories shaped as for POST /api/v1/memory.

    on_duplicate and duplicate_threshold here apply to every item that does not set its own.
    """

    memories = _batch_of(MemoryCreateSchema)


class MemoryUpdateSchema(_Expiry):
    """PUT on either surface: text, metadata and/or expiry (metadata replaces the old one)."""

    openapi: ClassVar[dict[str, Any]] = {"minProperties": 1, **_ONE_EXPIRY}

    text = Text(metadata={"description": "The new text; re-embedded only if it changed."})
    metadata = Metadata(metadata={"description": "Replaces the whole metadata object."})
    expires_at = FutureTimestamp(
        allow_none=True,
        metadata={"description": "A new expiry (ISO 8601, in the future), or null for none."},
    )

    @validates_schema
    def _something_to_change(self, data: dict, **kwargs: Any) -> None:
        if not data:
            raise ValidationError(
                "Provide text, metadata, ttl_seconds and/or expires_at to update.", "_schema"
            )


class _Query(Schema):
    class Meta:
        unknown = EXCLUDE


_LIST_FILTERS = (
    "Only memories matching these search filters (a JSON object, URL-encoded); the total "
    "counts them."
)


class PageQueryV1Schema(_Query):
    """GET /v1/memories query string."""

    page = fields.Integer(
        load_default=1,
        validate=validate.Range(1, MAX_PAGE),
        metadata={"description": "Page number, from 1; newest memories first."},
    )
    per_page = fields.Integer(
        load_default=50, validate=validate.Range(1, 100), metadata={"description": "Page size."}
    )
    filters = JsonNested(lambda: FiltersSchema(), metadata={"description": _LIST_FILTERS})


class PageQuerySchema(_Query):
    """GET /api/v1/memory query string."""

    page = fields.Integer(
        load_default=1,
        validate=validate.Range(1, MAX_PAGE),
        metadata={"description": "Page number, from 1; newest memories first."},
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 100))
    filters = JsonNested(lambda: FiltersSchema(), metadata={"description": _LIST_FILTERS})


class DeleteAllQuerySchema(_Query):
    """DELETE /v1/memories query string: the destructive call needs confirm=true."""

    confirm = fields.String(
        required=True,
        validate=validate.Equal("true", error="Must be exactly 'true'."),
        error_messages={"required": REQUIRED},
    )


_TAG_LIST = {
    "cls_or_instance": fields.String(validate=validate.Length(1, 256)),
    "validate": validate.Length(1, MAX_TAGS),
}


class TagsFilterSchema(Schema):
    """`filters.tags`: memories having any of / all of these tags."""

    openapi: ClassVar[dict[str, Any]] = {"minProperties": 1}

    any = fields.List(**_TAG_LIST)
    all = fields.List(**_TAG_LIST)

    @validates_schema
    def _one_of(self, data: dict, **kwargs: Any) -> None:
        if not data:
            raise ValidationError("Give `any` and/or `all`: a list of tags.", "_schema")


MAX_FILTER_DEPTH = 5  # levels of `or` / `not` inside one another


# Bounds on the SQL one filter makes: a condition binds at most ~106 values (`in` of 100),
# so 200 stay well under SQLite's 32,766 parameters.
MAX_FILTER_CONDITIONS = 200


MAX_FILTER_OBJECTS = 100


MAX_ALTERNATIVES = 20


def _filter_tree_problem(raw: Any) -> tuple[str, str] | None:
    """(field, message) if raw `filters` nest too deep or are too big.

    Read on the raw JSON, without recursion, before marshmallow descends into it: a
    10,000-deep `{"not": {"not": ...}}` is an error, never a RecursionError. A condition is
    each field but `or` and `not`, and each metadata operator (a bare value counts one); the
    filter objects are the top one and each one inside `or` or `not`.
    """
    conditions, objects, stack = 0, 1, [(raw, 0, "_schema")]
    while stack:
        node, depth, top = stack.pop()
        if not isinstance(node, dict):
            continue  # marshmallow says what is wrong with it
        for key, value in node.items():
            children = []
            if key == "or" and isinstance(value, list):
                children = value
            elif key == "not":
                children = [value]
            elif key == "metadata" and isinstance(value, dict):
                conditions += sum(
                    len(c) if isinstance(c, dict) and c else 1 for c in value.values()
                )
            else:
                conditions += 1
            if children and depth == MAX_FILTER_DEPTH:
                return top, f"`or` and `not` nest at most {MAX_FILTER_DEPTH} levels deep."
            objects += len(children)
            if conditions > MAX_FILTER_CONDITIONS or objects > MAX_FILTER_OBJECTS:
                return "_schema", (
                    f"At most {MAX_FILTER_CONDITIONS} conditions (each field and metadata "
                    f"operator) and {MAX_FILTER_OBJECTS} filter objects (the top one and each "
                    "inside `or` or `not`) in all."
                )
            stack.extend((child, depth + 1, key if depth == 0 else top) for child in children)
    return None


class FiltersSchema(Schema):
    """`filters` of a search or list; unknown keys are an error, every condition must hold."""

    type = fields.String(validate=validate.Length(1, 256))
    source = fields.String(validate=validate.Length(1, 256))
    tags = fields.Nested(TagsFilterSchema)
    created_after = UtcTimestamp()
    created_before = UtcTimestamp()
    updated_after = UtcTimestamp()
    updated_before = UtcTimestamp()
    metadata = MetadataFilter()
    or_ = fields.List(
        fields.Nested(lambda: NestedFiltersSchema()),
        data_key="or",
        validate=validate.Length(1, MAX_ALTERNATIVES),
        metadata={"description": "At least one of these filters must hold too."},
    )
    not_ = fields.Nested(
        lambda: NestedFiltersSchema(),
        data_key="not",
        metadata={"description": "This filter must not hold."},
    )

    @pre_load
    def _bounded(self, data: Any, **kwargs: Any) -> Any:
        problem = _filter_tree_problem(data)
        if problem:
            raise ValidationError(problem[1], problem[0])
        return data

    @post_load
    def _to_filters(self, data: dict, **kwargs: Any) -> Filters:
        tags = data.pop("tags", {})
        return Filters(
            tags_any=tuple(tags.get("any", ())),
            tags_all=tuple(tags.get("all", ())),
            any_of=tuple(data.pop("or_", ())),
            negated=data.pop("not_", None),
            **data,
        )


class NestedFiltersSchema(FiltersSchema):
    """A filter inside `or` or `not`: the same grammar, but it must say something."""

    openapi: ClassVar[dict[str, Any]] = {"minProperties": 1}

    @validates_schema
    def _not_empty(self, data: dict, **kwargs: Any) -> None:
        if not data:
            raise ValidationError("Give at least one condition: {} inside or/not says nothing.")


class SearchRequestSchema(Schema):
    """POST /api/v1/memory/search and POST /v1/memories/search."""

    query = Text(
        required=True,
        error_messages={"required": REQUIRED},
        metadata={"description": "What to look for, in your own words."},
    )
    limit = StrictInteger(
        load_default=10,
        validate=validate.Range(1, 100),
        metadata={"description": "At most this many results."},
    )
    threshold = StrictFloat(
        allow_nan=False,
        metadata={"description": "Leave out results scoring below this (semantic: ~0.25)."},
    )
    mode = fields.String(
        load_default="hybrid",
        validate=validate.OneOf(MODES),
        metadata={
            "description": "hybrid (the default): by meaning, lifted by shared words; "
            "semantic: by meaning alone (cosine); keyword: by words alone (BM25)."
        },
    )
    filters = fields.Nested(
        FiltersSchema,
        load_default=Filters,
        metadata={"description": "Conditions every result must meet (all must hold)."},
    )


_EVENTS = {
    "cls_or_instance": fields.String(
        validate=validate.OneOf(EVENT_TYPES, error=f"Unknown event; use {', '.join(EVENT_TYPES)}.")
    ),
    "validate": validate.Length(1, len(EVENT_TYPES)),
}


_URL_RULES = [
    validate.Length(1, MAX_URL_LENGTH),
    validate.Regexp(
        URL_PATTERN,
        error="Must be an http(s) URL: a host name, IPv4 or [IPv6] address, an optional port "
        "1-65535, then printable ASCII without spaces; no user:password@.",
    ),
]


class WebhookCreateSchema(Schema):
    """POST /api/v1/webhooks."""

    url = fields.String(
        required=True,
        validate=_URL_RULES,
        metadata={"description": "Where to POST events; see docs/webhooks.md for which networks."},
    )
    events = fields.List(
        required=True,
        metadata={"description": "The event types to receive."},
        **_EVENTS,
    )
    description = fields.String(validate=validate.Length(0, 500))


class WebhookUpdateSchema(Schema):
    """PATCH /api/v1/webhooks/:id: any of url, events, description, enabled."""

    openapi: ClassVar[dict[str, Any]] = {"minProperties": 1}

    url = fields.String(validate=_URL_RULES)
    events = fields.List(**_EVENTS)
    description = fields.String(validate=validate.Length(0, 500))
    enabled = StrictBoolean(
        metadata={"description": "false pauses deliveries; true resumes them, backlog first."}
    )

    @validates_schema
    def _something_to_change(self, data: dict, **kwargs: Any) -> None:
        if not data:
            raise ValidationError("Provide url, events, description and/or enabled.", "_schema")


class DeliveriesQuerySchema(_Query):
    """GET /api/v1/webhooks/:id/deliveries query string."""

    limit = fields.Integer(load_default=50, validate=validate.Range(1, 100))
