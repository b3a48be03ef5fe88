"""IdempotencyStore on both backends: reserve, record, replay, forget; one winner per key."""

from __future__ import annotations

import threading
import time

import pytest

from memory_server.scope import Scope
from memory_server.storage.idempotency_store import (
    ABANDONED_AFTER_S,
    RETENTION_S,
    IdempotencyStore,
    KeyInFlight,
    KeyReused,
    Replay,
)

SCOPE = Scope("alice", "default")


def add_memory(db, memory_id: str, scope: Scope = SCOPE) -> None:
    """A bare memory row, as the memory store would write it."""
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO memories (owner, workspace, id, text, metadata, content_hash,"
            " created_at, updated_at) VALUES (?, ?, ?, 'text', '{}', 'h', ?, ?)",
            (scope.owner, scope.workspace, memory_id, "2026-01-01T00:00:00.000Z",
             "2026-01-01T00:00:00.000Z"),
        )  # fmt: skip


def delete_memory(db, memory_id: str) -> None:
    with db.transaction() as conn:
        conn.execute("DELETE FROM memories WHERE id = ?", (memory_id,))


def test_the_first_answer_is_replayed_for_the_same_request(any_db):
    store = IdempotencyStore(any_db)
    assert store.begin(SCOPE, "k1", "fp") is None
    with pytest.raises(KeyInFlight):
        store.begin(SCOPE, "k1", "fp")  # the first has not answered yet
    add_memory(any_db, "m1")
    store.complete(SCOPE, "k1", 201, '{"id": "m1"}', "/v1/memories/m1", ["m1"])
    assert store.begin(SCOPE, "k1", "fp") == Replay(201, '{"id": "m1"}', "/v1/memories/m1")
    with pytest.raises(KeyReused):
        store.begin(SCOPE, "k1", "another body")
    assert store.begin(Scope("alice", "other"), "k1", "fp") is None  # keys are per workspace


def test_a_key_is_forgotten_once_its_memories_are_all_deleted(any_db):
    store = IdempotencyStore(any_db)
    store.begin(SCOPE, "k2", "fp")
    add_memory(any_db, "a")
    add_memory(any_db, "b")
    store.complete(SCOPE, "k2", 201, "{}", None, ["a", "b"])
    delete_memory(any_db, "a")
    assert store.begin(SCOPE, "k2", "fp") == Replay(201, "{}", None)  # b is still there
    delete_memory(any_db, "b")
    assert store.begin(SCOPE, "k2", "fp") is None  # forgotten: runs afresh


def test_a_key_whose_memory_went_before_it_was_recorded_is_forgotten(any_db):
    store = IdempotencyStore(any_db)
    store.begin(SCOPE, "k3", "fp")
    store.complete(SCOPE, "k3", 201, "{}", None, ["never-there"])
    assert store.begin(SCOPE, "k3", "fp") is None


def test_a_released_or_abandoned_reservation_can_be_taken(any_db, monkeypatch):
    store = IdempotencyStore(any_db)
    store.begin(SCOPE, "k4", "fp")
    store.release(SCOPE, "k4")
    assert store.begin(SCOPE, "k4", "fp") is None
    later = time.time() + ABANDONED_AFTER_S + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert store.begin(SCOPE, "k4", "fp") is None  # its request died: taken over


def test_keys_expire_after_the_retention(any_db, monkeypatch):
    store = IdempotencyStore(any_db)
    store.begin(SCOPE, "k5", "fp")
    store.complete(SCOPE, "k5", 200, "{}", None)
    later = time.time() + RETENTION_S + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert store.begin(SCOPE, "k5", "fp") is None


def test_concurrent_requests_with_one_key_reserve_it_once(any_db):
    store = IdempotencyStore(any_db)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        barrier.wait()
        try:
            outcomes.append("reserved" if store.begin(SCOPE, "k6", "fp") is None else "replay")
        except KeyInFlight:
            outcomes.append("in flight")

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["in flight"] * 7 + ["reserved"]
