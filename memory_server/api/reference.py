"""The OpenAPI document as a readable page: what `GET /docs` renders (no JavaScript, no CDN)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

METHOD_ORDER = ("get", "post", "put", "patch", "delete")


@dataclass
class Row:
    """One line of a table: a field, a parameter or a header."""

    name: str
    type: Markup
    required: bool
    notes: Markup


@dataclass
class Response:
    """One documented status of an operation."""

    status: str
    description: str
    body: Markup
    headers: list[str]


@dataclass
class Endpoint:
    """One operation, ready for the template."""

    anchor: str
    method: str
    path: str
    summary: str
    description: str
    public: bool
    parameters: list[Row]
    body: Markup
    responses: list[Response]


@dataclass
class Section:
    """A tag's operations."""

    name: str
    description: str
    endpoints: list[Endpoint] = field(default_factory=list)


@dataclass
class Component:
    """A named schema and its fields."""

    name: str
    description: str
    type: Markup
    rows: list[Row]


def reference(document: dict[str, Any]) -> dict[str, Any]:
    """Everything the template shows, from the OpenAPI document."""
    sections = {
        tag["name"]: Section(tag["name"], tag.get("description", ""))
        for tag in document.get("tags", [])
    }
    for path, operations in document["paths"].items():
        for method in sorted(operations, key=METHOD_ORDER.index):
            operation = operations[method]
            section = sections.setdefault(operation["tags"][0], Section(operation["tags"][0], ""))
            section.endpoints.append(_endpoint(path, method, operation))
    components = [
        Component(name, schema.get("description", ""), type_of(schema), _rows(schema))
        for name, schema in sorted(document["components"]["schemas"].items())
    ]
    return {
        "info": document["info"],
        "openapi": document["openapi"],
        "sections": [section for section in sections.values() if section.endpoints],
        "components": components,
    }


def _endpoint(path: str, method: str, operation: dict[str, Any]) -> Endpoint:
    parameters = [
        Row(
            parameter["name"],
            type_of(parameter.get("schema", {})),
            parameter.get("required", False),
            _notes(parameter.get("schema", {}), parameter.get("description", ""), parameter["in"]),
        )
        for parameter in operation.get("parameters", [])
    ]
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    responses = [
        Response(status, reply["description"], _body(reply), list(reply.get("headers", {})))
        for status, reply in operation["responses"].items()
    ]
    return Endpoint(
        anchor=operation["operationId"],
        method=method.upper(),
        path=path,
        summary=operation.get("summary", ""),
        description=operation.get("description", ""),
        public=operation.get("security") == [],
        parameters=parameters,
        body=type_of(body["schema"]) if body else Markup(""),
        responses=responses,
    )


def _body(reply: dict[str, Any]) -> Markup:
    """The answer's JSON type, or its media type when it is not JSON (the /docs page)."""
    content = reply.get("content", {})
    if "application/json" in content:
        return type_of(content["application/json"].get("schema"))
    return Markup(", ").join(Markup("<code>{}</code>").format(media) for media in content)


def _rows(schema: dict[str, Any]) -> list[Row]:
    required = set(schema.get("required", []))
    return [
        Row(name, type_of(prop), name in required, _notes(prop, prop.get("description", "")))
        for name, prop in schema.get("properties", {}).items()
    ]


def type_of(schema: dict[str, Any] | None) -> Markup:
    """A short readable type: `string`, `array of Memory` (linked), `integer | null`."""
    if not schema:
        return Markup("any")
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return Markup('<a href="#schema-{0}">{0}</a>').format(name)
    if "anyOf" in schema:
        return Markup(" | ").join(type_of(branch) for branch in schema["anyOf"])
    kind = schema.get("type", "any")
    if "const" in schema:
        return Markup("<code>{}</code>").format(_json(schema["const"]))
    if kind == "array":
        return Markup("array of ") + type_of(schema.get("items"))
    if kind == "object" and "additionalProperties" in schema and not schema.get("properties"):
        extra = schema["additionalProperties"]
        if isinstance(extra, dict):
            return Markup("object of ") + type_of(extra)
    if isinstance(kind, list):
        return Markup(escape(" | ".join(kind)))
    return Markup(escape(kind))


def _notes(schema: dict[str, Any], description: str, location: str | None = None) -> Markup:
    """The description, then the constraints a client must meet."""
    lead: list[Markup] = []
    if location:
        lead.append(Markup("<em>in {}</em>").format(location))
    if description:
        lead.append(Markup(escape(description)))
    parts: list[Markup] = []
    for low, high, unit in (
        ("minLength", "maxLength", "characters"),
        ("minItems", "maxItems", "items"),
        ("minimum", "maximum", ""),
        ("minProperties", "maxProperties", "keys"),
    ):
        if low in schema or high in schema:
            span = f"{_number(schema.get(low, '…'))} to {_number(schema.get(high, '…'))}"
            parts.append(Markup(escape(f"{span} {unit}".strip())))
    if "enum" in schema:
        values = Markup(", ").join(
            Markup("<code>{}</code>").format(_json(v)) for v in schema["enum"]
        )
        parts.append(Markup("one of ") + values)
    if "not" in schema and "enum" in schema["not"]:
        values = Markup(", ").join(
            Markup("<code>{}</code>").format(_json(v)) for v in schema["not"]["enum"]
        )
        parts.append(Markup("not ") + values)
    if "format" in schema:
        parts.append(Markup("format <code>{}</code>").format(schema["format"]))
    if "default" in schema:
        parts.append(Markup("default <code>{}</code>").format(_json(schema["default"])))
    if "pattern" in schema and len(schema["pattern"]) <= 80:
        parts.append(Markup("pattern <code>{}</code>").format(schema["pattern"]))
    constraints = Markup("; ").join(parts)
    return Markup(" ").join([*lead, constraints]) if constraints else Markup(" ").join(lead)


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _json(value: Any) -> str:
    return json.dumps(value)
