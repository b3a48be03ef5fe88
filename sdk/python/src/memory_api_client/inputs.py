"""Typed shapes of what the client sends: batch items."""

from __future__ import annotations

from typing import Any, TypedDict


class _NewMemoryText(TypedDict):
    text: str


class NewMemory(_NewMemoryText, total=False):
    """One item of `create_many`, shaped as for a single create: only `text` is required."""

    id: str
    metadata: dict[str, Any]
    embedding: list[float]
