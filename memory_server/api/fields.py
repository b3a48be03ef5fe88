"""The custom marshmallow fields requests are made of; each states its JSON Schema too."""

from __future__ import annotations

import functools
import json
import math
import sys
from datetime import UTC, datetime
from typing import Any, ClassVar

import numpy as np
from marshmallow import (
    ValidationError,
    fields,
    validate,
)

from memory_server.clock import format_timestamp
from memory_server.search.filters import OPERATORS, Condition

# A string without a NUL character, as a JSON Schema pattern: PostgreSQL can store none, so
# no request may send one (http_input.py refuses them in every body and query).
NO_NUL = "^[^\\u0000]*$"

MAX_TEXT_CHARS = 50_000


MAX_METADATA_BYTES = 16_384


MAX_METADATA_DEPTH = 5


MAX_TAGS = 100


ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}\Z"


# Client vectors: values a float32 can square and sum over 4,096 dimensions without
# overflowing, and at least one value whose square does not vanish (a direction to compare).
EMBEDDING_MAX_ABS = 1e15


EMBEDDING_MIN_PEAK = 1e-15


def _whitespace_class() -> str:
    """A regex class of exactly the characters str.strip() removes (Python's isspace)."""
    ranges: list[list[int]] = []
    for code in range(sys.maxunicode + 1):
        if not chr(code).isspace():
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(
        f"\\u{low:04x}" if low == high else f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges
    )


@functools.cache
def text_pattern() -> str:
    """Text._deserialize's rule as a JSON Schema pattern: some non-whitespace, no NUL.

    Made on first use (scanning Unicode takes ~80 ms): only the OpenAPI document needs it,
    not every worker and CLI command at import.
    """
    return f"^[^\\u0000]*[^\\u0000{_whitespace_class()}][^\\u0000]*$"


class Text(fields.String):
    """A memory's text: 1-50,000 characters, not only whitespace, no NUL."""

    @property
    def openapi(self) -> dict[str, Any]:
        """Its JSON Schema (a property: the pattern is built on first use)."""
        return {"minLength": 1, "maxLength": MAX_TEXT_CHARS, "pattern": text_pattern()}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text.strip():
            raise ValidationError("Must contain at least one non-whitespace character.")
        if len(text) > MAX_TEXT_CHARS:
            raise ValidationError(f"Must be at most {MAX_TEXT_CHARS} characters.")
        if "\x00" in text:
            raise ValidationError("Must not contain NUL characters.")
        return text


# Ids a URL could not name: words of endpoints under /api/v1/memory/, and the dot segments
# that clients resolve away ("/memory/.." is "/memory").
RESERVED_IDS = frozenset({"batch", "search", "stats", ".", ".."})


class MemoryId(fields.String):
    """A client-chosen memory id: 1-128 characters of A-Z a-z 0-9 _ . : -, not a reserved word."""

    openapi: ClassVar[dict[str, Any]] = {"not": {"enum": sorted(RESERVED_IDS)}}

    def __init__(self, **kwargs: Any) -> None:
        message = "Must be 1-128 characters of A-Z a-z 0-9 _ . : -"
        reserved = validate.NoneOf(
            RESERVED_IDS, error="Is reserved: batch, search, stats, '.' and '..' name no memory."
        )
        super().__init__(validate=[validate.Regexp(ID_PATTERN, error=message), reserved], **kwargs)


class StrictFloat(fields.Float):
    """A JSON number only: no numeric strings, no booleans, no NaN or infinity."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("Not a valid number.")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictInteger(fields.Integer):
    """A JSON integer only: no numeric strings, booleans or 10.5 (10.0 is 10, as in JSON Schema)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("Not a valid integer.")
        if isinstance(value, float) and not value.is_integer():
            raise ValidationError("Not a valid integer.")
        return super()._deserialize(int(value), attr, data, **kwargs)


BEFORE_ALL_TIMES = "0000-00-00T00:00:00.000Z"


AFTER_ALL_TIMES = "9999-99-99T99:99:99.999Z"


class UtcTimestamp(fields.Field):
    """An ISO 8601 date-time (naive ones are UTC), as the store's sortable UTC text."""

    openapi: ClassVar[dict[str, Any]] = {"type": "string", "format": "date-time"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        problem = _timestamp(value)
        if problem:
            raise ValidationError(problem)
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:
            # 0001-01-01T00:00+14:00 is in year 0, 9999-12-31T23:59-14:00 in year 10000:
            # before or after every time a memory can have, as text that sorts so.
            return BEFORE_ALL_TIMES if moment.year == 1 else AFTER_ALL_TIMES
        return format_timestamp(moment)


# A memory may live up to ~100 years from now: far enough for any real use, and a bound
# that keeps `now + ttl` a valid time.
MAX_TTL_SECONDS = 100 * 365 * 24 * 3600


class FutureTimestamp(UtcTimestamp):
    """`expires_at`: an ISO 8601 date-time (naive ones are UTC) later than now."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # An instance's own: null is a value only where the field allows none (updates).
        kind = ["string", "null"] if self.allow_none else "string"
        self.openapi = {"type": kind, "format": "date-time"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        moment = super()._deserialize(value, attr, data, **kwargs)
        if moment <= format_timestamp(datetime.now(UTC)):
            raise ValidationError("Must be in the future (use DELETE to forget a memory now).")
        return moment


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value (a flat object is 1), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest


class Metadata(fields.Field):
    """A JSON object of bounded size and depth; well-known keys must have their types."""

    openapi: ClassVar[dict[str, Any]] = {"$ref": "#/components/schemas/Metadata"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict:
        if not isinstance(value, dict):
            raise ValidationError("Must be a JSON object.")
        if _depth(value) > MAX_METADATA_DEPTH:
            raise ValidationError(f"Must not nest deeper than {MAX_METADATA_DEPTH} levels.")
        size = len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
        if size > MAX_METADATA_BYTES:
            raise ValidationError(f"Must be at most {MAX_METADATA_BYTES} bytes as JSON.")
        errors = {key: [check(value[key])] for key, check in _KNOWN_KEYS.items() if key in value}
        errors = {key: message for key, message in errors.items() if message != [None]}
        if errors:
            raise ValidationError(errors)
        return value


def _short_string(value: Any) -> str | None:
    if not isinstance(value, str) or not 1 <= len(value) <= 256:
        return "Must be a string of 1-256 characters."
    return None


def _tags(value: Any) -> str | None:
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        return f"Must be a list of at most {MAX_TAGS} strings."
    if any(_short_string(tag) for tag in value):
        return "Every tag must be a string of 1-256 characters."
    return None


def _timestamp(value: Any) -> str | None:
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return "Must be an ISO 8601 date-time string, e.g. 2024-01-15T10:30:00Z."
    return None


_KNOWN_KEYS = {
    "type": _short_string,
    "tags": _tags,
    "source": _short_string,
    "timestamp": _timestamp,
}


def _has_direction(vector: list[float]) -> None:
    if not any(abs(value) >= EMBEDDING_MIN_PEAK for value in vector):
        raise ValidationError(
            f"Must have a value of magnitude {EMBEDDING_MIN_PEAK:g} or more (all zeros has no "
            "direction)."
        )


class Vector(fields.List):
    """A list of JSON numbers within +-`limit`, checked in one numpy pass when all is well.

    A vector has hundreds of values: marshmallow's item-by-item path cost ~1.5 ms per
    384-dim vector (three quarters of an import's time). Anything the fast path does not
    accept goes through that path, which names the item at fault.
    """

    def __init__(self, limit: float = math.inf, range_error: str = "", **kwargs: Any) -> None:
        self.limit = limit
        item = StrictFloat(
            allow_nan=False, validate=validate.Range(-limit, limit, error=range_error)
        )
        super().__init__(item, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[float]:
        numbers = _finite_numbers(value, self.limit)
        if numbers is None:
            return super()._deserialize(value, attr, data, **kwargs)
        return numbers


def _finite_numbers(value: Any, limit: float) -> list[float] | None:
    """The value as floats if it is a list of JSON numbers (no booleans) within +-limit."""
    # Exact types: bool is an int subclass, and anything else takes the detailed path.
    if not isinstance(value, list) or not all(type(item) in (int, float) for item in value):
        return None
    try:
        array = np.asarray(value, dtype=np.float64)
    except OverflowError:  # an integer beyond float range
        return None
    if not (np.isfinite(array).all() and (np.abs(array) <= limit).all()):
        return None
    return array.tolist()


class Embedding(Vector):
    """A client-computed vector: finite numbers within +-1e15, not all (near) zero.

    Its length must be the model's dimension; the service checks that, as only it knows it.
    """

    openapi: ClassVar[dict[str, Any]] = {
        "contains": {"anyOf": [{"minimum": EMBEDDING_MIN_PEAK}, {"maximum": -EMBEDDING_MIN_PEAK}]}
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            EMBEDDING_MAX_ABS,
            "Must be between -1e15 and 1e15.",
            validate=[validate.Length(1, 4096), _has_direction],
            **kwargs,
        )


MAX_IN_VALUES = 100


MAX_METADATA_FILTER_KEYS = 20


def _is_value(value: Any) -> bool:
    """A JSON scalar a metadata value can equal: string, number, boolean or null."""
    return value is None or isinstance(value, str | int | float | bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_VALUE = "a string, number, boolean or null"


def _operand_problem(operator: str, operand: Any) -> str | None:
    """Why `operand` cannot go with `operator`, or None if it can."""
    if operator in ("eq", "ne"):
        return None if _is_value(operand) else f"`{operator}` takes {_VALUE}."
    if operator in ("in", "nin"):
        problem = f"`{operator}` takes a list of 1-{MAX_IN_VALUES} values, each {_VALUE}."
        if isinstance(operand, list) and 1 <= len(operand) <= MAX_IN_VALUES:
            return None if all(map(_is_value, operand)) else problem
        return problem
    if operator == "exists":
        return None if isinstance(operand, bool) else "`exists` takes true or false."
    if _is_number(operand) or (isinstance(operand, str) and _timestamp(operand) is None):
        return None
    return f"`{operator}` takes a number or an ISO 8601 date-time string."


def _metadata_condition(condition: Any) -> Condition | list[str] | dict[str, list[str]]:
    """One key's condition as (operator, operand) pairs, or what is wrong with it."""
    if _is_value(condition):
        return (("eq", condition),)
    if not isinstance(condition, dict) or not condition:
        return [f'Must be {_VALUE}, or an object of operators such as {{"gte": 2, "lt": 5}}.']
    found, errors = [], {}
    for operator, operand in condition.items():
        if operator not in OPERATORS:
            errors[operator] = [f"Unknown operator; use {', '.join(OPERATORS)}."]
        elif problem := _operand_problem(operator, operand):
            errors[operator] = [problem]
        else:
            found.append((operator, tuple(operand) if operator in ("in", "nin") else operand))
    return errors or tuple(found)


class MetadataFilter(fields.Field):
    """`filters.metadata`: top-level keys and the value each must equal, or operators on it."""

    openapi: ClassVar[dict[str, Any]] = {"$ref": "#/components/schemas/MetadataFilter"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict:
        if not isinstance(value, dict) or not 1 <= len(value) <= MAX_METADATA_FILTER_KEYS:
            raise ValidationError(
                f"Must be an object of 1-{MAX_METADATA_FILTER_KEYS} metadata keys and conditions."
            )
        found, errors = {}, {}
        for key, condition in value.items():
            # '"' and '\' are refused so a key always makes an exact quoted JSON path.
            if not 1 <= len(key) <= 128 or '"' in key or "\\" in key:
                errors[key] = ["Keys are 1-128 characters, without double quotes or backslashes."]
                continue
            parsed = _metadata_condition(condition)
            if isinstance(parsed, tuple):
                found[key] = parsed
            else:
                errors[key] = parsed
        if errors:
            raise ValidationError(errors)
        return found


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def json_object_text(text: Any) -> dict[str, Any]:
    """A query parameter's JSON object: no NaN/Infinity, NUL or lone surrogates; else invalid."""
    message = "Must be a JSON object (URL-encoded)"
    if not isinstance(text, str):
        raise ValidationError(f"{message}.")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # RecursionError: brackets nested thousands deep
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ValidationError(f"{message}: {reason}.") from exc
    if not isinstance(value, dict):
        raise ValidationError(f"{message}.")
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack += [*item, *item.values()]
        elif isinstance(item, list):
            stack += item
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValidationError(f"{message}: numbers must be finite.")
        elif isinstance(item, str) and "\x00" in item:
            raise ValidationError(f"{message}: no string may contain a NUL character.")
        elif isinstance(item, str) and not item.isascii():
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValidationError(f"{message}: a lone surrogate is not text.") from exc
    return value


class JsonNested(fields.Nested):
    """A query parameter holding a JSON object that a nested schema loads (`?filters={...}`).

    The OpenAPI document describes it as `content: application/json`, not as a string.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return super()._deserialize(json_object_text(value), attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    """A JSON true or false only (marshmallow would also take "yes", 1, "on")."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Must be true or false.")
        return value
