"""Small helpers shared by the tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from memory_server.search.keyword_index import postings


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
    """Every memory's postings are its text's, and each workspace's totals are their sums."""
    indexed: dict[int, dict[str, int]] = {}
    for rowid, term, tf in conn.execute("SELECT memory_rowid, term, tf FROM keyword_postings"):
        indexed.setdefault(rowid, {})[term] = tf
    totals: dict[tuple[str, str], list[int]] = {}
    for rowid, owner, workspace, text, length in conn.execute(
        "SELECT rowid, owner, workspace, text, keyword_tokens FROM memories"
    ):
        counts, expected_length = postings(text)
        assert indexed.pop(rowid, {}) == dict(counts) and length == expected_length, rowid
        total = totals.setdefault((owner, workspace), [0, 0])
        total[0] += 1
        total[1] += length
    assert indexed == {}  # no postings of a memory that is gone
    for owner, workspace, documents, tokens in conn.execute(
        "SELECT owner, workspace, documents, tokens FROM keyword_scopes"
    ):
        assert totals.pop((owner, workspace), [0, 0]) == [documents, tokens]
    assert totals == {}
