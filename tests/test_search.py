"""Search on both surfaces: shapes, modes, every filter, isolation, hostile input, no stale hits."""

from __future__ import annotations

import time

import numpy as np
import pytest

from helpers import headers
from memory_server.embedding.chunking import chunk_spans
from memory_server.scope import Scope
from memory_server.search.filters import Filters
from memory_server.search.keyword_index import Bm25KeywordIndex
from memory_server.search.ranking import KEYWORD_WEIGHT, query_terms
from memory_server.storage import migrations
from memory_server.storage.database import Database

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True

MODES = ["semantic", "keyword", "hybrid"]


def add(client, auth, text, **body):
    response = client.post("/api/v1/memory", json={"text": text, **body}, headers=auth)
    assert response.status_code == 201, response.json
    return response.json["id"]


def search(client, auth, query, status=200, **body):
    response = client.post("/api/v1/memory/search", json={"query": query, **body}, headers=auth)
    assert response.status_code == status, response.json
    return response.json


def ids(client, auth, query, **body):
    return [r["id"] for r in search(client, auth, query, **body)["results"]]


@pytest.fixture
def pets(client, auth):
    return {
        "dog": add(client, auth, "I adopted a golden retriever puppy named Biscuit"),
        "tax": add(client, auth, "The quarterly tax filing is due on April 15"),
        "curry": add(client, auth, "My favourite dish is a spicy Thai green curry"),
    }


def test_management_surface_shape(client, auth, pets):
    body = search(client, auth, "a new dog in the family")
    assert set(body) == {"results", "query", "total_results", "search_time_ms"}
    assert body["query"] == "a new dog in the family"
    assert body["total_results"] == len(body["results"]) == 3
    assert isinstance(body["search_time_ms"], float) and body["search_time_ms"] > 0
    first = body["results"][0]
    assert set(first) == {
        "id", "text", "metadata", "score", "created_at", "updated_at", "expires_at", "best_chunk",
    }  # fmt: skip
    assert first["best_chunk"] == {
        "index": 0, "start": 0, "end": len(first["text"]), "text": first["text"],
    }  # fmt: skip
    assert first["id"] == pets["dog"]
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    assert all(-1 <= s <= 1 for s in scores)


def test_v1_surface_shape(client, auth, pets):
    response = client.post("/v1/memories/search", json={"query": "pet dog"}, headers=auth)
    assert response.status_code == 200
    assert response.json["success"] is True
    assert response.json["data"][0]["id"] == pets["dog"]
    same = search(client, auth, "pet dog")["results"]
    assert response.json["data"] == same


def test_semantic_score_is_the_cosine_similarity(client, auth, embedder, pets):
    result = search(client, auth, "spicy food", limit=1, mode="semantic")["results"][0]
    vectors = embedder.embed(
        ["spicy food", "My favourite dish is a spicy Thai green curry"]
    ).vectors
    assert result["score"] == pytest.approx(float(vectors[0] @ vectors[1]), abs=1e-4)


def test_limit_and_threshold(client, auth, pets):
    assert len(ids(client, auth, "anything", limit=2)) == 2
    everything = search(client, auth, "puppy")["results"]
    cut = everything[0]["score"] - 0.01
    kept = search(client, auth, "puppy", threshold=cut)["results"]
    assert [r["id"] for r in kept] == [pets["dog"]]
    assert search(client, auth, "puppy", threshold=0.999)["results"] == []


def test_default_limit_is_10(client, auth):
    for i in range(12):
        add(client, auth, f"note number {i} about the garden")
    assert len(ids(client, auth, "garden notes")) == 10


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "5"}, "limit"),
        ({"limit": 2.5}, "limit"),
        ({"threshold": "high"}, "threshold"),
        ({"mode": "fuzzy"}, "mode"),
        ({"filters": {"colour": "red"}}, "filters"),
        ({"filters": {"tags": ["a"]}}, "filters"),
        ({"filters": {"tags": {"some": ["a"]}}}, "filters"),
        ({"filters": {"tags": {}}}, "filters"),
        ({"filters": {"created_after": "yesterday"}}, "filters"),
        ({"filters": {"metadata": {"k": {"between": [1, 2]}}}}, "filters"),
        ({"filters": {"metadata": {"k": [1, 2]}}}, "filters"),
        ({"filters": {"metadata": {'bad"key': 1}}}, "filters"),
        ({"filters": {"metadata": {}}}, "filters"),
        ({"filters": None}, "filters"),
        ({"extra": 1}, "extra"),
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/memory/search", "/v1/memories/search"])
def test_invalid_search_requests_are_400(client, auth, body, field, path):
    response = client.post(path, json={"query": "q", **body}, headers=auth)
    assert response.status_code == 400
    assert field in response.json["details"]["fields"]


@pytest.mark.parametrize("query", [None, "", "   ", "a\x00b", 7])
def test_query_must_be_text(client, auth, query):
    body = {} if query is None else {"query": query}
    response = client.post("/api/v1/memory/search", json=body, headers=auth)
    assert response.status_code == 400


def test_keyword_mode_uses_bm25_on_words(client, auth, pets):
    found = search(client, auth, "Biscuit", mode="keyword")["results"]
    assert [r["id"] for r in found] == [pets["dog"]]
    assert found[0]["score"] > 0
    assert search(client, auth, "new family pet", mode="keyword")["results"] == []


def test_keyword_search_folds_case_accents_and_stems(client, auth):
    memory_id = add(client, auth, "We met at the Café Müller while planning the renovations")
    for query in ("cafe", "MULLER", "plan", "renovation"):
        assert ids(client, auth, query, mode="keyword") == [memory_id], query


def test_hybrid_finds_by_meaning_and_by_exact_name(client, auth, pets):
    assert ids(client, auth, "a new dog joined the family", mode="hybrid")[0] == pets["dog"]
    assert ids(client, auth, "Biscuit", mode="hybrid")[0] == pets["dog"]
    query = "golden retriever puppy Biscuit"
    top = search(client, auth, query, mode="hybrid")["results"][0]
    semantic = search(client, auth, query, mode="semantic")["results"][0]
    assert top["id"] == semantic["id"] == pets["dog"]
    # Every word of the query and the best BM25: the cosine plus the whole keyword weight.
    assert top["score"] == pytest.approx(semantic["score"] + KEYWORD_WEIGHT, abs=1e-5)


def test_a_hybrid_keyword_bonus_grows_with_the_share_of_the_query_matched(client, auth):
    both = add(client, auth, "The quarterly zorblax audit is due on Friday")
    one = add(client, auth, "A zorblax is an imaginary animal")
    query = "quarterly zorblax audit"
    results = search(client, auth, query, mode="hybrid")["results"]
    semantic = {
        r["id"]: r["score"] for r in search(client, auth, query, mode="semantic")["results"]
    }
    bonus = {r["id"]: r["score"] - semantic[r["id"]] for r in results}
    assert bonus[both] == pytest.approx(KEYWORD_WEIGHT, abs=1e-5)  # all three terms
    assert 0 < bonus[one] < KEYWORD_WEIGHT / 9  # one term of three, and a lower BM25


HOSTILE = [
    '"',
    '""',
    "'",
    "unbalanced (parenthesis",
    "AND",
    "OR OR OR",
    "NOT dog",
    "dog NEAR puppy",
    "NEAR(dog puppy, 2)",
    "dog*",
    "*",
    "^dog",
    "text:dog",
    "{text}: dog",
    "dog + puppy - cat",
    "'; DROP TABLE memories; --",
    "1 OR 1=1",
    '" OR ""="',
    "SELECT * FROM api_keys",
    "%_%",
    "\\",
    "ÅÄÖ ñ ç ß",
    "犬 子犬 ゴールデン",
    "🐶🐕 emoji",
    "العربية كلب",
    "a" * 5000,
    "word " * 500,
    "\t\n\r",
    "?!.,;:",
    "dog" + "\u200b" * 10,
]


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_break_search(client, auth, pets, mode, query):
    response = client.post(
        "/api/v1/memory/search", json={"query": query, "mode": mode}, headers=auth
    )
    if query.strip():
        assert response.status_code == 200, response.json
        assert isinstance(response.json["results"], list)
    else:
        assert response.status_code == 400
    # Nothing was harmed.
    assert client.get("/api/v1/memory", headers=auth).json["pagination"]["total"] == 3


@pytest.fixture
def tagged(client, auth):
    made = {}
    for name, metadata in {
        "standup": {"type": "meeting", "tags": ["work", "daily"], "source": "calendar"},
        "retro": {"type": "meeting", "tags": ["work", "sprint"], "source": "notes", "team": "api"},
        "groceries": {"type": "todo", "tags": ["home"], "source": "notes", "team": "none"},
        "review": {"type": "meeting", "tags": ["work"], "source": "calendar", "priority": 2},
        "dentist": {"type": "event", "tags": ["health", "daily"], "priority": 1, "done": True},
    }.items():
        made[name] = add(client, auth, f"{name} notes for the week", metadata=metadata)
    return made


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"type": "meeting"}, {"standup", "retro", "review"}),
        ({"source": "notes"}, {"retro", "groceries"}),
        ({"tags": {"any": ["sprint", "home"]}}, {"retro", "groceries"}),
        ({"tags": {"all": ["work", "daily"]}}, {"standup"}),
        ({"tags": {"any": ["daily"], "all": ["health"]}}, {"dentist"}),
        ({"metadata": {"team": "api"}}, {"retro"}),
        ({"metadata": {"priority": {"in": [1, 2]}}}, {"review", "dentist"}),
        ({"metadata": {"done": True}}, {"dentist"}),
        ({"metadata": {"type": "todo"}}, {"groceries"}),
        (
            {"type": "meeting", "source": "calendar", "tags": {"any": ["work"]}},
            {"standup", "review"},
        ),
        ({"type": "nothing-like-this"}, set()),
        ({"metadata": {"missing-key": "x"}}, set()),
    ],
)
def test_each_filter(client, auth, tagged, mode, filters, expected):
    found = ids(client, auth, "notes for the week", mode=mode, filters=filters, limit=100)
    assert set(found) == {tagged[name] for name in expected}


@pytest.mark.parametrize("mode", MODES)
def test_time_filters(client, auth, mode):
    early = add(client, auth, "early notes for the week")
    time.sleep(0.02)
    middle = client.get(f"/api/v1/memory/{early}", headers=auth).json["created_at"]
    time.sleep(0.02)
    late = add(client, auth, "late notes for the week")
    time.sleep(0.02)
    client.put(f"/api/v1/memory/{early}", json={"metadata": {"touched": True}}, headers=auth)

    def found(filters):
        return set(ids(client, auth, "notes week", mode=mode, filters=filters))

    assert found({"created_after": middle}) == {late}
    assert found({"created_before": middle}) == set()
    assert found({"created_before": "2999-01-01T00:00:00+02:00"}) == {early, late}
    late_created = client.get(f"/api/v1/memory/{late}", headers=auth).json["created_at"]
    assert found({"updated_after": late_created}) == {early}
    assert found({"updated_before": late_created}) == set()
    assert found({"created_after": "2000-01-01"}) == {early, late}  # naive = UTC


@pytest.mark.parametrize("mode", MODES)
def test_filters_apply_before_the_top_k_cut(client, auth, mode):
    """30 close matches are filtered out: the one match of the filter must still come back."""
    for i in range(30):
        add(client, auth, f"I love eating pizza with friends, slice {i}", metadata={"type": "food"})
    wanted = add(client, auth, "Reminder: renew the car registration", metadata={"type": "admin"})
    found = ids(client, auth, "pizza with friends", mode=mode, limit=1, filters={"type": "admin"})
    if mode == "keyword":  # no shared word: keyword rightly finds nothing
        assert found == []
        found = ids(client, auth, "registration", mode=mode, limit=1, filters={"type": "admin"})
    assert found == [wanted]


@pytest.mark.slow
def test_filtered_search_over_long_memories_still_fills_the_limit(client, auth):
    """Many chunks of unwanted long memories must not crowd out the wanted ones."""
    paragraph = "We talked about pizza and friends and the weekend for a long while. " * 8
    for i in range(6):  # six different memories: identical ones would be stored once
        text = f"Evening {i}.\n\n" + "\n\n".join([paragraph] * 12)
        add(client, auth, text, metadata={"type": "long"})
    wanted = [
        add(client, auth, f"Short note {i} about pizza", metadata={"type": "short"})
        for i in range(3)
    ]
    found = ids(client, auth, "pizza and friends", limit=3, filters={"type": "short"})
    assert set(found) == set(wanted)
    unfiltered = ids(client, auth, "pizza and friends", limit=9)
    assert len(unfiltered) == 9 and len(set(unfiltered)) == 9  # each memory once


@pytest.mark.parametrize("mode", MODES)
def test_search_is_scoped_to_owner_and_workspace(client, make_key, mode):
    alice, bob = make_key("pro", "alice"), make_key("pro", "bob")
    mine = add(client, headers(alice, "home"), "Secret recipe: saffron risotto with lemon")
    add(client, headers(alice, "work"), "Secret recipe: saffron risotto with lemon")
    add(client, headers(bob, "home"), "Secret recipe: saffron risotto with lemon")
    for who in (headers(alice, "home"),):
        assert ids(client, who, "saffron risotto", mode=mode) == [mine]
    assert ids(client, headers(alice), "saffron risotto", mode=mode) == []
    bob_home = ids(client, headers(bob, "home"), "saffron risotto", mode=mode)
    assert len(bob_home) == 1 and mine not in bob_home


@pytest.mark.parametrize("mode", MODES)
def test_updates_and_deletes_never_leave_stale_hits(client, auth, mode):
    memory_id = add(client, auth, "The spare key is hidden under the blue flowerpot")
    assert ids(client, auth, "flowerpot spare key", mode=mode) == [memory_id]

    client.put(
        f"/v1/memories/{memory_id}", json={"text": "The bike lock code is 4312"}, headers=auth
    )
    results = search(client, auth, "flowerpot spare key", mode=mode)["results"]
    if mode == "keyword":
        assert results == []
    for result in results:
        assert result["text"] == "The bike lock code is 4312"
        if mode == "semantic":
            assert result["score"] < 0.5  # scored with the new text's vector
    assert ids(client, auth, "bike lock code", mode=mode) == [memory_id]

    client.delete(f"/api/v1/memory/{memory_id}", headers=auth)
    assert ids(client, auth, "bike lock code", mode=mode) == []


def test_delete_all_leaves_nothing_to_find(client, auth, pets):
    client.delete("/v1/memories?confirm=true", headers=auth)
    for mode in MODES:
        assert ids(client, auth, "puppy Biscuit tax curry", mode=mode) == []


def test_long_memory_embedding_is_the_normalized_mean_of_its_chunks(client, auth, app):
    text = "\n\n".join(
        f"Paragraph {i}: the hikers reached the ridge after many hours." * 4 for i in range(30)
    )
    memory_id = add(client, auth, text)
    embedding = np.array(client.get(f"/api/v1/memory/{memory_id}", headers=auth).json["embedding"])
    services = app.extensions["memory_api"]
    with services.db.snapshot() as conn:
        rowid, count = conn.execute(
            "SELECT rowid, chunk_count FROM memories WHERE id = ?", (memory_id,)
        ).fetchone()
        assert count > 1
        _, chunks = services.memories.store.vectors.vectors(
            conn, [rowid * 1024 + i for i in range(count)]
        )
    mean = chunks.mean(axis=0)
    assert np.allclose(embedding, mean / np.linalg.norm(mean), atol=1e-6)


def test_searches_count_against_the_quota(client, make_key):
    free = headers(make_key("free"))
    response = client.post("/api/v1/memory/search", json={"query": "x"}, headers=free)
    assert response.headers["X-RateLimit-Remaining"] == "99"
    response = client.post("/v1/memories/search", json={"query": "x"}, headers=free)
    assert response.headers["X-RateLimit-Remaining"] == "98"


def test_migration_7_indexes_existing_memories_per_workspace(tmp_path, monkeypatch):
    db = Database(tmp_path / "old.db")
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:6])
    db.migrate()
    with db.transaction() as conn:
        for workspace in ("home", "work"):
            conn.execute(
                "INSERT INTO memories (owner, workspace, id, text, metadata, content_hash,"
                " created_at, updated_at) VALUES ('ann', ?, 'm1', 'The key is under the"
                " flowerpot, the flowerpot by the door', '{}', 'h', 't', 't')",
                (workspace,),
            )
    monkeypatch.undo()
    db.migrate()
    conn = db.connection()
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'memories_fts'").fetchone()
    scopes = conn.execute("SELECT workspace, documents, tokens FROM keyword_scopes").fetchall()
    assert sorted(tuple(row) for row in scopes) == [("home", 1, 11), ("work", 1, 11)]
    for workspace in ("home", "work"):
        terms = query_terms("flowerpots")
        rowids, scores, _ = Bm25KeywordIndex.scores(conn, Scope("ann", workspace), terms)
        (rowid,) = conn.execute(
            "SELECT rowid FROM memories WHERE workspace = ?", (workspace,)
        ).fetchone()
        assert rowids.tolist() == [rowid] and scores[0] > 0
    assert Bm25KeywordIndex.scores(conn, Scope("ann", "elsewhere"), ["flowerpot"])[0].size == 0
    db.close()


def test_metadata_filters_compare_json_values_of_any_size(client, auth):
    """Integers past 64 bits and far-off dates were 500s; true matched the number 1."""
    flag = add(client, auth, "flag true", metadata={"n": True})
    one = add(client, auth, "number one", metadata={"n": 1})
    real = add(client, auth, "number one point zero", metadata={"n": 1.0})
    text = add(client, auth, "the text one", metadata={"n": "1"})
    big = add(client, auth, "a big number", metadata={"n": 2**63})
    huge = add(client, auth, "a huge number", metadata={"n": 10**400})

    def matching(condition) -> set[str]:
        response = client.post(
            "/api/v1/memory/search",
            json={"query": "number", "limit": 100, "filters": {"metadata": {"n": condition}}},
            headers=auth,
        )
        assert response.status_code == 200, response.json
        return {r["id"] for r in response.json["results"]}

    assert matching(True) == {flag}
    assert matching(False) == set()
    assert matching(1) == {one, real}  # JSON numbers: 1 and 1.0 are the same value
    assert matching("1") == {text}
    assert matching(2**63) == {big}
    assert matching(10**400) == {huge}
    assert matching({"in": [True, "1", 2**64]}) == {flag, text}


@pytest.mark.parametrize(
    ("bound", "value", "matches"),
    [
        ("created_after", "0001-01-01T00:00:00+14:00", True),
        ("created_before", "0001-01-01T00:00:00+14:00", False),
        ("updated_before", "9999-12-31T23:59:59-14:00", True),
        ("updated_after", "9999-12-31T23:59:59-14:00", False),
    ],
)
def test_dates_beyond_the_calendar_in_utc_are_before_or_after_everything(
    client, auth, bound, value, matches
):
    memory_id = add(client, auth, "dated note")
    found = ids(client, auth, "dated note", filters={bound: value})
    assert found == ([memory_id] if matches else [])


def _long_notes(fact: str) -> str:
    """About 31 KB of unrelated paragraphs, with one sentence that matters in the middle."""
    filler = [
        f"Paragraph {i} of the archive: the warehouse inventory for aisle {i} was counted, "
        f"the forklift schedule was posted, and shipment {i * 7} left on time. "
        "Nothing else of note happened during this shift."
        for i in range(180)
    ]
    filler.insert(90, fact)
    return "\n\n".join(filler)


FACT = "My sister Maria lives in Lisbon and teaches the violin."


@pytest.mark.parametrize("mode", ["semantic", "keyword", "hybrid"])
def test_a_long_memory_points_at_its_best_chunk(client, auth, mode):
    text = _long_notes(FACT)
    assert len(text) > 30_000
    memory_id = add(client, auth, text)
    add(client, auth, "The violin lesson is on Thursday")
    query = "where does my sister Maria live" if mode != "keyword" else "Maria Lisbon"
    results = search(client, auth, query, mode=mode)["results"]
    hit = next(r for r in results if r["id"] == memory_id)
    chunk = hit["best_chunk"]
    assert FACT in chunk["text"]
    assert chunk["index"] > 0
    assert hit["text"][chunk["start"] : chunk["end"]] == chunk["text"]
    assert len(chunk["text"]) < 1_500  # a chunk of ~128 tokens, not the 31 KB memory


def test_best_chunk_offsets_count_code_points(client, auth):
    # Characters outside the BMP are one code point each (two UTF-16 units in JavaScript).
    text = _long_notes("Grandpa's 🎻 violin from Lisbon is stored in the attic trunk.")
    memory_id = add(client, auth, "🎉" * 40 + text)
    hit = search(client, auth, "where is the old violin kept", limit=1)["results"][0]
    assert hit["id"] == memory_id
    chunk = hit["best_chunk"]
    assert "attic trunk" in chunk["text"]
    assert hit["text"][chunk["start"] : chunk["end"]] == chunk["text"]


def test_a_hybrid_keyword_only_hit_gets_its_most_similar_chunk(app, client, auth, embedder):
    # Semantic ranking places the chunks of what it ranks; a memory only keyword search
    # found (with 50+ semantically closer ones) is placed by scoring its stored chunks.
    memory_id = add(client, auth, _long_notes(FACT))
    index = app.extensions["memory_api"].memories.index
    vector = embedder.embed_query("where does my sister Maria live")
    with index.db.snapshot() as conn:
        rowid, count = conn.execute(
            "SELECT rowid, chunk_count FROM memories WHERE id = ?", (memory_id,)
        ).fetchone()
        chunks: dict[int, int] = {}
        index._cosines(conn, vector, {rowid}, chunks)
    assert count > 10
    text = _long_notes(FACT)
    start, end = chunk_spans(text, embedder._loaded().tokenizer)[chunks[rowid]]
    assert FACT in text[start:end]


def test_a_keyword_only_candidate_is_scored_by_cosine_whatever_its_vectors_length(
    app, client, auth, embedder
):
    # A client may store any non-zero vector: ten times a unit one must score as the unit one.
    vector = embedder.embed_query("a quiet lake in the mountains")
    memory_id = add(client, auth, "zorblax lake", embedding=(10 * vector).tolist())
    index = app.extensions["memory_api"].memories.index
    query = embedder.embed_query("the lake")
    with index.db.snapshot() as conn:
        (rowid,) = conn.execute("SELECT rowid FROM memories WHERE id = ?", (memory_id,)).fetchone()
        cosines = index._cosines(conn, query, {rowid}, {})
    assert cosines[rowid] == pytest.approx(float(vector @ query), abs=1e-5)


def test_a_query_of_only_common_words_is_ranked_by_meaning_alone(client, auth):
    for text in ("What did I do on Sunday? I went hiking.", "I bought bread", "We did it"):
        add(client, auth, text)
    hybrid = search(client, auth, "what did I do", mode="hybrid")["results"]
    semantic = search(client, auth, "what did I do", mode="semantic")["results"]
    assert [(r["id"], r["score"]) for r in hybrid] == [(r["id"], r["score"]) for r in semantic]


def test_hybrid_ranks_as_if_every_memory_were_scored_on_both(app, client, auth, embedder):
    # More memories than hybrid's candidate depth (50 for limit 10): keyword-only candidates
    # are scored only when they could reach the top 10, and that must change no result.
    colours, things = ["red", "blue", "green", "amber"], ["kayak", "tent", "lantern", "stove"]
    for i in range(64):
        add(client, auth, f"The {colours[i % 4]} {things[i // 16]} number {i} is in the shed")
    index = app.extensions["memory_api"].memories.index
    scope = next(iter(index.store.db.connection().execute("SELECT owner, workspace FROM memories")))
    for query in ("blue tent", "where is the amber stove", "lantern 17", "kayak"):
        found = [(r["id"], r["score"]) for r in search(client, auth, query, limit=10)["results"]]
        vector = embedder.embed_query(query)
        with index.db.snapshot() as conn:
            rows = dict(conn.execute("SELECT rowid, id FROM memories").fetchall())
            cosines = index._cosines(conn, vector, set(rows), {})
            rowids, scores, shares = index._keyword_hits(
                conn, Scope(*scope), query, 1000, Filters(), set()
            )
        weights = KEYWORD_WEIGHT * scores / scores.max() * shares**2
        bonus = dict(zip(rowids.tolist(), weights.tolist(), strict=True))
        every = sorted(
            ((rows[r], c + bonus.get(r, 0.0)) for r, c in cosines.items()),
            key=lambda item: -item[1],
        )[:10]
        assert [i for i, _ in found] == [i for i, _ in every], query
        assert [s for _, s in found] == pytest.approx([s for _, s in every], abs=1e-5)


def test_a_memory_only_keyword_search_finds_can_rank_first_in_hybrid(client, auth, embedder):
    # 60 memories nearer the query than the one holding its words (client vectors set the
    # cosines): that one is outside the 50 semantic candidates, and its words lift it first.
    query = "zorblax quintet rehearsal"
    q = embedder.embed_query(query)
    rng = np.random.default_rng(7)

    def at_cosine(c: float) -> list[float]:
        r = rng.standard_normal(len(q)).astype(np.float32)
        r -= (r @ q) * q
        return (c * q + np.sqrt(1 - c * c) * r / np.linalg.norm(r)).tolist()

    for i in range(60):
        add(client, auth, f"Filler note {i}", embedding=at_cosine(0.9 + i / 1000))
    text = "The zorblax quintet rehearsal is on Monday"
    target = add(client, auth, text, embedding=at_cosine(0.8))
    semantic = ids(client, auth, query, mode="semantic", limit=50)
    assert target not in semantic
    top = search(client, auth, query, mode="hybrid", limit=10)["results"][0]
    assert top["id"] == target
    assert top["score"] == pytest.approx(0.8 + KEYWORD_WEIGHT, abs=1e-4)
