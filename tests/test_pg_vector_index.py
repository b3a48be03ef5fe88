"""PgVectorIndex on a real PostgreSQL + pgvector: exact where promised, HNSW where large."""

from __future__ import annotations

import numpy as np
import pytest

from memory_server.search.vector_index import ModelChanged
from memory_server.storage.postgres import vector_index
from memory_server.storage.postgres.database import PostgresDatabase
from memory_server.storage.postgres.vector_index import PgVectorIndex

DIM = 384


@pytest.fixture
def db(pg_url):
    database = PostgresDatabase(pg_url)
    database.migrate()
    yield database
    database.close()


@pytest.fixture
def index(db) -> PgVectorIndex:
    with db.transaction() as conn:
        return PgVectorIndex.open(conn, DIM)


def clustered(count: int, seed: int = 0) -> np.ndarray:
    """Vectors in a few tight clusters, as real embeddings are."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((8, DIM))
    vectors = centres[rng.integers(0, 8, count)] + 0.35 * rng.standard_normal((count, DIM))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def fill(db, index, scope: str, vectors: np.ndarray, first_id: int) -> list[int]:
    ids = list(range(first_id, first_id + len(vectors)))
    with db.transaction() as conn:
        index.write(conn, scope, ids, vectors)
    return ids


def exact(vectors: np.ndarray, ids: list[int], query: np.ndarray, k: int) -> list[int]:
    scores = vectors @ query / np.linalg.norm(vectors, axis=1) / np.linalg.norm(query)
    return [ids[i] for i in np.argsort(-scores, kind="stable")[:k]]


def search(db, index, scope, query, k, candidates=None):
    with db.snapshot() as conn:
        return index.nearest(conn, scope, query, k, candidates)


def test_a_small_scope_is_searched_exactly_with_cosine_scores(db, index):
    vectors = clustered(300)
    ids = fill(db, index, "alice/default", vectors, 1)
    query = clustered(1, seed=9)[0]
    found = search(db, index, "alice/default", query, 10)
    assert [i for i, _ in found] == exact(vectors, ids, query, 10)
    best = vectors[ids.index(found[0][0])]
    assert found[0][1] == pytest.approx(float(best @ query), abs=1e-5)


def test_other_scopes_and_deleted_vectors_are_never_found(db, index):
    mine = fill(db, index, "alice/default", clustered(50, seed=1), 1)
    fill(db, index, "bob/default", clustered(50, seed=2), 1000)
    with db.transaction() as conn:
        index.delete(conn, "alice/default", mine[:25])
    found = search(db, index, "alice/default", clustered(1, seed=3)[0], 50)
    assert sorted(i for i, _ in found) == mine[25:]


def test_a_filter_leaving_few_memories_gets_the_best_among_them(db, index, monkeypatch):
    monkeypatch.setattr(vector_index, "EXACT_MAX", 100)  # so 2,000 take the HNSW path
    vectors = clustered(2000, seed=4)
    ids = fill(db, index, "alice/default", vectors, 1)
    query = clustered(1, seed=5)[0]
    # The ten worst-scoring memories: nowhere near the index's candidate list.
    scores = vectors @ query
    worst = [ids[i] for i in np.argsort(scores)[:10]]
    found = search(db, index, "alice/default", query, 5, candidates=worst)
    picked = vectors[[ids.index(i) for i in worst]]
    assert [i for i, _ in found] == exact(picked, worst, query, 5)
    # Over the limit for exact: HNSW first, and still the exact answer when it came up short.
    many = ids[:150]
    found = search(db, index, "alice/default", query, 10, candidates=many)
    assert [i for i, _ in found] == exact(vectors[:150], many, query, 10)


def test_a_small_workspace_beside_a_large_one_gets_all_its_matches(db, index, monkeypatch):
    monkeypatch.setattr(vector_index, "EXACT_MAX", 5)  # every scope here goes to HNSW first
    fill(db, index, "big/default", clustered(1500, seed=6), 1)
    small = clustered(12, seed=7)
    ids = fill(db, index, "small/default", small, 100_000)
    query = clustered(1, seed=6)[0]  # near the big workspace's vectors, not the small one's
    found = search(db, index, "small/default", query, 10)
    assert [i for i, _ in found] == exact(small, ids, query, 10)


def test_hnsw_keeps_nearly_every_true_neighbour(db, index, monkeypatch):
    monkeypatch.setattr(vector_index, "EXACT_MAX", 100)
    vectors = clustered(3000, seed=8)
    ids = fill(db, index, "alice/default", vectors, 1)
    queries = clustered(20, seed=10)
    hits = sum(
        len(
            {i for i, _ in search(db, index, "alice/default", q, 10)}
            & set(exact(vectors, ids, q, 10))
        )
        for q in queries
    )
    assert hits / (10 * len(queries)) >= 0.95


def test_vectors_read_back_exactly_and_wrong_dimensions_are_refused(db, index):
    vectors = clustered(3, seed=11)
    ids = fill(db, index, "alice/default", vectors, 1)
    with db.snapshot() as conn:
        found, matrix = index.vectors(conn, [ids[2], ids[0], 999])
    assert found.tolist() == [ids[0], ids[2]]
    assert np.array_equal(matrix, vectors[[0, 2]])
    with pytest.raises(ValueError), db.transaction() as conn:
        index.write(conn, "alice/default", [50], np.ones((1, DIM + 1), dtype=np.float32))


def test_a_server_on_the_old_model_stops_writing_after_a_reembed(db):
    with db.transaction() as conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('embedding_model', 'new-model')")
        index = PgVectorIndex.open(conn, DIM, model="old-model")
    with pytest.raises(ModelChanged), db.transaction() as conn:
        index.write(conn, "alice/default", [1], clustered(1))
