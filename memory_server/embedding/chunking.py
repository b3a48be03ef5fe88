"""Splitting long texts into overlapping, sentence-aligned chunks the model reads well."""

from __future__ import annotations

import bisect
import math
import re
from typing import Any

# A text the model can read whole (256 tokens with [CLS] and [SEP]) stays one chunk.
WHOLE_TEXT_TOKENS = 254
# Longer texts: all-MiniLM-L6-v2 was trained on inputs of up to 128 tokens, and a fact keeps
# more of a chunk's meaning when the chunk is short; whole sentences are packed up to this.
CHUNK_TOKENS = 128
# Neighbouring chunks share up to this many tokens of whole sentences, so a fact that spans
# a boundary is whole in one of them.
OVERLAP_TOKENS = 32

# A paragraph shorter than this (a heading, a one-word line) is joined to the next one;
# one-sentence facts (usually 10+ tokens) keep a chunk of their own.
MIN_PARAGRAPH_TOKENS = 8
# The most chunks a memory has (memory_store.CHUNK_SLOTS ids per memory). Past it, chunks
# cross paragraph breaks, then become plain token windows long enough to fit.
MAX_CHUNKS = 1024

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# Sentence ends, CJK ones (written as escapes) included, and line breaks.
_SENTENCE_END = re.compile(r"(?<=[.!?\u2026\u3002\uff01\uff1f])\s+|\n+")


Span = tuple[int, int]  # a chunk's start and end (exclusive) in its text, in code points


def split_text(
    text: str,
    tokenizer: Any,
    chunk_tokens: int = CHUNK_TOKENS,
    overlap: int = OVERLAP_TOKENS,
) -> list[str]:
    """The text itself if the model can read it whole, else sentence-aligned chunks of it."""
    return [text[start:end] for start, end in chunk_spans(text, tokenizer, chunk_tokens, overlap)]


def split_counted(text: str, tokenizer: Any) -> tuple[list[str], int | None]:
    """split_text's chunks, and the tokens the model reads of a text that is one chunk.

    The count (None for a text of several chunks) comes from the tokenizing that decides
    whether to split, so a short memory is tokenized once here instead of twice.
    """
    offsets = _offsets(text, tokenizer)
    if len(offsets) <= WHOLE_TEXT_TOKENS:
        return [text], len(offsets) + tokenizer.num_special_tokens_to_add(pair=False)
    return split_text(text, tokenizer), None


def _offsets(text: str, tokenizer: Any) -> list[tuple[int, int]]:
    return tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)[
        "offset_mapping"
    ]


def chunk_spans(
    text: str,
    tokenizer: Any,
    chunk_tokens: int = CHUNK_TOKENS,
    overlap: int = OVERLAP_TOKENS,
) -> list[Span]:
    """Where split_text's chunks lie in the text: one span per chunk, in order.

    Chunks never cross a paragraph break (a blank line), so a paragraph's facts are not
    diluted by its neighbours; inside a paragraph, whole sentences are packed. Search
    recomputes these spans to show a result's best chunk, so they depend only on the text
    and the tokenizer.
    """
    offsets = _offsets(text, tokenizer)
    if len(offsets) <= WHOLE_TEXT_TOKENS:
        return [(0, len(text))]
    token_starts = [start for start, _ in offsets]

    def tokens_in(start: int, end: int) -> int:
        return bisect.bisect_left(token_starts, end) - bisect.bisect_left(token_starts, start)

    chunks: list[Span] = []
    for start, end in _paragraph_spans(text, tokens_in):
        sentences = [(s, e, tokens_in(s, e)) for s, e in _sentence_spans(text, start, end)]
        chunks += _pack(text, offsets, sentences, chunk_tokens, overlap)
    if len(chunks) <= MAX_CHUNKS:
        return chunks
    # Hundreds of short paragraphs: pack their sentences across the breaks instead.
    sentences = [(s, e, tokens_in(s, e)) for s, e in _sentence_spans(text, 0, len(text))]
    chunks = _pack(text, offsets, sentences, chunk_tokens, overlap)
    if len(chunks) <= MAX_CHUNKS:
        return chunks
    # Still too many (only a text far longer than the API takes): windows that fit, no overlap.
    size = max(chunk_tokens, math.ceil(len(offsets) / MAX_CHUNKS))
    return _token_windows(text, offsets, 0, len(text), size, 0)


def _paragraph_spans(text: str, tokens_in: Any) -> list[Span]:
    """Spans between blank lines; a paragraph too short to mean much joins the next one."""
    spans, start = [], 0
    for gap in _PARAGRAPH_BREAK.finditer(text):
        spans.append((start, gap.start()))
        start = gap.end()
    spans.append((start, len(text)))
    spans = [(s, e) for s, e in spans if text[s:e].strip()]
    merged: list[tuple[int, int]] = []
    pending: int | None = None  # start of short paragraphs waiting for the next one
    for s, e in spans:
        s = s if pending is None else pending
        pending = s if tokens_in(s, e) < MIN_PARAGRAPH_TOKENS else None
        if pending is None:
            merged.append((s, e))
    if pending is not None:  # short paragraphs at the very end join the last chunk
        merged[-1:] = [(merged[-1][0] if merged else pending, len(text.rstrip()))]
    return merged


def _pack(
    text: str, offsets: list, sentences: list[tuple[int, int, int]], size: int, overlap: int
) -> list[Span]:
    """Whole sentences packed into chunks of up to `size` tokens, sharing up to `overlap`."""
    chunks: list[Span] = []
    first = 0
    while first < len(sentences):
        last, tokens = first, 0
        while last < len(sentences) and tokens + sentences[last][2] <= size:
            tokens += sentences[last][2]
            last += 1
        if last == first:  # one sentence longer than a chunk: cut it by token windows
            start, end, _ = sentences[first]
            chunks += _token_windows(text, offsets, start, end, size, overlap)
            first += 1
            continue
        chunks.append((sentences[first][0], sentences[last - 1][1]))
        if last == len(sentences):
            break
        # Start the next chunk on the last sentences of this one, up to `overlap` tokens.
        shared, next_first = 0, last
        while next_first - 1 > first and shared + sentences[next_first - 1][2] <= overlap:
            next_first -= 1
            shared += sentences[next_first][2]
        first = next_first
    return chunks


def _sentence_spans(text: str, start: int, end: int) -> list[Span]:
    """(start, end) spans of the sentences and lines between `start` and `end`, blanks skipped."""
    spans = []
    for boundary in _SENTENCE_END.finditer(text, start, end):
        spans.append((start, boundary.start()))
        start = boundary.end()
    spans.append((start, end))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def _token_windows(
    text: str, offsets: list, start: int, end: int, size: int, overlap: int
) -> list[Span]:
    """Overlapping windows of `size` tokens over the characters start..end."""
    inside = [(s, e) for s, e in offsets if start <= s < end]
    windows = []
    for first in range(0, len(inside), size - overlap):
        window = inside[first : first + size]
        windows.append((window[0][0], window[-1][1]))
        if first + size >= len(inside):
            break
    return windows
