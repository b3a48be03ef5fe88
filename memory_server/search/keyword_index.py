"""Keyword search: an inverted index per workspace, ranked by BM25 on that workspace alone.

Every statistic a score uses (how many memories the workspace holds, their average length,
how many of them contain a word, how often a memory does) is the caller's workspace's own:
nothing another owner or workspace stores moves a score, or shows through it. (FTS5's bm25()
over one shared table used the whole file's statistics, and leaked them.) No Flask here.

Tables (migration 7): `keyword_postings` holds (scope, term, memory) with the term's count in
the memory and the memory's length; `keyword_scopes` holds each workspace's count of memories
and of terms, kept by triggers on `memories`, which also drop a deleted memory's postings.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from memory_server.search import keyword_terms
from memory_server.storage.database import Connection

# BM25's usual constants; IDF as Lucene computes it (log(1 + ...)), positive for every word.
K1 = 1.2
B = 0.75


def postings(text: str) -> tuple[Counter[str], int]:
    """The text's terms with their counts, and its length in terms."""
    found = keyword_terms.terms(text)
    return Counter(found), len(found)


class KeywordIndex:
    """Writes and reads the keyword postings, inside the caller's transactions."""

    @staticmethod
    def scope_id(conn: Connection, owner: str, workspace: str) -> int | None:
        """The workspace's id in the keyword tables (made by the insert trigger), if any."""
        row = conn.execute(
            "SELECT id FROM keyword_scopes WHERE owner = ? AND workspace = ?", (owner, workspace)
        ).fetchone()
        return None if row is None else row[0]

    @staticmethod
    def write(
        conn: Connection, scope_id: int, rowid: int, counts: Counter[str], length: int
    ) -> None:
        """Index a memory's terms (from `postings`; its old postings must be gone)."""
        conn.executemany(
            "INSERT INTO keyword_postings (scope_id, term, memory_rowid, tf, length)"
            " VALUES (?, ?, ?, ?, ?)",
            [(scope_id, term, rowid, tf, length) for term, tf in counts.items()],
        )

    @staticmethod
    def delete(conn: Connection, rowid: int) -> None:
        """Remove a memory's postings (a deleted memory's go by trigger, migration 7)."""
        conn.execute("DELETE FROM keyword_postings WHERE memory_rowid = ?", (rowid,))

    @staticmethod
    def search(
        conn: Connection, owner: str, workspace: str, terms: list[str]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(memory rowids, BM25 scores, how many of the terms each has), in rowid order."""
        empty = (np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64))
        row = conn.execute(
            "SELECT id, documents, tokens FROM keyword_scopes WHERE owner = ? AND workspace = ?",
            (owner, workspace),
        ).fetchone()
        if row is None or not row[1] or not terms:
            return empty
        scope_id, documents, tokens = row
        average = max(tokens / documents, 1.0)
        rowids, scores = [], []
        for term in dict.fromkeys(terms):
            found = conn.execute(
                "SELECT memory_rowid, tf, length FROM keyword_postings"
                " WHERE scope_id = ? AND term = ?",
                (scope_id, term),
            ).fetchall()
            if not found:
                continue
            ids, tf, length = (np.array(column) for column in zip(*found, strict=True))
            idf = math.log(1 + (documents - len(found) + 0.5) / (len(found) + 0.5))
            rowids.append(ids)
            scores.append(idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / average)))
        if not rowids:
            return empty
        every, inverse = np.unique(np.concatenate(rowids), return_inverse=True)
        return every, np.bincount(inverse, weights=np.concatenate(scores)), np.bincount(inverse)


def matching(conn: Connection, rowids: np.ndarray, where: str, params: list[Any]) -> np.ndarray:
    """A mask of which of these memories match a filter's WHERE fragment (alias `m`)."""
    found = conn.execute(
        f"SELECT m.rowid FROM memories m WHERE {conn.dialect.in_list('m.rowid')} AND {where}",
        (conn.dialect.list_param(rowids.tolist()), *params),
    )
    return np.isin(rowids, np.array([row[0] for row in found], dtype=np.int64))
