"""MemoryStore: rows and vectors always agree, scopes never leak, the model is checked."""

from __future__ import annotations

import numpy as np
import pytest

from memory_server.scope import Scope
from memory_server.storage.memory_store import (
    EmbeddingModelMismatch,
    MemoryExists,
    MemoryNotFound,
    MemoryStore,
    VectorIndexNotReady,
)

HERE = Scope("alice", "default")
THERE = Scope("alice", "other")


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(8).astype(np.float32)
    return vector / np.linalg.norm(vector)


@pytest.fixture
def store(any_db) -> MemoryStore:
    """A store on each backend: a SQLite file, then a real PostgreSQL."""
    store = MemoryStore(any_db)
    # A tiny dimension keeps these storage tests independent of the model.
    store.bind_embedding_model("test-model", 8)
    return store


def counts(store: MemoryStore) -> tuple[int, int]:
    conn = store.db.connection()
    rows = conn.execute("SELECT count(*) FROM memories").fetchone()[0]
    vectors = conn.execute("SELECT count(*) FROM chunk_embeddings").fetchone()[0]
    if store.db.dialect.name == "sqlite":
        codes = conn.execute("SELECT count(*) FROM chunk_codes").fetchone()[0]
        assert codes == vectors  # every vector has its first-pass code
    return rows, vectors


def test_insert_and_get_round_trip(store):
    created = store.insert(HERE, "m1", "text", {"k": [1, "é"]}, "hash", unit(1))
    got = store.get(HERE, "m1", with_embedding=True)
    assert got.text == "text" and got.metadata == {"k": [1, "é"]}
    assert got.created_at == created.created_at
    assert np.array_equal(np.float32(got.embedding), unit(1))
    assert store.get(HERE, "m1").embedding is None


def test_insert_duplicate_id_raises_and_leaves_one_row_and_one_vector(store):
    store.insert(HERE, "m1", "a", {}, "h", unit(1))
    with pytest.raises(MemoryExists):
        store.insert(HERE, "m1", "b", {}, "h", unit(2))
    assert counts(store) == (1, 1)
    assert store.get(HERE, "m1").text == "a"


def test_same_id_in_two_scopes(store):
    store.insert(HERE, "m1", "here", {}, "h", unit(1))
    store.insert(THERE, "m1", "there", {}, "h", unit(2))
    assert store.get(HERE, "m1").text == "here"
    assert store.get(THERE, "m1").text == "there"


def test_a_failed_vector_write_leaves_no_row(store):
    with pytest.raises(Exception, match=r"[Dd]imension"):
        store.insert(HERE, "m1", "a", {}, "h", np.ones(5, dtype=np.float32))
    assert counts(store) == (0, 0)


def test_update_replaces_vector_only_when_given(store):
    store.insert(HERE, "m1", "a", {"x": 1}, "h1", unit(1))
    store.update(HERE, "m1", metadata={"y": 2})
    got = store.get(HERE, "m1", with_embedding=True)
    assert got.metadata == {"y": 2} and got.text == "a"
    assert np.array_equal(np.float32(got.embedding), unit(1))
    store.update(HERE, "m1", text="b", content_hash="h2", vectors=unit(3))
    got = store.get(HERE, "m1", with_embedding=True)
    assert (got.text, got.content_hash) == ("b", "h2")
    assert np.array_equal(np.float32(got.embedding), unit(3))
    assert counts(store) == (1, 1)


def test_delete_removes_row_and_vector(store):
    store.insert(HERE, "m1", "a", {}, "h", unit(1))
    store.insert(HERE, "m2", "b", {}, "h", unit(2))
    store.delete(HERE, "m1")
    assert counts(store) == (1, 1)
    with pytest.raises(MemoryNotFound):
        store.get(HERE, "m1")
    with pytest.raises(MemoryNotFound):
        store.delete(HERE, "m1")


def test_delete_all_stays_in_its_scope(store):
    for i in range(5):
        store.insert(HERE, f"m{i}", "a", {}, "h", unit(i))
    store.insert(THERE, "keep", "b", {}, "h", unit(9))
    store.insert(Scope("bob", "default"), "keep", "c", {}, "h", unit(10))
    assert store.delete_all(HERE) == 5
    assert counts(store) == (2, 2)
    assert store.get(THERE, "keep").text == "b"


def test_page_is_newest_first_and_counts_the_scope_only(store):
    for i in range(5):
        store.insert(HERE, f"m{i}", str(i), {}, "h", unit(i))
    store.insert(THERE, "x", "x", {}, "h", unit(9))
    items, total = store.page(HERE, limit=2, offset=1)
    assert total == 5
    assert [m.id for m in items] == ["m3", "m2"]


def test_binding_another_model_or_dimension_is_refused(store):
    store.bind_embedding_model("test-model", 8)  # the same again is fine
    with pytest.raises(EmbeddingModelMismatch) as error:
        store.bind_embedding_model("test-model", 16)
    assert (error.value.stored_model, error.value.stored_dimension) == ("test-model", 8)
    with pytest.raises(EmbeddingModelMismatch):
        store.bind_embedding_model("other-model", 8)


def test_vectors_cannot_be_written_before_binding(any_db):
    db = any_db
    with pytest.raises(VectorIndexNotReady):
        MemoryStore(db).insert(HERE, "m1", "a", {}, "h", unit(1))
    assert db.connection().execute("SELECT count(*) FROM memories").fetchone()[0] == 0


def test_processes_binding_the_model_at_once_all_start(any_db):
    # Two hosts' workers starting together on a new database: one binds, the others check.
    import threading

    from memory_server.storage.open_database import open_database

    errors: list[Exception] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        db = open_database(any_db.location)  # its own connections, as another process has
        barrier.wait()
        try:
            MemoryStore(db).bind_embedding_model("test-model", 8)
        except Exception as exc:
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = any_db.connection().execute("SELECT key, value FROM meta ORDER BY key").fetchall()
    assert [tuple(row) for row in rows] == [
        ("embedding_dimension", "8"),
        ("embedding_model", "test-model"),
    ]
