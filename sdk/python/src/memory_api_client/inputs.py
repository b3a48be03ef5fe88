"""Typed shapes of what the client sends: batch items, create options, search filters."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Literal, TypedDict

SearchMode = Literal["semantic", "keyword", "hybrid"]

OnDuplicate = Literal["skip", "allow"]
"""skip (the server's default): a copy of a live memory is not stored; allow: store it anyway."""

Scalar = str | int | float | bool

MetadataValue = Scalar | None
"""What a metadata key can equal: `None` matches a key holding JSON null."""

Bound = int | float | datetime | str
"""A range's end: a number, or a time (a `datetime`, naive meaning UTC, or ISO 8601 text)."""

# `in` is a keyword, so these cannot be written as classes.
MetadataOperators = TypedDict(
    "MetadataOperators",
    {
        "eq": MetadataValue,
        "ne": MetadataValue,
        "gt": Bound,
        "gte": Bound,
        "lt": Bound,
        "lte": Bound,
        "in": list[MetadataValue],
        "nin": list[MetadataValue],
        "exists": bool,
    },
    total=False,
)
"""Operators that must all hold for a metadata key: `{"gte": 2, "lt": 5}`.

`ne`, `nin` (and a filter's `not`) also hold for memories without the key; a number range
never matches a string, nor a time range a number (the server's docs/api.md, "Filters").
"""

MetadataIn = TypedDict("MetadataIn", {"in": list[Scalar]})
"""A metadata condition met by any of 1-100 values: `{"in": [1, 2]}` (a `MetadataOperators`)."""

MetadataCondition = MetadataValue | MetadataOperators | MetadataIn
"""A value the key must equal, or operators on it."""


class _NewMemoryText(TypedDict):
    text: str


class NewMemory(_NewMemoryText, total=False):
    """One item of `create_many`, shaped as for a single create: only `text` is required.

    `ttl_seconds` or `expires_at` (a `datetime`, naive meaning UTC, or ISO 8601 text) make it
    expire; `on_duplicate` and `duplicate_threshold` override the batch's for this item.
    """

    id: str
    metadata: dict[str, Any]
    embedding: list[float]
    ttl_seconds: int
    expires_at: datetime | str
    on_duplicate: OnDuplicate
    duplicate_threshold: float


class TagsFilter(TypedDict, total=False):
    """Tags a memory must have: at least one of `any`, every one of `all` (or both)."""

    any: list[str]
    all: list[str]


# `or` and `not` are keywords: these two fields come from a TypedDict made by call, whose
# string forward references let a filter hold filters.
_Combinators = TypedDict(
    "_Combinators", {"or": list["SearchFilters"], "not": "SearchFilters"}, total=False
)


class SearchFilters(_Combinators, total=False):
    """Conditions a search result or listed memory must meet (all of them; docs/api.md).

    Times are strictly after / before, as a `datetime` (naive ones are UTC, as the server
    reads them) or ISO 8601 text. `or`: at least one of 1-20 filters holds; `not`: the filter
    does not hold; they nest up to 5 levels deep.
    """

    type: str
    source: str
    tags: TagsFilter
    created_after: datetime | str
    created_before: datetime | str
    updated_after: datetime | str
    updated_before: datetime | str
    metadata: dict[str, MetadataCondition]


TIME_FILTERS = frozenset({"created_after", "created_before", "updated_after", "updated_before"})
RANGE_OPERATORS = frozenset({"gt", "gte", "lt", "lte"})


def filters_json(filters: Mapping[str, Any]) -> dict[str, Any]:
    """The filters as the server reads them: datetimes as ISO 8601 UTC text at any depth.

    What is not shaped as the grammar says is sent as given, for the server to name.
    """
    sent: dict[str, Any] = {}
    for key, value in filters.items():
        if key in TIME_FILTERS:
            sent[key] = moment_json(value)
        elif key == "or" and isinstance(value, (list, tuple)):
            sent[key] = [filters_json(f) if isinstance(f, Mapping) else f for f in value]
        elif key == "not" and isinstance(value, Mapping):
            sent[key] = filters_json(value)
        elif key == "metadata" and isinstance(value, Mapping):
            sent[key] = {name: _condition_json(condition) for name, condition in value.items()}
        else:
            sent[key] = value
    return sent


def _condition_json(condition: Any) -> Any:
    """A metadata condition as the server reads it: a datetime range end as ISO 8601 UTC."""
    if not isinstance(condition, Mapping):
        return condition
    return {
        operator: iso_utc(operand)
        if operator in RANGE_OPERATORS and isinstance(operand, datetime)
        else operand
        for operator, operand in condition.items()
    }


def item_json(item: Mapping[str, Any]) -> dict[str, Any]:
    """A batch item as the server reads it: a datetime `expires_at` as ISO 8601 UTC text."""
    return {
        key: moment_json(value) if key == "expires_at" else value for key, value in item.items()
    }


def moment_json(moment: datetime | str) -> str:
    """A time as the server reads it: a datetime as ISO 8601 UTC text, text as given."""
    return iso_utc(moment) if isinstance(moment, datetime) else moment


def iso_utc(moment: datetime) -> str:
    """A datetime as ISO 8601 UTC text with a `Z`; a naive one is taken as UTC."""
    utc = timezone.utc  # noqa: UP017 - datetime.UTC is Python 3.11+; the SDK supports 3.10
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=utc)
    return moment.astimezone(utc).isoformat().replace("+00:00", "Z")
