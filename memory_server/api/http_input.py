"""Reading client input: strict JSON bodies and marshmallow validation, as clear 4xx errors."""

from __future__ import annotations

import json
import math
from typing import Any

from flask import g, request
from marshmallow import Schema, ValidationError

from memory_server.api.errors import APIError, invalid_request
from memory_server.api.schemas import REQUIRED

# What a create may say besides its text: expiry and what to do with a duplicate.
CREATE_OPTIONS = ("expires_at", "on_duplicate", "duplicate_threshold")


def create_options(body: dict[str, Any], defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """The create options of a validated body (a batch item over its batch's `defaults`)."""
    found = {key: body[key] for key in CREATE_OPTIONS if key in body}
    return {**(defaults or {}), **found}


def update_options(body: dict[str, Any]) -> dict[str, Any]:
    """An update's expiry, if the validated body names one (null: no expiry any more)."""
    return {"expires_at": body["expires_at"]} if "expires_at" in body else {}


def batch_status(stored: int, failed: int) -> int:
    """A batch's status: 207 if an item failed, else 201 if one was stored, else 200."""
    if failed:
        return 207  # every item says whether it was stored, a duplicate or refused
    return 201 if stored else 200


def if_match() -> list[str] | None:
    """The entity tags of the If-Match header (`*` included), or None if there is none.

    Read leniently: tags are taken with or without their double quotes, so a client that
    strips them still matches; weak tags (W/"...") are kept as written and so never equal a
    memory's strong tag (If-Match compares strongly). Anything else matches no version.
    """
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    tags = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        unquoted = part.startswith("W/") or part == "*" or part.startswith('"')
        tags.append(part if unquoted else f'"{part}"')
    return tags


def json_body(schema: Schema) -> dict[str, Any]:
    """The request's JSON object, validated by `schema`."""
    if not request.is_json:
        raise APIError(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json")
    return validate(schema, request_json(), "body")


def query_args(schema: Schema) -> dict[str, Any]:
    """The query string, validated by `schema`."""
    args = request.args.to_dict()
    for name, value in args.items():
        if "\x00" in value:
            raise invalid_request(f"Query parameter {name!r} contains a NUL character")
    return validate(schema, args, "query")


def request_json() -> dict[str, Any]:
    """The request's body as a JSON object, parsed once however many callers need it."""
    if "parsed_body" not in g:
        g.parsed_body = parse_json(request.get_data(cache=True))
    return g.parsed_body


def parse_json(raw: bytes) -> dict[str, Any]:
    """Parse a body as a JSON object: UTF-8, no NaN/Infinity, no NUL, no lone surrogates."""
    try:
        data = json.loads(
            raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float
        )
    except UnicodeDecodeError as exc:
        raise invalid_request("Request body is not valid UTF-8") from exc
    except (ValueError, RecursionError) as exc:
        # RecursionError: thousands of nested brackets; a client mistake, not a crash.
        raise invalid_request(f"Request body is not valid JSON: {_reason(exc)}") from exc
    if not isinstance(data, dict):
        raise invalid_request("Request body must be a JSON object")
    _check_strings(data)
    return data


def validate(schema: Schema, data: dict[str, Any], location: str) -> dict[str, Any]:
    """Load `data` with `schema`, turning marshmallow's errors into the seed's 400 shape."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise _validation_error(exc.normalized_messages(), location) from exc


def _validation_error(messages: dict[str, Any], location: str) -> APIError:
    missing = sorted(field for field, errs in messages.items() if errs == [REQUIRED])
    invalid = {field: errs for field, errs in messages.items() if errs != [REQUIRED]}
    details: dict[str, Any] = {}
    if missing:
        details["missing_fields"] = missing
    if invalid:
        details["fields"] = invalid
    kind = "query parameter" if location == "query" else "field"
    plural = len(missing) > 1
    if missing and not invalid and location == "query":
        message = f"Query parameter{'s are' if plural else ' is'} required: {', '.join(missing)}"
    elif missing and not invalid:
        # The seed's exact words for a missing text: "Text field is required".
        names = " and ".join(missing)
        message = f"{names[0].upper()}{names[1:]} field{'s are' if plural else ' is'} required"
    elif list(invalid) == ["_schema"]:
        message = "; ".join(invalid["_schema"])
    else:
        names = ", ".join(field for field in invalid if field != "_schema")
        message = f"Invalid {kind}{'s' if len(invalid) > 1 else ''}: {names}"
    return invalid_request(message, details)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    # 1e999 is valid JSON but parses to infinity, which no JSON response could carry back.
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"number {literal[:20]} is out of range")
    return value


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)


def _check_strings(data: dict[str, Any]) -> None:
    """Reject strings no database can store, anywhere in a body (keys and values).

    A lone UTF-16 surrogate (a legal JSON escape, but not text) is a 400 for the body; a NUL
    character a 400 naming the top-level field that holds it: no text field may hold one,
    and PostgreSQL refuses it in text and jsonb alike.
    """
    for field, value in data.items():
        stack = [field, value]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, str) and "\x00" in item:
                name = field.replace("\x00", "\\u0000")
                raise _validation_error({name: ["Must not contain NUL characters."]}, "body")
            elif isinstance(item, str) and not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise invalid_request(
                        "Request body contains an invalid unicode escape (a lone surrogate)"
                    ) from exc
