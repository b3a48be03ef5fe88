"""The result types read the server's JSON, including answers from a newer server."""

from __future__ import annotations

from memory_api_client import (
    BatchResult,
    BestChunk,
    DeliveryAttempt,
    Memory,
    MemoryVersion,
    SearchResult,
)

RESULT = {
    "id": "mem_1",
    "text": "a note",
    "metadata": {"type": "note"},
    "score": 0.5,
    "created_at": "2026-12-02T08:01:15.250Z",
    "updated_at": "2026-12-02T08:01:15.250Z",
}


def test_fields_a_newer_server_adds_are_ignored():
    result = SearchResult.from_json({**RESULT, "added_later": {"x": 1}})
    assert result == SearchResult(**RESULT)
    attempt = {
        "event_id": "evt_1",
        "event_type": "memory.created",
        "attempt": 1,
        "attempted_at": "2026-12-02T08:01:15.250Z",
        "status_code": 200,
        "error": None,
        "duration_ms": 3.5,
        "outcome": "delivered",
        "next_retry_at": None,
    }
    assert DeliveryAttempt.from_json({**attempt, "added_later": 1}) == DeliveryAttempt(**attempt)


def test_a_search_result_reads_its_best_chunk():
    chunk = {"index": 2, "start": 10, "end": 16, "text": "a note"}
    result = SearchResult.from_json({**RESULT, "best_chunk": chunk})
    assert result.best_chunk == BestChunk(2, 10, 16, "a note")
    assert SearchResult.from_json(RESULT).best_chunk is None  # a server without the field


def test_expires_at_is_read_where_the_server_sends_it_and_none_where_it_does_not():
    expiring = {**RESULT, "expires_at": "2100-01-01T00:00:00.000Z"}
    assert Memory.from_json(expiring).expires_at == "2100-01-01T00:00:00.000Z"
    assert SearchResult.from_json(expiring).expires_at == "2100-01-01T00:00:00.000Z"
    assert Memory.from_json(RESULT).expires_at is None  # a server older than expiry
    assert SearchResult.from_json(RESULT).expires_at is None


def test_a_version_and_a_batch_from_a_newer_or_older_server():
    version = {
        "version": 2,
        "event": "updated",
        "text": "a note",
        "metadata": {},
        "changed_at": "2026-12-02T08:01:15.250Z",
    }
    assert MemoryVersion.from_json({**version, "added_later": 1}) == MemoryVersion(**version)
    older = BatchResult.from_json({"results": [], "stored": 0, "failed": 0})
    assert older.duplicates == 0  # a server older than duplicates
