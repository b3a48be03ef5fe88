"""The words keyword search indexes and looks for: folded, split and stemmed. No Flask here.

Memories and queries go through the same function, so what a query can match is exactly
what was indexed: case and accents are folded (Café = cafe), text splits at anything that
is not a letter or a digit, and English words are reduced to their Porter stem
(renovations = renovation = renov).
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata

import snowballstemmer

# A run of letters and digits is a word; a longer one (a hash, a run of CJK characters with
# no spaces) is indexed by its first characters, so no single word can bloat the index.
MAX_TERM_CHARS = 64
_WORD = re.compile(r"[^\W_]+")
_local = threading.local()


def terms(text: str) -> list[str]:
    """The text's indexed terms, in order (repeats kept: they are its term frequencies)."""
    folded = _fold(text)
    return [stem(word[:MAX_TERM_CHARS]) for word in _WORD.findall(folded)]


def words(text: str) -> list[str]:
    """The text's words, folded but not stemmed, in order (what stopwords are checked on)."""
    return [word[:MAX_TERM_CHARS] for word in _WORD.findall(_fold(text))]


def _fold(text: str) -> str:
    """Lower case without accents: decompose, drop the combining marks, fold the case."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Porter stem of an ASCII word; other words (numbers, other scripts) stay as they are."""
    if not (word.isascii() and word.isalpha()):
        return word
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:  # a snowball stemmer keeps state while it works: one per thread
        stemmer = _local.stemmer = snowballstemmer.stemmer("porter")
    return stemmer.stemWord(word)
