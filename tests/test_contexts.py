"""Context vectors: a short memory embedded with the one stored before it, kept true by triggers."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from helpers import headers, wait_until
from memory_server.embedding import turns
from memory_server.storage.contexts import THREAD_KEYS, ContextStore, thread_of
from redis_server import two_workers
from server import make_keys, request

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True

CHAT = [
    "Anna: Did you book the dentist for your tooth?",
    "Ben: Yes, Monday at nine, before work.",
    "Anna: Good. Are you still selling the old bike?",
    "Ben: Sold it last week to a neighbour for eighty euros.",
]


@pytest.fixture(autouse=True)
def idle_at_once(monkeypatch):
    """The model counts as idle at once, not 0.25 s after the test's last request."""
    monkeypatch.setattr(turns, "IDLE_SECONDS", 0.0)


def services(app):
    return app.extensions["memory_api"]


def store(
    client, auth, texts: list[str], workspace: str = "", thread: dict | None = None
) -> list[str]:
    """Store texts in order, as one conversation (`thread`: its metadata) unless told otherwise."""
    extra = {"X-Workspace-ID": workspace} if workspace else {}
    metadata = {"session_id": "s1"} if thread is None else thread
    ids = []
    for text in texts:
        body = {"text": text, "metadata": metadata}
        response = client.post("/api/v1/memory", json=body, headers={**auth, **extra})
        assert response.status_code == 201, response.json
        ids.append(response.json["id"])
    return ids


def contextualize_all(app) -> None:
    while services(app).memories.contextualize():
        pass


def rowid(app, memory_id: str) -> int:
    conn = services(app).db.connection()
    return conn.execute("SELECT rowid FROM memories WHERE id = ?", (memory_id,)).fetchone()[0]


def contexts(app) -> dict[int, tuple[int, np.ndarray]]:
    """Every stored context: memory rowid -> (the rowid it was read with, its vector)."""
    rows = (
        services(app)
        .db.connection()
        .execute("SELECT memory_rowid, source_rowid, embedding FROM context_vectors")
    )
    return {row[0]: (row[1], np.frombuffer(row[2], dtype=np.float32)) for row in rows}


def pending(app) -> int:
    return ContextStore(services(app).db).pending()


def assert_context(app, embedder, memory: str, text: str, before: str, text_before: str):
    source, vector = contexts(app)[rowid(app, memory)]
    assert source == rowid(app, before)
    expected = embedder.embed([f"{text}\n{text_before}"]).vectors[0]
    np.testing.assert_allclose(vector, expected, atol=1e-5)


def test_each_memory_is_read_with_the_one_stored_before_it(app, client, auth, embedder):
    ids = store(client, auth, CHAT)
    store(client, auth, ["Zoe: unrelated, in another workspace."], workspace="other")
    assert pending(app) == 5
    contextualize_all(app)
    assert pending(app) == 0
    for i in range(1, len(CHAT)):
        assert_context(app, embedder, ids[i], CHAT[i], ids[i - 1], CHAT[i - 1])
    # The first memory of a conversation has nothing before it: no context, nothing due.
    assert rowid(app, ids[0]) not in contexts(app)
    assert len(contexts(app)) == len(CHAT) - 1


def test_conversations_are_read_apart_and_notes_alone(app, client, auth, embedder):
    first = store(client, auth, CHAT[:1], thread={"conversation_id": "a"})
    other = store(client, auth, ["Cleo: the train leaves at six."], thread={"thread_id": 7})
    notes = store(client, auth, ["The wifi password is on the fridge."], thread={})
    second = store(client, auth, CHAT[1:2], thread={"conversation_id": "a"})
    assert pending(app) == 3  # the note is in no conversation: never due
    contextualize_all(app)
    # Two conversations interleaved: each reply is read with its own conversation's turn.
    assert_context(app, embedder, second[0], CHAT[1], first[0], CHAT[0])
    # A note with no conversation key, or the first of its conversation: read alone.
    assert set(contexts(app)) == {rowid(app, second[0])}
    assert pending(app) == 0 and other and notes


def test_a_memory_moved_to_another_conversation_is_read_again(app, client, auth, embedder):
    ids = store(client, auth, CHAT[:3])
    contextualize_all(app)
    moved = {"text": CHAT[1], "metadata": {"session_id": "s2"}}
    assert client.put(f"/api/v1/memory/{ids[1]}", json=moved, headers=auth).status_code == 200
    contextualize_all(app)
    # It starts conversation s2; the turn after it now follows the first turn of s1.
    assert rowid(app, ids[1]) not in contexts(app)
    assert_context(app, embedder, ids[2], CHAT[2], ids[0], CHAT[0])


def test_a_changed_text_is_read_again_with_its_neighbours(app, client, auth, embedder):
    ids = store(client, auth, CHAT)
    contextualize_all(app)
    changed = "Ben: No, the dentist moved it to Tuesday."
    client.put(f"/api/v1/memory/{ids[1]}", json={"text": changed}, headers=auth)
    # Its own context and the next memory's, which held its old text, are gone at once.
    assert rowid(app, ids[1]) not in contexts(app) and rowid(app, ids[2]) not in contexts(app)
    assert pending(app) == 2
    contextualize_all(app)
    assert_context(app, embedder, ids[1], changed, ids[0], CHAT[0])
    assert_context(app, embedder, ids[2], CHAT[2], ids[1], changed)


def test_a_deleted_memory_lives_on_in_no_context(app, client, auth, embedder):
    ids = store(client, auth, CHAT)
    contextualize_all(app)
    gone = rowid(app, ids[1])
    assert client.delete(f"/api/v1/memory/{ids[1]}", headers=auth).status_code == 200
    assert all(source != gone for source, _ in contexts(app).values())
    contextualize_all(app)
    assert_context(app, embedder, ids[2], CHAT[2], ids[0], CHAT[0])


def test_a_job_whose_texts_changed_meanwhile_is_not_saved_and_stays_due(app, client, auth):
    ids = store(client, auth, CHAT[:2])
    found = ContextStore(services(app).db)
    jobs = found.claim(10)
    assert [job.rowid for job in jobs] == [rowid(app, ids[0]), rowid(app, ids[1])]
    assert found.claim(10) == []  # leased: no other worker takes them
    client.put(f"/api/v1/memory/{ids[0]}", json={"text": "Anna: another question."}, headers=auth)
    found.save(jobs, [None, np.ones(384, dtype=np.float32)])
    assert contexts(app) == {}
    assert {job.rowid for job in found.claim(10)} == {rowid(app, ids[0]), rowid(app, ids[1])}


def test_background_work_waits_while_the_model_is_busy(app, client, auth, monkeypatch):
    store(client, auth, CHAT[:2])
    embedder = services(app).memories.embedder
    holding, release = threading.Event(), threading.Event()

    def request_turn() -> None:
        with embedder.turns.turn("someone"):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=request_turn, daemon=True)
    thread.start()
    assert holding.wait(10)
    assert services(app).memories.contextualize() is None  # busy: nothing claimed
    release.set()
    thread.join(10)
    monkeypatch.setattr(turns, "IDLE_SECONDS", 60.0)  # a request just used the model
    assert services(app).memories.contextualize() is None
    monkeypatch.setattr(turns, "IDLE_SECONDS", 0.0)
    assert services(app).memories.contextualize() == 2


def test_hybrid_search_finds_a_reply_by_what_it_answers(app, client, auth, embedder):
    ids = store(client, auth, CHAT)
    query = "When is the appointment at the dentist?"
    body = {"query": query, "mode": "hybrid", "limit": 4}

    def score_of(memory: str) -> float:
        results = client.post("/api/v1/memory/search", json=body, headers=auth).json["results"]
        return next(result["score"] for result in results if result["id"] == memory)

    semantic = client.post(
        "/api/v1/memory/search", json={**body, "mode": "semantic"}, headers=auth
    ).json["results"]
    own = next(result["score"] for result in semantic if result["id"] == ids[1])
    assert score_of(ids[1]) == pytest.approx(own, abs=1e-6)  # no context yet: its own
    contextualize_all(app)
    query_vector = embedder.embed_query(query)
    context = embedder.embed([f"{CHAT[1]}\n{CHAT[0]}"]).vectors[0]
    # "Monday at nine" shares no word with the question: its score is half its own cosine,
    # half its context's, which holds the question it answers.
    assert score_of(ids[1]) == pytest.approx((own + float(context @ query_vector)) / 2, abs=1e-5)
    assert score_of(ids[1]) > own


@pytest.mark.sqlite_only  # SQLite's query plan or its write lock
def test_the_previous_memory_is_found_by_an_index(app):
    plan = " ".join(
        row[3]
        for row in services(app)
        .db.connection()
        .execute(
            "EXPLAIN QUERY PLAN SELECT rowid, text, chunk_count FROM memories"
            " WHERE owner = ? AND workspace = ? AND rowid < ? ORDER BY rowid DESC LIMIT 1",
            ("o", "w", 5),
        )
    )
    assert "memories_in_order" in plan and "TEMP B-TREE" not in plan


@pytest.mark.server
@pytest.mark.parametrize("setting", ["on", "off"])
def test_each_worker_computes_contexts_in_the_background(tmp_path, setting):
    db_path = tmp_path / "memory.db"
    auth = headers(make_keys(db_path, {"k": ("enterprise", "default")})["k"])
    # Two workers, each with its own contextualizer: leases keep them off each other's jobs.
    with (
        two_workers(db_path, tmp_path / "g.log", MEMORY_API_CONTEXT_VECTORS=setting) as starting,
        starting as server,
    ):
        for text in CHAT:
            body = {"text": text, "metadata": {"session_id": "s1"}}
            status, _, _ = request("POST", f"{server.url}/api/v1/memory", body, auth)
            assert status == 201
        from memory_server.storage.database import Database

        db = Database(db_path)

        def done() -> int:
            return db.connection().execute("SELECT count(*) FROM context_vectors").fetchone()[0]

        if setting == "on":
            wait_until(lambda: done() == len(CHAT) - 1, 30, "the contexts being computed")
            assert ContextStore(db).pending() == 0
        else:  # "on" is done well within this (about a second): "off" never starts
            time.sleep(5)
            assert done() == 0 and ContextStore(db).pending() == len(CHAT)
        db.close()


def test_a_new_model_makes_every_context_due_again(app, client, auth):
    store(client, auth, CHAT)
    contextualize_all(app)
    with services(app).db.transaction() as conn:
        ContextStore.reset(conn)  # what reembed does when it swaps in the new vectors
    assert contexts(app) == {} and pending(app) == len(CHAT)
    contextualize_all(app)
    assert len(contexts(app)) == len(CHAT) - 1


@pytest.mark.parametrize("name", THREAD_KEYS)
@pytest.mark.parametrize("value", ["s1", 7, 2.5, True, None, ["s1"]])
def test_a_conversation_is_any_key_with_a_plain_value(app, client, auth, name, value):
    # The triggers (SQL) and the jobs (Python) must agree on what names a conversation.
    store(client, auth, CHAT[:2], thread={name: value})
    named = thread_of({name: value}) is not None
    assert named == (not isinstance(value, bool | list | type(None)))
    assert pending(app) == (2 if named else 0)


def test_an_expired_memory_is_not_read_as_the_one_before(app, client, auth, embedder):
    ids = store(client, auth, CHAT[:3])
    with services(app).db.transaction() as conn:  # its time has come; not purged yet
        conn.execute(
            "UPDATE memories SET expires_at = '2000-01-01T00:00:00.000Z' WHERE id = ?", (ids[1],)
        )
    contextualize_all(app)
    assert_context(app, embedder, ids[2], CHAT[2], ids[0], CHAT[0])


def test_nothing_is_saved_when_the_check_fails(app, client, auth):
    store(client, auth, CHAT[:2])
    found = ContextStore(services(app).db)
    jobs = found.claim(10)

    def model_changed(conn) -> None:
        raise RuntimeError("the database moved to another model")

    with pytest.raises(RuntimeError):
        found.save(jobs, [None, np.ones(384, dtype=np.float32)], model_changed)
    assert contexts(app) == {} and pending(app) == 2
