"""Schemathesis hooks of tests/test_api_contract.py (loaded through SCHEMATHESIS_HOOKS).

`expires_at` must lie in the future: JSON Schema cannot say so, so a generated time that has
passed would be refused (400, rightly) although the document allows its shape. Before each
call such a time is moved ahead by 100 years; every other value is sent as generated.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import schemathesis


def _in_the_future(value: Any) -> Any:
    """A passed ISO time as the same moment 100 years later; anything else unchanged."""
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        if aware > datetime.now(UTC):
            return value
        return moment.replace(year=min(moment.year + 100, 9999)).isoformat()
    except (OverflowError, ValueError):  # year 9999, or 29 February of a century year
        return value


def _move_expiries(body: Any) -> None:
    if not isinstance(body, dict):
        return
    batch = body.get("memories")
    items = [body, *(batch if isinstance(batch, list) else [])]
    for item in items:
        if isinstance(item, dict) and "expires_at" in item:
            item["expires_at"] = _in_the_future(item["expires_at"])


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    """Move every `expires_at` that has already passed into the future."""
    _move_expiries(case.body)
