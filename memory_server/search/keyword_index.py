"""Keyword search: what each backend's keyword index does, and SQLite's (BM25). No Flask here.

Both backends index the same terms (search/keyword_terms.py: folded, split, stemmed) and
answer the same questions, so the query rules are one: any of the query's terms matches,
and nothing a user types is syntax. Each ranks on the caller's workspace alone: nothing
another owner or workspace stores moves a score, or shows through it.

- SQLite (here): an inverted index per workspace ranked by BM25 on that workspace's own
  statistics. (FTS5's bm25() over one shared table used the whole file's, and leaked them.)
  `keyword_postings` holds (scope, term, memory) with the term's count in the memory and
  the memory's length; `keyword_scopes` each workspace's count of memories and of terms,
  kept by triggers on `memories` (migration 7), which also drop a deleted memory's postings.
- PostgreSQL (storage/postgres/keyword_index.py): full-text search, a tsvector of the terms
  per memory under a GIN index, ranked by ts_rank, which reads the memory alone.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from memory_server.scope import Scope
from memory_server.search.filters import Filters
from memory_server.storage.database import Connection

# BM25's usual constants; IDF as Lucene computes it (log(1 + ...)), positive for every word.
K1 = 1.2
B = 0.75

# What `hits` returns: memory rowids, their scores (higher is better) and how many of the
# query's terms each holds, best first.
Hits = tuple[np.ndarray, np.ndarray, np.ndarray]
NO_HITS: Hits = (np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64))


class KeywordIndex:
    """What a backend's keyword index does, inside the caller's transactions.

    Each takes a text's `keyword_terms.terms`, worked out once per write. A memory's row is
    written with `column(terms)`, then `add` indexes it; `replace` follows a change of its
    text; a deleted memory leaves the index with its row.
    """

    def column(self, terms: list[str]) -> tuple[str, str, Any]:
        """The `memories` column written with a new row: its name, SQL value and parameter."""
        raise NotImplementedError

    def add(self, conn: Connection, scope: Scope, rowid: int, terms: list[str]) -> None:
        """Index a memory just inserted (its row written with `column`)."""
        raise NotImplementedError

    def replace(self, conn: Connection, scope: Scope, rowid: int, terms: list[str]) -> None:
        """Index a memory's new text (its terms) in place of its old one."""
        raise NotImplementedError

    def hits(
        self,
        conn: Connection,
        scope: Scope,
        terms: list[str],
        limit: int,
        filters: Filters,
        gone: set[int],
    ) -> Hits:
        """The scope's best `limit` memories holding any of the terms, filters applied first.

        Memories in `gone` (expired, not purged yet) are never among them; among equal
        scores the newest memory (highest rowid) comes first.
        """
        raise NotImplementedError


class Bm25KeywordIndex(KeywordIndex):
    """SQLite's keyword index: per-workspace postings ranked by BM25 (see the module)."""

    def column(self, terms: list[str]) -> tuple[str, str, Any]:
        """The memory's length in terms, which the workspace's totals add up (migration 7)."""
        return "keyword_tokens", "?", len(terms)

    def add(self, conn: Connection, scope: Scope, rowid: int, terms: list[str]) -> None:
        """Write the memory's postings (the insert trigger made its workspace's row)."""
        self._write(conn, self._scope_id(conn, scope), rowid, terms)

    def replace(self, conn: Connection, scope: Scope, rowid: int, terms: list[str]) -> None:
        """Swap the memory's postings; its new length updates the workspace's total."""
        conn.execute("DELETE FROM keyword_postings WHERE memory_rowid = ?", (rowid,))
        self._write(conn, self._scope_id(conn, scope), rowid, terms)
        conn.execute("UPDATE memories SET keyword_tokens = ? WHERE rowid = ?", (len(terms), rowid))

    def hits(
        self,
        conn: Connection,
        scope: Scope,
        terms: list[str],
        limit: int,
        filters: Filters,
        gone: set[int],
    ) -> Hits:
        """BM25 over the workspace's postings; filters and expiry then mask the matches."""
        rowids, scores, matched = self.scores(conn, scope, terms)
        keep = np.ones(len(rowids), dtype=bool)
        if gone:
            keep &= ~np.isin(rowids, np.fromiter(gone, dtype=np.int64))
        if filters.active and keep.any():
            where, params = conn.dialect.filter_sql(filters)
            keep[keep] = _matching(conn, rowids[keep], where, params)
        rowids, scores, matched = rowids[keep], scores[keep], matched[keep]
        order = np.lexsort((-rowids, -scores))[:limit]
        return rowids[order], scores[order], matched[order]

    @staticmethod
    def scores(conn: Connection, scope: Scope, terms: list[str]) -> Hits:
        """Every memory of the scope holding a term, with its BM25 score, in rowid order."""
        row = conn.execute(
            "SELECT id, documents, tokens FROM keyword_scopes WHERE owner = ? AND workspace = ?",
            (scope.owner, scope.workspace),
        ).fetchone()
        if row is None or not row[1] or not terms:
            return NO_HITS
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
            return NO_HITS
        every, inverse = np.unique(np.concatenate(rowids), return_inverse=True)
        return every, np.bincount(inverse, weights=np.concatenate(scores)), np.bincount(inverse)

    @staticmethod
    def _scope_id(conn: Connection, scope: Scope) -> int:
        (scope_id,) = conn.execute(
            "SELECT id FROM keyword_scopes WHERE owner = ? AND workspace = ?",
            (scope.owner, scope.workspace),
        ).fetchone()
        return scope_id

    @staticmethod
    def _write(conn: Connection, scope_id: int, rowid: int, terms: list[str]) -> None:
        conn.executemany(
            "INSERT INTO keyword_postings (scope_id, term, memory_rowid, tf, length)"
            " VALUES (?, ?, ?, ?, ?)",
            [(scope_id, term, rowid, tf, len(terms)) for term, tf in Counter(terms).items()],
        )


def _matching(conn: Connection, rowids: np.ndarray, where: str, params: list[Any]) -> np.ndarray:
    """A mask of which of these memories match a filter's WHERE fragment (alias `m`)."""
    found = conn.execute(
        f"SELECT m.rowid FROM memories m WHERE {conn.dialect.in_list('m.rowid')} AND {where}",
        (conn.dialect.list_param(rowids.tolist()), *params),
    )
    return np.isin(rowids, np.array([row[0] for row in found], dtype=np.int64))
