"""Which chunk of a long memory a search result points at, and what it says. No Flask."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from threading import Lock

from memory_server.embedding.chunking import Span
from memory_server.search import keyword_terms
from memory_server.search.ranking import BestChunk, ScoredMemory, query_terms


def keyword_best(text: str, spans: list[Span], query: str) -> int:
    """The chunk holding the most distinct query terms, then the most hits; the first on ties."""
    terms = set(query_terms(query))
    best, best_key = 0, (-1, -1)
    for position, (start, end) in enumerate(spans):
        stems = [keyword_terms.stem(word) for word in keyword_terms.words(text[start:end])]
        hits = [stem for stem in stems if stem in terms]
        key = (len(set(hits)), len(hits))
        if key > best_key:
            best, best_key = position, key
    return best


class BestChunks:
    """Fills in `best_chunk` of search results, re-splitting long texts (spans are cached).

    Spans are not stored: they follow from the text and the tokenizer alone, and a search
    needs them only for the long memories among its results.
    """

    def __init__(self, spans_of: Callable[[str, str], list[Span]], cached: int = 512) -> None:
        self.spans_of = spans_of  # (text, owner) -> spans, from the embedder's tokenizer
        self.cached = cached
        self._spans: OrderedDict[str, list[Span]] = OrderedDict()
        self._lock = Lock()

    def attach(self, result: ScoredMemory, query: str, owner: str) -> ScoredMemory:
        """The result with its best chunk: the whole text for a one-chunk memory."""
        text = result.memory.text
        if result.chunk_count <= 1:
            chunk = BestChunk(0, 0, len(text), text)
        else:
            spans = self._spans_for(result.memory.content_hash, text, owner)
            position = result.chunk
            # Spans from another chunker than the one that embedded it: the words decide.
            if position is None or len(spans) != result.chunk_count:
                position = keyword_best(text, spans, query)
            start, end = spans[position]
            chunk = BestChunk(position, start, end, text[start:end])
        return replace(result, best_chunk=chunk)

    def _spans_for(self, content_hash: str, text: str, owner: str) -> list[Span]:
        with self._lock:
            if content_hash in self._spans:
                self._spans.move_to_end(content_hash)
                return self._spans[content_hash]
        spans = self.spans_of(text, owner)
        with self._lock:
            self._spans[content_hash] = spans
            while len(self._spans) > self.cached:
                self._spans.popitem(last=False)
        return spans
