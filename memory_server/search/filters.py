"""Search filters as SQL over the `memories` table (alias `m`), applied before any top-k cut."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

Scalar = str | int | float | bool


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
    # top-level metadata key -> the values it may have (one value: equality)
    metadata: dict[str, tuple[Scalar, ...]] = field(default_factory=dict)

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
        for key, values in self.metadata.items():
            # Keys are checked to hold no '"' or '\\', so the quoted JSON path is exact.
            clause, found = _metadata_clause(f'$."{key}"', values)
            clauses.append(clause)
            params += found
        return " AND ".join(clauses), params

    @property
    def active(self) -> bool:
        """Whether any condition is set."""
        return self != Filters()


INT64 = (-(2**63), 2**63 - 1)


def _metadata_clause(path: str, values: tuple[Scalar, ...]) -> tuple[str, list[Any]]:
    """The memory's value at `path` is one of `values`, compared as JSON values.

    JSON's true is not the number 1 (SQLite reads both as 1), and a number is compared as
    SQLite reads the stored one: integers beyond 64 bits as floating point.
    """
    texts = [v for v in values if isinstance(v, str)]
    numbers = [_as_sqlite_number(v) for v in values if isinstance(v, int | float)
               and not isinstance(v, bool)]  # fmt: skip
    booleans = sorted({"true" if v else "false" for v in values if isinstance(v, bool)})
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
    if booleans:
        alternatives.append(f"json_type(m.metadata, ?) IN ({', '.join('?' * len(booleans))})")
        params += [path, *booleans]
    return f"({' OR '.join(alternatives)})", params


def _as_sqlite_number(value: int | float) -> int | float:
    """A number SQLite can bind: past 64 bits an integer becomes a float, as stored ones do."""
    if isinstance(value, int) and not INT64[0] <= value <= INT64[1]:
        try:
            return float(value)
        except OverflowError:  # beyond any float: as SQLite reads such a literal
            return float("inf") if value > 0 else float("-inf")
    return value
