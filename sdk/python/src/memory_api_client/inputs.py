"""Typed shapes of what the client sends: batch items, create options, search filters."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Literal, TypedDict

SearchMode = Literal["semantic", "keyword", "hybrid"]

OnDuplicate = Literal["skip", "allow"]
"""skip (the server's default): a copy of a live memory is not stored; allow: store it anyway."""

Scalar = str | int | float | bool

# `in` is a keyword, so this one cannot be written as a class.
MetadataIn = TypedDict("MetadataIn", {"in": list[Scalar]})
"""A metadata condition met by any of 1-100 values: `{"in": [1, 2]}`."""


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
        key: moment_json(value) if key in TIME_FILTERS else value for key, value in filters.items()
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
