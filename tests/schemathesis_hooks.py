"""Schemathesis hooks of tests/test_api_contract.py (loaded through SCHEMATHESIS_HOOKS).

Two rules of the document are beyond JSON Schema, so a generated value can have the allowed
shape and still be rightly refused (400):
- `expires_at` must lie in the future: before each call a time that has passed is moved a
  century ahead; every other value is sent as generated.
- `filters` hold at most 200 conditions and 100 filter objects in all (the Filters
  description): cases over that total are not sent. Counted here from the document's words,
  not with the server's own code, so a miscount on either side still fails the run; the
  limits themselves are tested in tests/test_filters.py.
"""

from __future__ import annotations

import json
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


# The Filters component's description: "at most 200 conditions (each field and metadata
# operator) and 100 filter objects in all".
MAX_CONDITIONS, MAX_OBJECTS = 200, 100


def _filter_size(filters: Any) -> tuple[int, int]:
    """(conditions, filter objects) in one `filters` value, the top object included."""
    conditions, objects, stack = 0, 0, [filters]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        objects += 1
        for key, value in node.items():
            if key == "or":
                stack.extend(value if isinstance(value, list) else [])
            elif key == "not":
                stack.append(value)
            elif key == "metadata" and isinstance(value, dict):
                # an object of operators counts each; a bare value is one `eq`
                conditions += sum(
                    len(c) if isinstance(c, dict) and c else 1 for c in value.values()
                )
            else:
                conditions += 1
    return conditions, objects


def _filters_of(case: Any) -> list[Any]:
    """The `filters` a case sends: in a JSON body, or as the JSON query parameter."""
    found = []
    if isinstance(case.body, dict) and "filters" in case.body:
        found.append(case.body["filters"])
    query = case.query if isinstance(case.query, dict) else {}
    if "filters" in query:
        value = query["filters"]
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return found  # not JSON: the server says so, and that is what is tested
        found.append(value)
    return found


@schemathesis.hook
def filter_case(ctx: Any, case: Any) -> bool:
    """Leave out cases whose filters exceed the documented totals."""
    for filters in _filters_of(case):
        conditions, objects = _filter_size(filters)
        if conditions > MAX_CONDITIONS or objects > MAX_OBJECTS:
            return False
    return True
