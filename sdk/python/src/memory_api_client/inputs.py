"""Typed shapes of what the client sends: batch items, search modes and search filters."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Literal, TypedDict

SearchMode = Literal["semantic", "keyword", "hybrid"]

Scalar = str | int | float | bool

# `in` is a keyword, so this one cannot be written as a class.
MetadataIn = TypedDict("MetadataIn", {"in": list[Scalar]})
"""A metadata condition met by any of 1-100 values: `{"in": [1, 2]}`."""


class _NewMemoryText(TypedDict):
    text: str


class NewMemory(_NewMemoryText, total=False):
    """One item of `create_many`, shaped as for a single create: only `text` is required."""

    id: str
    metadata: dict[str, Any]
    embedding: list[float]


class TagsFilter(TypedDict, total=False):
    """Tags a memory must have: at least one of `any`, every one of `all` (or both)."""

    any: list[str]
    all: list[str]


class SearchFilters(TypedDict, total=False):
    """Conditions every search result must meet (all of them; see the server's docs/api.md).

    Times are strictly after / before, as a `datetime` (naive ones are UTC, as the server
    reads them) or ISO 8601 text.
    """

    type: str
    source: str
    tags: TagsFilter
    created_after: datetime | str
    created_before: datetime | str
    updated_after: datetime | str
    updated_before: datetime | str
    metadata: dict[str, Scalar | MetadataIn]


TIME_FILTERS = frozenset({"created_after", "created_before", "updated_after", "updated_before"})


def filters_json(filters: Mapping[str, Any]) -> dict[str, Any]:
    """The filters as the server reads them: datetimes as ISO 8601 UTC text, the rest as given."""
    return {
        key: iso_utc(value) if key in TIME_FILTERS and isinstance(value, datetime) else value
        for key, value in filters.items()
    }


def iso_utc(moment: datetime) -> str:
    """A datetime as ISO 8601 UTC text with a `Z`; a naive one is taken as UTC."""
    utc = timezone.utc  # noqa: UP017 - datetime.UTC is Python 3.11+; the SDK supports 3.10
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=utc)
    return moment.astimezone(utc).isoformat().replace("+00:00", "Z")
