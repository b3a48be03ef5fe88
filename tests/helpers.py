"""Small helpers shared by the tests."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from memory_server.search import keyword_terms


def headers(key: str, workspace: str | None = None) -> dict[str, str]:
    """Authorization (and optionally X-Workspace-ID) headers for a request."""
    found = {"Authorization": f"Bearer {key}"}
    if workspace is not None:
        found["X-Workspace-ID"] = workspace
    return found


def wait_until(
    check: Callable[[], object], timeout: float, what: str | Callable[[], str], poll: float = 0.01
) -> None:
    """Poll `check` until it is true; fail after `timeout` seconds saying `what` never came."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what() if callable(what) else what} within {timeout} s")
        time.sleep(poll)


def assert_keyword_index_matches_the_texts(conn: Any) -> None:
    """Every memory's keyword entry is its text's (and SQLite's workspace totals their sums)."""
    # A raw sqlean connection (the crash tests open the file themselves) has no dialect.
    if getattr(conn, "dialect", None) is not None and conn.dialect.name == "postgresql":
        # Each row's tsvector is its text's terms, as the index writes them.
        for rowid, text, indexed in conn.execute(
            "SELECT rowid, text, search_terms::text FROM memories"
        ).fetchall():
            (expected,) = conn.execute(
                "SELECT to_tsvector('simple', ?)::text", (" ".join(keyword_terms.terms(text)),)
            ).fetchone()
            assert indexed == expected, rowid
        return
    indexed: dict[int, dict[str, int]] = {}
    for rowid, term, tf in conn.execute("SELECT memory_rowid, term, tf FROM keyword_postings"):
        indexed.setdefault(rowid, {})[term] = tf
    totals: dict[tuple[str, str], list[int]] = {}
    for rowid, owner, workspace, text, length in conn.execute(
        "SELECT rowid, owner, workspace, text, keyword_tokens FROM memories"
    ):
        terms = keyword_terms.terms(text)
        assert indexed.pop(rowid, {}) == dict(Counter(terms)) and length == len(terms), rowid
        total = totals.setdefault((owner, workspace), [0, 0])
        total[0] += 1
        total[1] += length
    assert indexed == {}  # no postings of a memory that is gone
    for owner, workspace, documents, tokens in conn.execute(
        "SELECT owner, workspace, documents, tokens FROM keyword_scopes"
    ):
        assert totals.pop((owner, workspace), [0, 0]) == [documents, tokens]
    assert totals == {}
