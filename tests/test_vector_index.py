"""The vector index: sign codes in sqlite-vec for a first pass, exact float re-scoring."""

from __future__ import annotations

import numpy as np
import pytest

from memory_server.search import code_cache, vector_index
from memory_server.search.vector_index import SHORTLIST_MIN, VectorIndex, sign_codes
from memory_server.storage.database import Database

DIM = 32


@pytest.fixture
def db(tmp_path):
    db = Database(tmp_path / "vectors.db")
    db.migrate()
    yield db
    db.close()


@pytest.fixture
def index(db) -> VectorIndex:
    with db.transaction() as conn:
        return VectorIndex.open(conn, DIM)


def random_vectors(count: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)


def clustered_vectors(count: int, dim: int, seed: int = 0) -> np.ndarray:
    """Vectors around 40 topics, as texts embed; uniform noise is the first pass's worst case."""
    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((40, dim))
    points = topics[rng.integers(0, 40, count)] + 0.6 * rng.standard_normal((count, dim))
    return points.astype(np.float32)


def exact_top(vectors: np.ndarray, ids: list[int], query: np.ndarray, k: int) -> list[int]:
    scores = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    return [ids[i] for i in np.argsort(-scores, kind="stable")[:k]]


def fill(db, index, partition: str, vectors: np.ndarray, first_id: int = 1) -> list[int]:
    ids = list(range(first_id, first_id + len(vectors)))
    with db.transaction() as conn:
        index.write(conn, partition, ids, vectors)
    return ids


def test_sign_codes_are_sqlite_vecs_binary_quantization(db):
    vectors = random_vectors(50)
    conn = db.connection()
    for vector, code in zip(vectors, sign_codes(vectors), strict=True):
        (expected,) = conn.execute("SELECT vec_quantize_binary(?)", (vector.tobytes(),)).fetchone()
        assert code.tobytes() == expected


def test_small_scopes_are_searched_exactly(db, index):
    vectors = random_vectors(300)
    ids = fill(db, index, "o/w", vectors)
    query = random_vectors(1, seed=9)[0]
    found = index.nearest(db.connection(), "o/w", query, 10)
    assert [i for i, _ in found] == exact_top(vectors, ids, query, 10)
    scores = [score for _, score in found]
    assert scores == sorted(scores, reverse=True) and -1.0 <= scores[-1] <= scores[0] <= 1.0


@pytest.mark.parametrize("block_layout", [True, False], ids=["blocks", "vec0-knn"])
def test_the_first_pass_keeps_the_true_nearest_neighbours(db, block_layout):
    dim = 128
    with db.transaction() as conn:
        index = VectorIndex.open(conn, dim)
    index.block_layout = block_layout
    # Five times the shortlist, so the first pass really has to choose.
    vectors = clustered_vectors(5 * SHORTLIST_MIN + 20, dim)
    vectors, queries = vectors[:-20], vectors[-20:]
    ids = fill(db, index, "o/w", vectors)
    hits = 0
    for query in queries:
        found = [i for i, _ in index.nearest(db.connection(), "o/w", query, 10)]
        assert len(found) == 10
        hits += len(set(found) & set(exact_top(vectors, ids, query, 10)))
    assert hits / (10 * len(queries)) >= 0.99


def test_the_block_reader_sees_what_sqlite_vec_sees(db, index):
    # Both first passes rank every code of a scope; with a shortlist of all, they agree.
    vectors = random_vectors(2 * SHORTLIST_MIN)
    fill(db, index, "o/w", vectors)
    conn = db.connection()
    query = random_vectors(1, seed=3)[0]
    blocks = index._shortlist(conn, "o/w", query, len(vectors), None)
    knn = index._vec0_shortlist(conn, "o/w", query, len(vectors), None)
    assert sorted(blocks.tolist()) == sorted(knn.tolist()) == list(range(1, len(vectors) + 1))


def test_the_block_layout_is_recognised(index):
    assert index.block_layout


def test_candidates_restrict_both_paths(db, index, monkeypatch):
    vectors = random_vectors(3 * SHORTLIST_MIN)
    ids = fill(db, index, "o/w", vectors)
    query = random_vectors(1, seed=4)[0]
    odd = [i for i in ids if i % 2]
    for exact_max in (len(ids), 10):  # scored exactly, then through the first pass
        monkeypatch.setattr(vector_index, "EXACT_MAX", exact_max)
        found = index.nearest(db.connection(), "o/w", query, 5, candidates=odd)
        assert found and all(i % 2 for i, _ in found)
        assert [i for i, _ in found] == exact_top(vectors[::2], odd, query, 5)


def test_deleted_vectors_and_other_scopes_are_never_found(db, index):
    vectors = random_vectors(2 * SHORTLIST_MIN)
    ids = fill(db, index, "o/w", vectors)
    fill(db, index, "o/other", vectors, first_id=100_000)
    query = vectors[7]
    with db.transaction() as conn:
        index.delete(conn, "o/w", [8])  # the query's own vector
    found = [i for i, _ in index.nearest(db.connection(), "o/w", query, 20)]
    assert 8 not in found and all(i in ids for i in found)
    assert index.nearest(db.connection(), "o/nobody", query, 5) == []


def test_vectors_of_unequal_length_are_scored_by_cosine(db, index):
    vectors = random_vectors(3)
    vectors[1] *= 1000  # client-supplied vectors need not be unit length
    fill(db, index, "o/w", vectors)
    found = dict(index.nearest(db.connection(), "o/w", vectors[1], 3))
    assert found[2] == pytest.approx(1.0, abs=1e-6)


def test_a_vector_of_the_wrong_dimension_is_refused(db, index):
    with pytest.raises(ValueError, match="dimension"), db.transaction() as conn:
        index.write(conn, "o/w", [1], np.ones((1, DIM + 1), dtype=np.float32))


def test_the_first_layout_is_upgraded_in_place(db):
    # Databases written before this index kept every vector in one float vec0 table.
    vectors = random_vectors(5)
    with db.transaction() as conn:
        conn.execute(
            "CREATE VIRTUAL TABLE chunk_vectors USING vec0(chunk_id INTEGER PRIMARY KEY,"
            f" scope TEXT PARTITION KEY, embedding float[{DIM}] distance_metric=cosine)"
        )
        conn.executemany(
            "INSERT INTO chunk_vectors (chunk_id, scope, embedding) VALUES (?, 'o/w', ?)",
            [(i + 1, v.tobytes()) for i, v in enumerate(vectors)],
        )
    with db.transaction() as conn:
        index = VectorIndex.open(conn, DIM)
    conn = db.connection()
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "chunk_vectors" not in tables
    found, stored = index.vectors(conn, [1, 2, 3, 4, 5])
    assert found.tolist() == [1, 2, 3, 4, 5] and np.array_equal(stored, vectors)
    assert index.nearest(conn, "o/w", vectors[3], 1)[0][0] == 4


def other_process(db) -> VectorIndex:
    """A second index object on its own connection: what another worker or host holds."""
    with db.transaction() as conn:
        return VectorIndex.open(conn, DIM)


def top_ids(db, index, query, k=5) -> list[int]:
    return [i for i, _ in index.nearest(db.connection(), "o/w", query, k)]


def test_the_codes_are_read_once_while_the_scope_is_unchanged(db, index):
    fill(db, index, "o/w", random_vectors(3 * SHORTLIST_MIN))
    conn = db.connection()
    first = index._codes(conn, "o/w")
    assert index._codes(conn, "o/w") is first
    fill(db, index, "o/other", random_vectors(10), first_id=50_000)  # another scope
    assert index._codes(conn, "o/w") is first


@pytest.mark.parametrize("change", ["write", "delete"])
def test_a_change_by_another_process_is_seen_by_the_next_search(db, index, change):
    vectors = random_vectors(3 * SHORTLIST_MIN)
    fill(db, index, "o/w", vectors)
    query = random_vectors(1, seed=5)[0]
    other = other_process(db)
    before = top_ids(db, index, query)  # now cached
    with db.transaction() as conn:
        if change == "write":  # the query itself: it must come first now
            other.write(conn, "o/w", [99_999], query[None, :])
        else:
            other.delete(conn, "o/w", [before[0]])
    after = top_ids(db, index, query)
    if change == "write":
        assert after[0] == 99_999
    else:
        assert before[0] not in after and after[:4] == before[1:]


def test_a_copy_read_inside_a_rolled_back_write_is_never_taken_for_current(db, index):
    vectors = random_vectors(3 * SHORTLIST_MIN)
    fill(db, index, "o/w", vectors)
    query = random_vectors(1, seed=6)[0]
    with pytest.raises(RuntimeError), db.transaction() as conn:
        index.write(conn, "o/w", [77_777], query[None, :])
        assert index.nearest(conn, "o/w", query, 1)[0][0] == 77_777  # cached, uncommitted
        raise RuntimeError("rolled back")
    assert 77_777 not in top_ids(db, index, query)
    other = other_process(db)
    with db.transaction() as conn:  # a later committed write gets a token of its own
        other.write(conn, "o/w", [88_888], -query[None, :])
    found = [i for i, _ in index.nearest(db.connection(), "o/w", -query, 1)]
    assert found == [88_888]


def test_the_cache_keeps_the_most_recently_searched_scopes_within_its_size():
    cache = code_cache.CodeCache(max_bytes=3 * 1000 * 17)
    for name in "abcd":  # 1,000 codes of one 64-bit word, their ids and flags: 17 KB each
        ids = np.arange(1000, dtype=np.int64)
        valid = np.ones(1000, dtype=bool)
        codes = code_cache.ScopeCodes((0, 1), ids, valid, np.zeros((1, 1000), np.uint64), {})
        cache.put(name, codes)
        cache.get("a")  # "a" stays the most recently used
    assert cache.get("a") is not None and cache.get("b") is None
    assert cache.get("c") is not None and cache.get("d") is not None
    assert cache.held_bytes() <= cache.max_bytes


def held_codes(codes: code_cache.ScopeCodes) -> dict[int, bytes]:
    """What a copy says: each valid id and its code."""
    slots = np.flatnonzero(codes.valid)
    return {int(codes.ids[s]): codes.words[:, s].tobytes() for s in slots}


def fresh_codes(db, partition: str = "o/w") -> code_cache.ScopeCodes:
    conn = db.connection()
    now = code_cache.token(conn, partition)
    return code_cache.refresh(conn, vector_index.CODES, partition, None, now, np.uint8, DIM // 8)


def test_a_copy_brought_up_to_date_block_by_block_equals_a_fresh_read(db, index):
    # sqlite-vec blocks hold 1,024 codes: writes and deletes spread over several of them,
    # a deleted id written again (into the latest block), whole blocks emptied.
    rng = np.random.default_rng(1)
    live = fill(db, index, "o/w", random_vectors(2500))
    fill(db, index, "o/other", random_vectors(300), first_id=900_000)  # never seen in o/w
    conn = db.connection()
    index._codes(conn, "o/w")
    other = other_process(db)
    next_id = 10_000
    for step in range(12):
        with db.transaction() as write:
            gone = [int(i) for i in rng.choice(live, size=int(rng.integers(1, 200)), replace=False)]
            if step == 5:
                gone = [i for i in live if i <= 1024]  # the first block, all of it
            other.delete(write, "o/w", gone)
            live = [i for i in live if i not in set(gone)]
            again = gone[:3]  # the same ids back, with other vectors
            new = list(range(next_id, next_id + int(rng.integers(0, 400)))) + again
            next_id += 1000
            if new:
                other.write(write, "o/w", new, random_vectors(len(new), seed=step + 100))
            live += new
        held = index._codes(conn, "o/w")
        assert held_codes(held) == held_codes(fresh_codes(db))
        assert sorted(held_codes(held)) == sorted(live)


def test_a_scope_searched_while_empty_is_searched_again_once_written(db, index):
    query = random_vectors(1, seed=8)[0]
    assert top_ids(db, index, query) == []
    ids = fill(db, index, "o/w", random_vectors(SHORTLIST_MIN + 10))
    assert top_ids(db, index, query, 10) == exact_top(
        random_vectors(SHORTLIST_MIN + 10), ids, query, 10
    )


def test_after_every_code_is_rewritten_the_copy_is_read_afresh(db, index):
    fill(db, index, "o/w", random_vectors(3000))
    conn = db.connection()
    held = index._codes(conn, "o/w")
    held.words[:] = 0  # what a copy of codes that are no longer there would hold
    with db.transaction() as write:
        code_cache.bump_generation(write)  # what reembed does when it rewrites them all
    assert held_codes(index._codes(conn, "o/w")) == held_codes(fresh_codes(db))


@pytest.mark.parametrize("shape", ["uniform", "clustered", "sample-misleads"])
def test_the_cut_keeps_exactly_the_smallest_distances(shape):
    rng = np.random.default_rng(2)
    distances = rng.integers(0, 385, 200_000).astype(np.uint16)
    if shape == "clustered":
        distances = rng.normal(150, 12, 200_000).clip(0, 384).astype(np.uint16)
    if shape == "sample-misleads":  # only the sampled slots are near: the guess keeps too few
        distances = np.full(4000, 300, dtype=np.uint16)
        distances[:: code_cache.SAMPLE_STRIDE] = 5
    size = 500
    chosen = code_cache._closest(distances.copy(), size)
    assert len(chosen) == len(set(chosen.tolist())) == size
    assert np.array_equal(np.sort(distances[chosen]), np.sort(distances)[:size])


def test_a_code_rewritten_into_the_same_slot_is_seen(db, index):
    # sqlite-vec reuses a freed slot of its latest block: when that block was full as the
    # copy was taken, an update (delete, write again) lands in the same slot with the same
    # validity bitmap, and a later insert makes another block the latest.
    vectors = random_vectors(8 * 1024)
    ids = fill(db, index, "o/w", vectors)
    query = random_vectors(1, seed=12)[0]
    assert top_ids(db, index, query, 1) != [ids[-5]]  # cached now
    other = other_process(db)
    with db.transaction() as conn:
        other.delete(conn, "o/w", [ids[-5]])
        other.write(conn, "o/w", [ids[-5]], query[None, :])
    fill(db, other, "o/w", random_vectors(1, seed=13), first_id=100_000)  # a new block
    assert top_ids(db, index, query, 1) == [ids[-5]]
    assert held_codes(index._codes(db.connection(), "o/w")) == held_codes(fresh_codes(db))
