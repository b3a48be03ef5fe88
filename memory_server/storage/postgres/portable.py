"""psycopg connections that take the SQL the stores share with SQLite: `?` and hybrid rows.

The stores' plain SQL (inserts, selects, updates on ordinary tables) is written once, with
SQLite's `?` placeholders and rows read by position or by name; this turns it into
psycopg's `%s` and gives back rows that read both ways. What differs between the two
engines (vectors, JSON paths, triggers, locking) stays in each backend's own module.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.rows import RowMaker

from memory_server.storage.postgres.dialect import POSTGRES


class Row(tuple):
    """A row read by position (row[0]) or by column name (row["id"]), as sqlite3.Row is."""

    _names: dict[str, int]

    def __new__(cls, values: Sequence[Any], names: dict[str, int]) -> Row:
        """A row of these values, named by `names` (column name -> position)."""
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:
        """The value at a position, or of a column name."""
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        """The column names, in order."""
        return list(self._names)


def hybrid_rows(cursor: psycopg.Cursor[Any]) -> RowMaker[Row]:
    """The row factory making `Row`s (for psycopg)."""
    names = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: Row(values, names)


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """SQLite-style SQL for psycopg: `?` outside quotes becomes `%s`, a literal `%` `%%`."""
    out: list[str] = []
    quote = ""
    for char in sql:
        if quote:
            out.append("%%" if char == "%" else char)
            if char == quote:
                quote = ""
        elif char in ("'", '"'):
            quote = char
            out.append(char)
        elif char == "?":
            out.append("%s")
        elif char == "%":
            out.append("%%")
        else:
            out.append(char)
    return "".join(out)


class PortableConnection:
    """One psycopg connection, taking shared SQL (see `translate`) and giving `Row`s."""

    dialect = POSTGRES

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn
        conn.row_factory = hybrid_rows  # type: ignore[assignment]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        """Run one statement; its cursor (fetchone, fetchall, rowcount, iteration)."""
        return self.raw.execute(translate(sql), params or None)

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> psycopg.Cursor[Any]:
        """Run one statement for each parameter set."""
        cursor = self.raw.cursor()
        cursor.executemany(translate(sql), list(seq))
        return cursor


class Fetched:
    """A statement's result read whole, so its pooled connection could go back at once."""

    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def fetchone(self) -> Row | None:
        """The first row, or None."""
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Row]:
        """Every row."""
        return self.rows

    def __iter__(self) -> Iterator[Row]:
        """The rows, in order."""
        return iter(self.rows)
