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
            path = f'$."{key}"'
            placeholders = ", ".join("?" for _ in values)
            clauses.append(f"json_extract(m.metadata, ?) IN ({placeholders})")
            params += [path, *values]
        return " AND ".join(clauses), params

    @property
    def active(self) -> bool:
        """Whether any condition is set."""
        return self != Filters()
