"""The OpenAPI 3.1 document of both surfaces, built by apispec from the views' own schemas."""

from __future__ import annotations

import copy
import inspect
import json
import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema, fields

from memory_server.api.auth import is_protected, is_write
from memory_server.api.fields import (
    ID_PATTERN,
    MAX_IN_VALUES,
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    MAX_METADATA_FILTER_KEYS,
    MAX_TAGS,
    NO_NUL,
    Embedding,
    JsonNested,
)
from memory_server.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from memory_server.api.idempotency import KEY_PATTERN as IDEMPOTENCY_KEY_PATTERN
from memory_server.api.openapi_operations import Operation, Reply
from memory_server.api.response_schemas import ErrorSchema, ErrorV1Schema, TopicNodeSchema
from memory_server.api.schemas import (
    MAX_FILTER_CONDITIONS,
    MAX_FILTER_DEPTH,
    MAX_FILTER_OBJECTS,
)
from memory_server.api_keys import NAME_PATTERN
from memory_server.search.filters import OPERATORS

VERSION = "1.0.0"
DESCRIPTION = """\
A self-hosted memory server: store texts with metadata and find them again by meaning.

Two REST surfaces share one store: `/v1/memories` wraps every answer in
`{"success": true, "data": ...}`; `/api/v1/memory` answers with plain objects. Every call
except `/health`, `/openapi.json` and `/docs` needs `Authorization: Bearer <key>`
(`memory-server keys create`). `X-Workspace-ID` picks the workspace (default `default`).
A key made `--read-only` may only read, list and search, and a key made for some workspaces
(`--workspace`) may use only those: anything else is 403 FORBIDDEN.

Errors always have one JSON shape: `{"error": CODE, "message": text, "details": {...}}`,
plus `"success": false` on `/v1`.
"""

_SERVICE = ("Service", "Health, this document and the API reference page.")
_LANONASIS = (
    "LanOnasis client",
    "Routes of LanOnasis' `@lanonasis/memory-client` (docs/lanonasis.md): bulk delete and "
    "topics; with its `X-Project-Scope: lanonasis-maas` header, `/api/v1/memory` answers in "
    "its shapes.",
)
TAGS = {
    "memories_v1": ("Memories (/v1)", "The `/v1/memories` surface: answers in an envelope."),
    "memory_management": ("Memory management", "The `/api/v1/memory` surface."),
    "webhooks": ("Webhooks", "Signed HTTP callbacks on memory changes (Standard Webhooks)."),
    "key_info": ("Keys", "What the calling API key is and may do."),
    "lanonasis": _LANONASIS,
    "lanonasis_topics": _LANONASIS,
    "health": _SERVICE,
    "api_docs": _SERVICE,
    "console": _SERVICE,
}

ERRORS = {
    400: "Invalid request: a field, query parameter or header is not valid; `details` says which.",
    401: "Missing, invalid, revoked or expired API key.",
    403: "Forbidden (FORBIDDEN): the API key is valid but may not do this: it is a read-only "
    "key and the operation writes, or the key may not use the workspace X-Workspace-ID names "
    "(none means `default`). On webhook registration and changes also WEBHOOK_URL_NOT_ALLOWED: "
    "the URL is well formed but this server's network policy does not let webhooks call it "
    "(loopback, link-local, metadata or outside MEMORY_API_WEBHOOK_DESTINATION_NETWORKS).",
    404: "No such memory, webhook or topic in this workspace (for a topic's parent_topic_id too).",
    409: "Conflict: the id is taken (CONFLICT), the webhook limit is reached (CONFLICT), a "
    "topic's parent would make a cycle (CONFLICT), a "
    "request with the same Idempotency-Key is still running (IDEMPOTENCY_KEY_IN_USE, retry "
    "after Retry-After) or the key was used for another request (IDEMPOTENCY_KEY_REUSED).",
    408: "The request body did not arrive within MEMORY_API_CLIENT_TIMEOUT seconds "
    "(REQUEST_TIMEOUT); the connection is closed.",
    412: "If-Match names no current version of the memory (PRECONDITION_FAILED): it changed "
    "since; nothing was changed. The answer's ETag is the current version.",
    413: "The request body is larger than MEMORY_API_MAX_BODY_BYTES.",
    414: "The URL is longer than the server reads (a request line of 4,094 bytes): a "
    "`filters` parameter that large is better split. Answered by the HTTP front in plain "
    "text, not as an Error object.",
    415: "The body is not sent as Content-Type: application/json.",
    429: "The key's hourly quota is used up (RATE_LIMITED), or two long texts of this owner "
    "are being embedded already (EMBEDDING_BUSY); `retry_after` and Retry-After say when to "
    "retry.",
    507: "The server's storage is full (STORAGE_FULL): its disk, or "
    "MEMORY_API_MAX_DATABASE_BYTES. Nothing was stored or changed.",
    503: "The model or the quota store is not available yet, the database moved to another "
    "embedding model (`memory-server reembed`), or the server embeds as many long texts as it "
    "runs at once (EMBEDDING_BUSY, with Retry-After).",
}

_ERROR_HEADERS = {
    401: ("WWW-Authenticate",),
    409: ("Retry-After",),
    412: ("ETag",),
    429: ("Retry-After",),
    503: ("Retry-After",),
}

HEADERS = {
    "Location": {"description": "URL of the created resource.", "schema": {"type": "string"}},
    "ETag": {
        "description": "The memory's version (a strong entity tag): send it as If-Match to "
        "change or delete only this version.",
        "schema": {"type": "string"},
    },
    "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}},
    "WWW-Authenticate": {"description": "`Bearer realm=...`.", "schema": {"type": "string"}},
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer of an earlier request with the "
        "same Idempotency-Key (kept 24 hours).",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "X-RateLimit-Limit": {
        "description": "Requests this key may make per rolling hour.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left in the current hour.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Reset": {
        "description": "Unix time when the oldest counted request leaves the window.",
        "schema": {"type": "integer"},
    },
}
_QUOTA_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def ecma_pattern(pattern: str) -> str:
    r"""A Python regex as JSON Schema's (ECMA 262) dialect: `\Z` there is `$`."""
    return pattern[:-2] + "$" if pattern.endswith("\\Z") else pattern


def build_spec(app: Flask, dimension: int) -> dict[str, Any]:
    """The whole document for `app`, its vectors having `dimension` numbers."""
    plugin = MarshmallowPlugin(schema_name_resolver=_component_name)
    spec = APISpec(
        title="Memory server API",
        version=VERSION,
        openapi_version="3.1.0",
        plugins=[plugin],
        info={"description": DESCRIPTION},
        # Either way of presenting a key; public operations say `security: []`.
        security=[{"bearerAuth": []}, {"apiKeyHeader": []}],
    )
    plugin.converter.add_attribute_function(_field_extras)
    spec.components.security_scheme(
        "bearerAuth",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key: `memory-server keys create`.",
        },
    )
    spec.components.security_scheme(
        "apiKeyHeader",
        {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "The same API key, as LanOnasis' client sends it (docs/lanonasis.md); "
            "a request with an Authorization header is judged by that header alone.",
        },
    )
    for name, header in HEADERS.items():
        spec.components.header(name, header)
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.schema("ErrorV1", schema=ErrorV1Schema)
    spec.components.schema("TopicNode", schema=TopicNodeSchema)
    _json_value_components(spec)
    for name, description in sorted(set(TAGS.values())):
        spec.tag({"name": name, "description": description})

    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        view = app.view_functions[rule.endpoint]
        operation: Operation | None = getattr(view, "openapi", None)
        if operation is None:
            continue  # Flask's /static: no API
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        spec.path(
            path=path,
            operations={
                method.lower(): _operation(rule.endpoint, view, operation, path, method)
                for method in methods
            },
        )
    document = spec.to_dict()
    _schema_level_rules(document, plugin, dimension)
    return document


def _component_name(schema: type[Schema] | Schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    return cls.__name__.removesuffix("Schema")


def _field_extras(self: Any, field: fields.Field, **kwargs: Any) -> dict[str, Any]:
    """Constraints our own field classes state (`openapi`), and Python regexes made ECMA."""
    ret = kwargs["ret"]
    extras = dict(getattr(field, "openapi", {}))
    if "pattern" in ret:
        extras.setdefault("pattern", ecma_pattern(ret["pattern"]))
    elif isinstance(field, fields.String) and not isinstance(field, fields.Constant):
        extras.setdefault("pattern", NO_NUL)  # no body or query string may hold a NUL
    if "$ref" in extras:
        ret.pop("type", None)  # the referenced component says what it is
    if isinstance(field, fields.Constant):
        # apispec shows a Constant as a default; in an answer it is the only value.
        ret.pop("default", None)
        extras["const"] = field.constant
        extras["type"] = {bool: "boolean", str: "string"}[type(field.constant)]
    return extras


def _json_value_components(spec: APISpec) -> None:
    """Metadata (depth <= 5, known keys typed) and the search filter over it."""
    scalar = {"type": ["string", "number", "boolean", "null"], "pattern": NO_NUL}
    no_nul_keys = {"pattern": NO_NUL}
    spec.components.schema("JsonValue0", {"description": "A JSON scalar.", **scalar})
    for level in range(1, MAX_METADATA_DEPTH):
        inner = {"$ref": f"#/components/schemas/JsonValue{level - 1}"}
        spec.components.schema(
            f"JsonValue{level}",
            {
                "description": f"A JSON value nested at most {level} levels deep.",
                "anyOf": [
                    scalar,
                    {"type": "array", "items": inner},
                    {"type": "object", "propertyNames": no_nul_keys, "additionalProperties": inner},
                ],
            },
        )
    short = {"type": "string", "minLength": 1, "maxLength": 256, "pattern": NO_NUL}
    spec.components.schema(
        "Metadata",
        {
            "type": "object",
            "description": f"Any JSON object of at most {MAX_METADATA_DEPTH} nesting levels "
            f"and {MAX_METADATA_BYTES} bytes (as UTF-8 JSON). `type`, `source`, `tags` and "
            "`timestamp` are filterable in search and must have these types.",
            "properties": {
                "type": short,
                "source": short,
                "tags": {"type": "array", "maxItems": MAX_TAGS, "items": short},
                "timestamp": {"type": "string", "format": "date-time"},
            },
            "propertyNames": no_nul_keys,
            "additionalProperties": {
                "$ref": f"#/components/schemas/JsonValue{MAX_METADATA_DEPTH - 1}"
            },
        },
    )
    value = {"type": ["string", "number", "boolean", "null"], "pattern": NO_NUL}
    values = {"type": "array", "minItems": 1, "maxItems": MAX_IN_VALUES, "items": value}
    bound = {
        "anyOf": [{"type": "number"}, {"type": "string", "format": "date-time"}],
        "description": "A number, or an ISO 8601 date-time: then stored ISO date-times "
        "(Z or +HH:MM offsets) compare as instants.",
    }
    operators = {
        "eq": {**value, "description": "Equals (null: the key holds null)."},
        "ne": {**value, "description": "Does not equal; true for a memory without the key."},
        "in": {**values, "description": "Equals one of these."},
        "nin": {**values, "description": "Equals none of these; true without the key."},
        "gt": bound,
        "gte": bound,
        "lt": bound,
        "lte": bound,
        "exists": {"type": "boolean", "description": "The key is there (even holding null)."},
    }
    assert list(operators) == list(OPERATORS)
    spec.components.schema(
        "MetadataFilter",
        {
            "type": "object",
            "description": "Top-level metadata keys, each with the value it must equal or an "
            'object of operators that must all hold (`{"gte": 2, "lt": 5}`). Types are '
            "strict: true is not 1, a string is not a number, an array or object equals no "
            "value.",
            "minProperties": 1,
            "maxProperties": MAX_METADATA_FILTER_KEYS,
            "propertyNames": {"minLength": 1, "maxLength": 128, "pattern": '^[^"\\\\\\u0000]*$'},
            "additionalProperties": {
                "anyOf": [
                    value,
                    {
                        "type": "object",
                        "properties": operators,
                        "minProperties": 1,
                        "additionalProperties": False,
                    },
                ]
            },
        },
    )


def _schema_level_rules(
    document: dict[str, Any], plugin: MarshmallowPlugin, dimension: int
) -> None:
    """Rules marshmallow states as schema validators, and the model's vector length."""
    components = document["components"]["schemas"]
    for key, name in plugin.converter.refs.items():
        cls, component = key[0], components[name]
        component.update(getattr(cls, "openapi", {}))
        for field_name, field in cls._declared_fields.items():
            if isinstance(field, Embedding) and field_name in component["properties"]:
                component["properties"][field_name].update(
                    minItems=dimension,
                    maxItems=dimension,
                    description=f"Your own vector for this text: {dimension} numbers (this "
                    "server's model). Without it the server embeds the text.",
                )
    _filter_levels(components)


def _filter_levels(components: dict[str, Any]) -> None:
    """`or` and `not` nest at most MAX_FILTER_DEPTH levels: one component per level.

    apispec draws the recursive schema as one self-referring NestedFilters; the levels
    unrolled say the depth limit exactly, and give fuzzers a finite schema.
    """
    nested = components.pop("NestedFilters", None)
    if nested is None:
        return
    components["Filters"]["description"] = (
        "Conditions a memory must all meet; `or` and `not` combine whole filters, nested at "
        f"most {MAX_FILTER_DEPTH} levels deep; at most {MAX_FILTER_CONDITIONS} conditions "
        f"(each field and metadata operator) and {MAX_FILTER_OBJECTS} filter objects in all. "
        "`{}` is no condition at the top, and an error inside `or` or `not`."
    )
    levels = [components["Filters"]]
    for level in range(1, MAX_FILTER_DEPTH + 1):
        levels.append(copy.deepcopy(nested))
        components[f"FiltersLevel{level}"] = levels[-1]
        levels[-1]["description"] = f"A filter nested {level} level(s) deep in `or`/`not`."
    for level, component in enumerate(levels):
        properties = component["properties"]
        if level == MAX_FILTER_DEPTH:
            del properties["or"], properties["not"]
            continue
        ref = f"#/components/schemas/FiltersLevel{level + 1}"
        properties["or"]["items"] = {"$ref": ref}
        properties["not"]["$ref"] = ref


def _operation(
    endpoint: str, view: Any, operation: Operation, path: str, method: str
) -> dict[str, Any]:
    """One operation: its parameters, body and every answer it can give, errors included."""
    blueprint = endpoint.split(".")[0]
    v1 = path.startswith("/v1/")
    protected = is_protected(blueprint)
    idempotent = bool(getattr(view, "idempotent", False))
    summary, _, description = (inspect.getdoc(view) or "").partition("\n")
    result: dict[str, Any] = {
        "operationId": endpoint.replace(".", "_"),
        "summary": summary.rstrip("."),
        "tags": [TAGS[blueprint][0]],
    }
    if description.strip():
        result["description"] = description.strip()
    parameters = [_path_parameter(name) for name in re.findall(r"{(\w+)}", path)]
    if operation.query is not None:
        parameters += _query_parameters(operation.query)
    errors = set(operation.errors)
    if protected:
        parameters.append(
            {
                "in": "header",
                "name": "X-Workspace-ID",
                "description": "The workspace to work in (default `default`); a key made for "
                "some workspaces may name only those (else 403).",
                "schema": {"type": "string", "pattern": ecma_pattern(NAME_PATTERN.pattern)},
            }
        )
        errors |= {400, 401, 403, 429, 503}  # 403: a read-only key, or another workspace
        if is_write(method, view):
            errors.add(507)  # it writes: a full disk refuses it
    else:
        result["security"] = []
    if idempotent:
        parameters.append(
            {
                "in": "header",
                "name": IDEMPOTENCY_HEADER,
                "description": "Makes retries safe: a retry with the same key and body gets the "
                "first answer (kept 24 hours) instead of creating again.",
                "schema": {
                    "type": "string",
                    "pattern": ecma_pattern(IDEMPOTENCY_KEY_PATTERN.pattern),
                },
            }
        )
        errors.add(409)
    if operation.if_match:
        parameters.append(
            {
                "in": "header",
                "name": "If-Match",
                "description": "Apply only if the memory is at one of these versions (ETags "
                "from a GET, or `*`); else 412 and nothing changes.",
                "schema": {"type": "string"},
            }
        )
        errors.add(412)
    if operation.conditional:
        parameters.append(
            {
                "in": "header",
                "name": "If-None-Match",
                "description": "ETags the client holds: 304 with no body if one is current.",
                "schema": {"type": "string"},
            }
        )
    if parameters:
        result["parameters"] = parameters
    if operation.body is not None:
        result["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": operation.body}},
        }
        errors |= {400, 408, 413, 415}
    if operation.query is not None:
        errors.add(400)
        if _json_query_fields(operation.query):
            errors.add(414)  # a JSON parameter can make the URL as long as it likes
    responses = {
        str(status): _reply(reply, protected, idempotent)
        for status, reply in operation.replies.items()
    }
    if operation.conditional:
        responses["304"] = {
            "description": "Not modified: If-None-Match names the current version.",
            "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
        }
    for status in sorted(errors):
        responses[str(status)] = _error_reply(status, v1)
    result["responses"] = responses
    return result


def _query_parameters(query: type[Schema]) -> list[dict[str, Any]]:
    """The query string's parameters; a JSON one (`?filters={...}`) as JSON content."""
    json_fields = _json_query_fields(query)
    if not json_fields:
        return [{"in": "query", "schema": query}]
    parameters: list[dict[str, Any]] = [
        {"in": "query", "schema": query(exclude=tuple(json_fields))}
    ]
    for name, field in json_fields.items():
        parameters.append(
            {
                "in": "query",
                "name": field.data_key or name,
                "description": field.metadata.get("description", ""),
                "content": {"application/json": {"schema": type(field.schema)}},
            }
        )
    return parameters


def _json_query_fields(query: type[Schema]) -> dict[str, JsonNested]:
    return {
        name: field for name, field in query._declared_fields.items()
        if isinstance(field, JsonNested)
    }  # fmt: skip


def _path_parameter(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if name == "memory_id":
        # Not `not: batch/search/stats` as in bodies: those URLs exist, as other operations.
        schema = {"type": "string", "pattern": ecma_pattern(ID_PATTERN)}
    return {"in": "path", "name": name, "required": True, "schema": schema}


def _reply(reply: Reply, protected: bool, idempotent: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"description": reply.description}
    if reply.body is not None:
        result["content"] = {reply.media_type: {"schema": reply.body}}
    headers = list(reply.headers)
    if protected:
        headers += _QUOTA_HEADERS
    if idempotent:
        headers.append("Idempotent-Replayed")
    if headers:
        result["headers"] = {name: {"$ref": f"#/components/headers/{name}"} for name in headers}
    return result


def _error_reply(status: int, v1: bool) -> dict[str, Any]:
    if status == 414:  # gunicorn's own plain answer, before the app sees the request
        return {"description": ERRORS[status]}
    name = "ErrorV1" if v1 else "Error"
    result: dict[str, Any] = {
        "description": ERRORS[status],
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
    }
    if status in _ERROR_HEADERS:
        result["headers"] = {
            header: {"$ref": f"#/components/headers/{header}"} for header in _ERROR_HEADERS[status]
        }
    return result


def json_schema(schema: Schema) -> dict[str, Any]:
    """A self-contained JSON Schema (2020-12) of what `schema` loads, as the REST API's.

    The same converter and components as the OpenAPI document; the components the schema
    refers to travel along in `$defs` (MCP tools carry their input schema on their own).
    """
    plugin = MarshmallowPlugin(schema_name_resolver=_component_name)
    spec = APISpec(title="-", version=VERSION, openapi_version="3.1.0", plugins=[plugin])
    plugin.converter.add_attribute_function(_field_extras)
    _json_value_components(spec)
    name = _component_name(schema)
    spec.components.schema(name, schema=schema)
    document = spec.to_dict()
    _schema_level_rules(document, plugin, dimension=0)
    components = document["components"]["schemas"]
    root = components.pop(name)
    defs: dict[str, Any] = {}
    pending = _refs_in(root)
    while pending:
        ref = pending.pop()
        if ref not in defs:
            defs[ref] = components[ref]
            pending |= _refs_in(components[ref])
    text = json.dumps({**root, "$defs": defs} if defs else root)
    return json.loads(text.replace('"#/components/schemas/', '"#/$defs/'))


def _refs_in(node: Any) -> set[str]:
    """The component names `node` refers to, at any depth."""
    found = set()
    for ref in re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(node)):
        found.add(ref)
    return found
