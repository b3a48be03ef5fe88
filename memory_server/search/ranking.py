"""Finding memories: semantic (vector_index), keyword (keyword_index), hybrid (both). No Flask."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from memory_server.scope import Scope
from memory_server.search import keyword_terms
from memory_server.search.filters import Filters
from memory_server.search.vector_index import cosine
from memory_server.storage.chunk_ids import chunk_ids, chunk_position, memory_rowid
from memory_server.storage.contexts import ContextStore
from memory_server.storage.database import Connection
from memory_server.storage.memory_store import (
    MEMORY_COLUMNS,
    Memory,
    MemoryStore,
    VectorIndexNotReady,
    memory_from_row,
)

Mode = Literal["semantic", "keyword", "hybrid"]
MODES: tuple[Mode, ...] = get_args(Mode)
# Hybrid: a memory's cosine, plus up to this much for how well its words match the query
# (_hybrid). Measured on the conversational set (bench/) and the paraphrase set (tests/):
# 0.3 helped the first most without costing the second a single rank-1 answer.
KEYWORD_WEIGHT = 0.3
MAX_QUERY_TERMS = 64
# Words that match almost every English memory: in an any-word query they only add noise.
_STOPWORD_TEXT = """
a about above after again against all am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for
from further had has have having he her here hers herself him himself his how i if in
into is it its itself just me more most my myself no nor not now of off on once only or
other our ours ourselves out over own same she should so some such than that the their
theirs them themselves then there these they this those through to too under until up
very was we were what when where which while who whom why will with would you your yours
yourself
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class BestChunk:
    """The part of a memory that matched best: its chunk's position, span and text."""

    index: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class ScoredMemory:
    """A search result: the memory and how well it matched (see docs/api.md for each mode).

    `chunk_count` is how many chunks the memory was embedded in; `chunk` the position of the
    one most similar to the query when the search had a query vector (None in keyword mode).
    `best_chunk` is filled in by the service, which can split texts (embedding/chunking.py).
    """

    memory: Memory
    score: float
    chunk_count: int = 1
    chunk: int | None = None
    best_chunk: BestChunk | None = None


def has_content_words(text: str) -> bool:
    """Whether the text has a word that is not a stopword: something for keywords to go on."""
    return any(word not in STOPWORDS for word in keyword_terms.words(text))


def query_terms(text: str) -> list[str]:
    """The distinct indexed terms of a query, stopwords dropped unless the query has no other."""
    words = list(dict.fromkeys(keyword_terms.words(text)))
    kept = [word for word in words if word not in STOPWORDS] or words
    return list(dict.fromkeys(keyword_terms.stem(word) for word in kept))[:MAX_QUERY_TERMS]


class SearchIndex:
    """Ranks one scope's memories for a query; filters apply before the top-k cut."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.db = store.db

    def search(
        self,
        scope: Scope,
        mode: Mode,
        query: str,
        vector: np.ndarray | None,
        limit: int,
        filters: Filters,
        threshold: float | None = None,
    ) -> list[ScoredMemory]:
        """The best `limit` memories with their scores, best first, each memory once."""
        # One read transaction: ranking and fetching see the same memories, never stale ones.
        # The position of each semantically ranked memory's best chunk, by rowid.
        chunks: dict[int, int] = {}
        with self.db.snapshot() as conn:
            # Expired memories are gone for clients at once, before the purger deletes them.
            gone = self.store.expired_rowids(conn, scope)
            if mode == "semantic":
                ranked = self._semantic(conn, scope, vector, limit, filters, chunks, gone)
            elif mode == "keyword":
                ranked = self._keyword(conn, scope, query, limit, filters, gone)
            else:
                ranked = self._hybrid(conn, scope, query, vector, limit, filters, chunks, gone)
            if threshold is not None:
                ranked = [(rowid, score) for rowid, score in ranked if score >= threshold]
            ranked = ranked[:limit]
            memories = _memories(conn, [rowid for rowid, _ in ranked])
        # Every ranked rowid is a stored memory; the `if` keeps a search alive if one were not.
        return [
            ScoredMemory(memories[rowid][0], score, memories[rowid][1], chunks.get(rowid))
            for rowid, score in ranked
            if rowid in memories
        ]

    def _hybrid(
        self,
        conn: Connection,
        scope: Scope,
        query: str,
        vector: np.ndarray,
        limit: int,
        filters: Filters,
        chunks: dict[int, int],
        gone: set[int],
    ) -> list[tuple[int, float]]:
        """Memories by cosine, plus a keyword bonus of at most KEYWORD_WEIGHT.

        The bonus is the memory's keyword score over the search's best, times the square of
        the share of the query's terms it holds: a memory with every word of the query and
        the best score gets it all, one sharing a single incidental word of four next to
        nothing. (Either backend's score: SQLite's BM25, PostgreSQL's ts_rank.)
        Candidates are the best of each ranking; a keyword-only candidate's cosine is computed
        exactly from its stored chunk vectors, so every candidate is scored on both.
        """
        depth = min(max(limit * 5, 50), 500)
        semantic = dict(self._semantic(conn, scope, vector, depth, filters, chunks, gone))
        bonus: dict[int, float] = {}
        if has_content_words(query):  # "what did I do": its words say nothing; meaning alone
            rowids, scores, shares = self._keyword_hits(conn, scope, query, depth, filters, gone)
            weights = KEYWORD_WEIGHT * scores / (scores.max() if len(scores) else 1.0) * shares**2
            bonus = dict(zip(rowids.tolist(), weights.tolist(), strict=True))
        fused = {rowid: cosine + bonus.get(rowid, 0.0) for rowid, cosine in semantic.items()}
        # A memory only keyword search found is no closer than the farthest semantic
        # candidate (when that list is full): its cosine is computed only if that, plus its
        # bonus, could reach the best `limit`, so a search never reads every chunk of 500
        # long memories for nothing.
        reach = sorted(fused.values(), reverse=True)[limit - 1] if len(fused) >= limit else None
        floor = min(semantic.values()) if len(semantic) >= depth else None
        unranked = {
            rowid
            for rowid, extra in bonus.items()
            if rowid not in semantic and (reach is None or floor is None or floor + extra >= reach)
        }
        cosines = {**semantic, **self._cosines(conn, vector, unranked, chunks)}
        cosines.update(self._in_context(conn, vector, cosines))
        fused = {rowid: cosine + bonus.get(rowid, 0.0) for rowid, cosine in cosines.items()}
        return sorted(fused.items(), key=lambda item: (-item[1], -item[0]))

    def _in_context(
        self, conn: Connection, vector: np.ndarray, cosines: dict[int, float]
    ) -> dict[int, float]:
        """The candidates that have a context vector, scored half by it, half by their own.

        A memory read with the one stored before it (storage/contexts.py) is found by what
        that context says too; measured on the conversational set (bench/), equal halves
        found the most.
        """
        if self.store.vectors is None or not cosines:
            return {}
        found = ContextStore.vectors(conn, list(cosines), self.store.vectors.dimension)
        if not found:
            return {}
        rowids = list(found)
        context = cosine(np.stack([found[rowid] for rowid in rowids]), vector)
        return {
            rowid: (cosines[rowid] + float(score)) / 2
            for rowid, score in zip(rowids, context, strict=True)
        }

    def _cosines(
        self, conn: Connection, vector: np.ndarray, rowids: set[int], chunks: dict[int, int]
    ) -> dict[int, float]:
        """Each memory's best chunk cosine to the query, from its stored vectors.

        The position of each one's best chunk goes into `chunks`.
        """
        if not rowids or self.store.vectors is None:
            return {}
        counts = conn.execute(
            f"SELECT rowid, chunk_count FROM memories WHERE {conn.dialect.in_list('rowid')}",
            (conn.dialect.list_param(sorted(rowids)),),
        ).fetchall()
        ids, scores = self.store.vectors.cosines(
            conn, [i for rowid, count in counts for i in chunk_ids(rowid, count)], vector
        )
        best = _best_per_memory(list(zip(ids.tolist(), scores.tolist(), strict=True)))
        chunks.update((rowid, position) for rowid, (_, position) in best.items())
        return {rowid: score for rowid, (score, _) in best.items()}

    def _semantic(
        self,
        conn: Connection,
        scope: Scope,
        vector: np.ndarray,
        limit: int,
        filters: Filters,
        chunks: dict[int, int],
        gone: set[int],
    ) -> list[tuple[int, float]]:
        """Memories by the cosine similarity of their best chunk to the query vector.

        The position of each ranked memory's best chunk goes into `chunks`; the memories
        in `gone` (expired) are never ranked.
        """
        candidates = None
        if filters.active:
            rows = _filtered(conn, scope, filters, "m.rowid, m.chunk_count")
            candidates = [i for row in rows if row[0] not in gone for i in chunk_ids(*row)]
            if not candidates:
                return []
        if self.store.vectors is None:
            raise VectorIndexNotReady("bind_embedding_model() must run before searching")
        # Most memories are one chunk; when long ones crowd the top, ask for more chunks.
        k = max(limit * 2, 16)
        while True:
            nearest = self.store.vectors.nearest(conn, scope.partition, vector, k, candidates)
            best = _best_per_memory(nearest)
            for rowid in gone.intersection(best):
                del best[rowid]
            # Fewer chunks than asked for: the search has already seen every chunk there is.
            if len(best) >= limit or len(nearest) < k:
                break
            k *= 4
        ranked = sorted(best.items(), key=lambda item: (-item[1][0], -item[0]))[:limit]
        chunks.update((rowid, position) for rowid, (_, position) in ranked)
        return [(rowid, score) for rowid, (score, _) in ranked]

    def _keyword(
        self,
        conn: Connection,
        scope: Scope,
        query: str,
        limit: int,
        filters: Filters,
        gone: set[int],
    ) -> list[tuple[int, float]]:
        """Memories by keyword relevance (higher is better) to the words of the query."""
        rowids, scores, _ = self._keyword_hits(conn, scope, query, limit, filters, gone)
        return list(zip(rowids.tolist(), scores.tolist(), strict=True))

    def _keyword_hits(
        self,
        conn: Connection,
        scope: Scope,
        query: str,
        limit: int,
        filters: Filters,
        gone: set[int],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The best `limit` keyword hits: rowids, scores and the share of terms matched."""
        terms = query_terms(query)
        rowids, scores, matched = self.store.keywords.hits(conn, scope, terms, limit, filters, gone)
        return rowids, scores, matched / max(len(terms), 1)


def _filtered(conn: Connection, scope: Scope, filters: Filters, columns: str) -> list[Any]:
    where, params = conn.dialect.filter_sql(filters)
    return conn.execute(
        f"SELECT {columns} FROM memories m WHERE m.owner = ? AND m.workspace = ? AND {where}",
        (scope.owner, scope.workspace, *params),
    ).fetchall()


def _best_per_memory(chunk_scores: list[tuple[int, float]]) -> dict[int, tuple[float, int]]:
    """Each memory's best chunk score and that chunk's position."""
    best: dict[int, tuple[float, int]] = {}
    for chunk_id, score in chunk_scores:
        rowid = memory_rowid(chunk_id)
        if rowid not in best or score > best[rowid][0]:
            best[rowid] = (score, chunk_position(chunk_id))
    return best


def _memories(conn: Connection, rowids: list[int]) -> dict[int, tuple[Memory, int]]:
    """The memories with these rowids and how many chunks each has."""
    rows = conn.execute(
        f"SELECT {MEMORY_COLUMNS} FROM memories WHERE {conn.dialect.in_list('rowid')}",
        (conn.dialect.list_param(rowids),),
    ).fetchall()
    return {row["rowid"]: (memory_from_row(row), row["chunk_count"]) for row in rows}
