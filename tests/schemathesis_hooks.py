"""Schemathesis hooks of tests/test_api_contract.py (loaded through SCHEMATHESIS_HOOKS).

`expires_at` must lie in the future: JSON Schema cannot say so, so a generated time that has
passed would be refused (400, rightly) although the document allows its shape. Before each
call such a time is moved a century ahead; every other value is sent as generated.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import schemathesis


def _in_the_future(value: Any) -> Any:
    """A passed ISO time as the same moment of a year a century from now; else unchanged."""
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
        ahead = datetime.now(UTC).year + 100
        return moment.replace(year=ahead, day=min(moment.day, 28)).isoformat()
    except (OverflowError, ValueError):  # an offset past the year's end: leave it
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
