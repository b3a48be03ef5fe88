"""Search filters as PostgreSQL over `memories` (alias `m`): the same meaning as SQLite's.

search/filters.py compiles a Filters tree for SQLite's JSON functions; this compiles it for
`jsonb` (`m.metadata_doc`), keeping every rule of the grammar: values compare as JSON (true
is not 1, "3" is not 3, an array equals no scalar), `ne`/`nin`/`not` hold for a memory
without the key, numeric ranges see numbers only, time ranges see ISO 8601 date-times only,
compared as instants. Every fragment is true or false, never NULL, so NOT is exact.
"""

from __future__ import annotations

import json
from typing import Any

from memory_server.search.filters import RANGES, Filters, Operator, Value, time_bound

# Text that reads as a date-time: YYYY-MM-DD, then anything memory_time() can read.
DATE_PREFIX = "^[0-9]{4}-[0-9]{2}-[0-9]{2}"


def filter_sql(filters: Filters) -> tuple[str, list[Any]]:
    """A WHERE fragment (never empty) and its parameters."""
    clauses, params = ["TRUE"], []
    for key, value in (("type", filters.type), ("source", filters.source)):
        if value is not None:
            clauses.append(f"coalesce(m.metadata_doc -> '{key}' = ?::jsonb, FALSE)")
            params.append(json.dumps(value))
    if filters.tags_any:
        clauses.append(f"EXISTS (SELECT 1 FROM {_TAGS} AS t WHERE t.value = ANY(?::jsonb[]))")
        params.append([json.dumps(tag) for tag in filters.tags_any])
    if filters.tags_all:
        clauses.append(
            f"(SELECT count(DISTINCT t.value) FROM {_TAGS} AS t"
            " WHERE t.value = ANY(?::jsonb[])) = ?"
        )
        params += [[json.dumps(tag) for tag in filters.tags_all], len(set(filters.tags_all))]
    for column, op, bound in (
        ("created_at", ">", filters.created_after),
        ("created_at", "<", filters.created_before),
        ("updated_at", ">", filters.updated_after),
        ("updated_at", "<", filters.updated_before),
    ):
        if bound is not None:
            # Stored times are fixed-width UTC text, so text order is time order.
            clauses.append(f"m.{column} {op} ?")
            params.append(bound)
    for key, condition in filters.metadata.items():
        for operator, operand in condition:
            clause, found = _operator_clause(key, operator, operand)
            clauses.append(clause)
            params += found
    if filters.any_of:
        alternatives = [filter_sql(alternative) for alternative in filters.any_of]
        clauses.append("(" + " OR ".join(f"({where})" for where, _ in alternatives) + ")")
        params += [param for _, found in alternatives for param in found]
    if filters.negated is not None:
        where, found = filter_sql(filters.negated)
        clauses.append(f"NOT coalesce(({where}), FALSE)")
        params += found
    return " AND ".join(clauses), params


# The elements of `tags` as SQLite's json_each reads them: an array's items, an object's
# values, a scalar itself (a bare "work" is the tag work); none when the key is missing.
_TAGS = (
    "(SELECT e.value FROM jsonb_array_elements(CASE jsonb_typeof(m.metadata_doc -> 'tags')"
    " WHEN 'array' THEN m.metadata_doc -> 'tags' ELSE '[]'::jsonb END) AS e"
    " UNION ALL SELECT o.value FROM jsonb_each(CASE jsonb_typeof(m.metadata_doc -> 'tags')"
    " WHEN 'object' THEN m.metadata_doc -> 'tags' ELSE '{}'::jsonb END) AS o"
    " UNION ALL SELECT m.metadata_doc -> 'tags' WHERE jsonb_typeof(m.metadata_doc -> 'tags')"
    " NOT IN ('array', 'object'))"
)


def _operator_clause(key: str, operator: Operator, operand: Any) -> tuple[str, list[Any]]:
    """One operator on the value of a top-level key: true or false for every row."""
    value = "(m.metadata_doc -> ?)"
    if operator == "eq":
        return _one_of(key, (operand,))
    if operator == "in":
        return _one_of(key, operand)
    if operator in ("ne", "nin"):
        clause, params = _one_of(key, (operand,) if operator == "ne" else operand)
        return f"NOT {clause}", params
    if operator == "exists":
        # A key holding JSON null exists: -> gives the jsonb null, not SQL NULL.
        return f"{value} IS {'NOT NULL' if operand else 'NULL'}", [key]
    op = RANGES[operator]
    if isinstance(operand, str):
        bound = time_bound(operand)
        if bound is None:  # past 9999-12-31 in UTC: after every time stored
            bound, op = "9999-12-31T23:59:59.999Z", {">": ">", ">=": ">", "<": "<=", "<=": "<="}[op]
        return (
            f"coalesce(jsonb_typeof({value}) = 'string' AND ({value} #>> '{{}}') ~ ?"
            f" AND memory_time({value} #>> '{{}}') {op} memory_time(?), FALSE)",
            [key, key, DATE_PREFIX, key, bound],
        )
    return (
        f"coalesce(jsonb_typeof({value}) = 'number' AND ({value})::numeric {op} ?::numeric, FALSE)",
        [key, key, str(operand)],
    )


def _one_of(key: str, values: tuple[Value, ...]) -> tuple[str, list[Any]]:
    """The value of `key` is one of `values`, compared as JSON values (jsonb equality).

    jsonb compares numbers by value (2.5 = 2.50, 3 = 3.0) and never equals a number to a
    string, a boolean or null; an array or object equals none of these scalars.
    """
    if not values:
        return "FALSE", []
    return (
        "coalesce((m.metadata_doc -> ?) = ANY(?::jsonb[]), FALSE)",
        [key, [json.dumps(v) for v in values]],
    )
