"""Search filters as SQL over the `memories` table (alias `m`), applied before any top-k cut."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Scalar = str | int | float | bool
Value = Scalar | None
Operator = Literal["eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "exists"]
OPERATORS: tuple[Operator, ...] = ("eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "exists")
RANGES = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
# One metadata condition: operators and their operands, all of which must hold. `in`/`nin`
# take a tuple of values, ranges a number or an ISO 8601 date-time string, `exists` a bool.
Condition = tuple[tuple[Operator, Any], ...]


@dataclass(frozen=True)
class Filters:
    """What a memory must match to be a search result; every condition must hold."""

    type: str | None = None
    source: str | None = None
    tags_any: tuple[str, ...] = ()
    tags_all: tuple[str, ...] = ()
    created_after: str | None = None
    created_before: str | None = None
    updated_after: str | None = None
    updated_before: str | None = None
    # top-level metadata key -> the operators its value must satisfy
    metadata: dict[str, Condition] = field(default_factory=dict)
    any_of: tuple[Filters, ...] = ()  # "or": at least one of these holds too
    negated: Filters | None = None  # "not": this one does not hold

    def to_sql(self) -> tuple[str, list[Any]]:
        """A WHERE fragment (never empty) and its parameters."""
        clauses, params = ["1"], []
        for key, value in (("type", self.type), ("source", self.source)):
            if value is not None:
                clauses.append(f"json_extract(m.metadata, '$.{key}') = ?")
                params.append(value)
        if self.tags_any:
            clauses.append(
                "EXISTS (SELECT 1 FROM json_each(m.metadata, '$.tags') AS t"
                " WHERE t.value IN (SELECT value FROM json_each(?)))"
            )
            params.append(json.dumps(self.tags_any))
        if self.tags_all:
            clauses.append(
                "(SELECT count(DISTINCT t.value) FROM json_each(m.metadata, '$.tags') AS t"
                " WHERE t.value IN (SELECT value FROM json_each(?))) = ?"
            )
            params += [json.dumps(self.tags_all), len(set(self.tags_all))]
        for column, op, bound in (
            ("created_at", ">", self.created_after),
            ("created_at", "<", self.created_before),
            ("updated_at", ">", self.updated_after),
            ("updated_at", "<", self.updated_before),
        ):
            if bound is not None:
                # Stored times are fixed-width UTC text, so text order is time order.
                clauses.append(f"m.{column} {op} ?")
                params.append(bound)
        for key, condition in self.metadata.items():
            # Keys are checked to hold no '"' or '\\', so the quoted JSON path is exact.
            for operator, operand in condition:
                clause, found = _operator_clause(f'$."{key}"', operator, operand)
                clauses.append(clause)
                params += found
        if self.any_of:
            alternatives = [alternative.to_sql() for alternative in self.any_of]
            clauses.append("(" + " OR ".join(f"({where})" for where, _ in alternatives) + ")")
            params += [param for _, found in alternatives for param in found]
        if self.negated is not None:
            where, found = self.negated.to_sql()
            # NULL (a missing key) is false here, so NOT is the exact complement.
            clauses.append(f"NOT coalesce({where}, 0)")
            params += found
        return " AND ".join(clauses), params

    @property
    def active(self) -> bool:
        """Whether any condition is set."""
        return self != Filters()


INT64 = (-(2**63), 2**63 - 1)


def _operator_clause(path: str, operator: Operator, operand: Any) -> tuple[str, list[Any]]:
    """One operator on the value at `path`, as SQL that is 0 or 1 (never NULL) for every row.

    Never NULL, so that NOT is the exact complement: `ne` and `nin` hold for a memory
    without the key, and so does `not` of any condition on it.
    """
    if operator == "eq":
        return _one_of(path, (operand,))
    if operator == "in":
        return _one_of(path, operand)
    if operator in ("ne", "nin"):
        clause, params = _one_of(path, (operand,) if operator == "ne" else operand)
        return f"NOT {clause}", params
    if operator == "exists":
        return f"json_type(m.metadata, ?) IS {'NOT NULL' if operand else 'NULL'}", [path]
    op = RANGES[operator]
    if isinstance(operand, str):
        bound = time_bound(operand)
        if bound is None:  # past 9999-12-31 in UTC, so after every time SQLite can read
            bound, op = "9999-12-31T23:59:59.999Z", {">": ">", ">=": ">", "<": "<=", "<=": "<="}[op]
        # julianday() reads Z and +HH:MM offsets; the GLOB keeps it from reading a bare
        # number ("2460000.5") or 'now' as a time.
        return (
            "coalesce(json_type(m.metadata, ?) = 'text'"
            " AND json_extract(m.metadata, ?) GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'"
            f" AND julianday(json_extract(m.metadata, ?)) {op} julianday(?), 0)",
            [path, path, path, bound],
        )
    return (
        "coalesce(json_type(m.metadata, ?) IN ('integer', 'real')"
        f" AND json_extract(m.metadata, ?) {op} ?, 0)",
        [path, path, _as_sqlite_number(operand)],
    )


def time_bound(text: str) -> str | None:
    """An ISO 8601 date-time as text SQLite's julianday() reads (naive ones are UTC).

    None if it lies after 9999-12-31 in UTC, beyond SQLite's calendar. A time in year 0 in
    UTC (0001-01-01T00:00+14:00) keeps its offset: SQLite reads it, Python cannot convert it.
    """
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC).replace(tzinfo=None).isoformat("T", "microseconds") + "Z"
    except OverflowError:
        if moment.year > 1:
            return None
        minutes = round(moment.utcoffset().total_seconds() / 60)  # type: ignore[union-attr]
        local = moment.replace(tzinfo=None).isoformat("T", "microseconds")
        return f"{local}+{minutes // 60:02d}:{minutes % 60:02d}"


def _one_of(path: str, values: tuple[Value, ...]) -> tuple[str, list[Any]]:
    """The memory's value at `path` is one of `values`, compared as JSON values (0 or 1).

    JSON's true is not the number 1 (SQLite reads both as 1), null is the key holding JSON
    null, and a number is compared as SQLite reads the stored one: integers beyond 64 bits
    as floating point. A stored array or object equals none of them.
    """
    texts = [v for v in values if isinstance(v, str)]
    numbers = [_as_sqlite_number(v) for v in values if isinstance(v, int | float)
               and not isinstance(v, bool)]  # fmt: skip
    types = sorted({"true" if v else "false" for v in values if isinstance(v, bool)})
    types += ["null"] if None in values else []
    alternatives, params = [], []
    if texts:
        marks = ", ".join("?" * len(texts))
        alternatives.append(
            f"(json_type(m.metadata, ?) = 'text' AND json_extract(m.metadata, ?) IN ({marks}))"
        )
        params += [path, path, *texts]
    if numbers:
        marks = ", ".join("?" * len(numbers))
        alternatives.append(
            "(json_type(m.metadata, ?) IN ('integer', 'real')"
            f" AND json_extract(m.metadata, ?) IN ({marks}))"
        )
        params += [path, path, *numbers]
    if types:
        alternatives.append(f"json_type(m.metadata, ?) IN ({', '.join('?' * len(types))})")
        params += [path, *types]
    return f"coalesce({' OR '.join(alternatives)}, 0)", params


def _as_sqlite_number(value: int | float) -> int | float:
    """A number SQLite can bind: past 64 bits an integer becomes a float, as stored ones do."""
    if isinstance(value, int) and not INT64[0] <= value <= INT64[1]:
        try:
            return float(value)
        except OverflowError:  # beyond any float: as SQLite reads such a literal
            return float("inf") if value > 0 else float("-inf")
    return value
