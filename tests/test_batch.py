"""Batch writes on both surfaces: one embedding pass, one transaction, a result per item."""

from __future__ import annotations

import pytest

from helpers import headers

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True


def batch(client, auth, path, memories, status=None):
    response = client.post(path, json={"memories": memories}, headers=auth)
    if status is not None:
        assert response.status_code == status, response.json
    return response


def test_management_batch_stores_every_item(client, auth, embedder):
    response = batch(
        client,
        auth,
        "/api/v1/memory/batch",
        [
            {"text": "Meeting notes from Q4 planning", "metadata": {"type": "meeting"}},
            {"id": "custom", "text": "A custom id"},
            {"text": "Precomputed", "embedding": [0.25] * 384},
        ],
        status=201,
    )
    body = response.json
    assert (body["stored"], body["failed"]) == (3, 0)
    first, second, third = body["results"]
    assert first["index"] == 0 and first["status"] == "stored" and first["embedding_generated"]
    expected = len(embedder._loaded().tokenizer("Meeting notes from Q4 planning")["input_ids"])
    assert first["tokens_used"] == expected and first["vector_dimensions"] == 384
    assert second["id"] == "custom"
    assert third["embedding_generated"] is False and third["tokens_used"] == 0
    got = client.get(f"/api/v1/memory/{first['id']}", headers=auth).json
    assert got["metadata"] == {"type": "meeting"}
    assert client.get("/api/v1/memory/custom", headers=auth).status_code == 200
    found = client.post(
        "/api/v1/memory/search", json={"query": "planning meeting", "limit": 1}, headers=auth
    )
    assert found.json["results"][0]["id"] == first["id"]


def test_v1_batch_returns_the_memories(client, auth):
    response = batch(
        client,
        auth,
        "/v1/memories/batch",
        [{"text": "one", "memory_id": "v1-a"}, {"text": "two", "metadata": {"k": 1}}],
        status=201,
    )
    assert response.json["success"] is True
    data = response.json["data"]
    assert [item["status"] for item in data] == ["stored", "stored"]
    assert data[0]["memory"]["id"] == "v1-a" and data[1]["memory"]["metadata"] == {"k": 1}
    assert set(data[1]["memory"]) == {
        "id",
        "text",
        "metadata",
        "created_at",
        "updated_at",
        "expires_at",
    }


def test_a_batch_is_one_embedding_pass(client, auth, app, monkeypatch):
    embedder = app.extensions["memory_api"].memories.embedder
    calls = []
    original = embedder.embed
    monkeypatch.setattr(
        embedder, "embed", lambda texts, owner="": calls.append(len(texts)) or original(texts)
    )
    long_text = "\n\n".join(f"Paragraph {i} about the mountains and rivers." * 5 for i in range(20))
    items = [{"text": f"note {i}"} for i in range(20)] + [{"text": long_text}]
    items.append({"text": "client vector", "embedding": [0.1] * 384})
    batch(client, auth, "/api/v1/memory/batch", items, status=201)
    assert len(calls) == 1 and calls[0] > 21  # 20 short texts plus every chunk of the long one


def test_a_batch_of_client_embeddings_only_needs_no_model_pass(client, auth):
    items = [{"text": f"vector {i}", "embedding": [0.1 * (i + 1)] * 384} for i in range(3)]
    response = batch(client, auth, "/api/v1/memory/batch", items, status=201)
    assert [r["embedding_generated"] for r in response.json["results"]] == [False] * 3


def test_taken_ids_are_reported_per_item_and_the_rest_is_stored(client, auth):
    batch(client, auth, "/api/v1/memory/batch", [{"id": "old", "text": "already here"}], 201)
    response = batch(
        client,
        auth,
        "/api/v1/memory/batch",
        [{"id": "old", "text": "x"}, {"id": "new", "text": "y"}, {"id": "new", "text": "z"}],
        status=207,
    )
    results = response.json["results"]
    assert [r["status"] for r in results] == ["error", "stored", "error"]
    assert results[0]["error"] == "CONFLICT" and results[0]["id"] == "old"
    assert (response.json["stored"], response.json["failed"]) == (1, 2)
    assert client.get("/api/v1/memory/old", headers=auth).json["text"] == "already here"
    assert client.get("/api/v1/memory/new", headers=auth).json["text"] == "y"
    v1 = batch(client, auth, "/v1/memories/batch", [{"text": "q", "memory_id": "new"}], status=207)
    assert v1.json["data"][0]["error"] == "CONFLICT"


@pytest.mark.parametrize("path", ["/api/v1/memory/batch", "/v1/memories/batch"])
@pytest.mark.parametrize(
    ("memories", "where"),
    [
        ([{"text": "ok"}, {"text": ""}], ["1", "text"]),
        ([{"text": "ok"}, {"text": "ok", "surprise": 1}], ["1", "surprise"]),
        ([{"text": "ok"}] * 101, []),
        ([], []),
        ("not a list", []),
    ],
)
def test_validation_errors_name_the_item_and_store_nothing(client, auth, path, memories, where):
    response = batch(client, auth, path, memories, status=400)
    found = response.json["details"]["fields"]["memories"]
    for key in where:
        found = found[key]
    assert client.get("/api/v1/memory", headers=auth).json["pagination"]["total"] == 0


def test_a_bad_client_embedding_names_its_item(client, auth):
    items = [{"text": "fine"}, {"text": "bad", "embedding": [0.1] * 3}]
    response = batch(client, auth, "/api/v1/memory/batch", items, status=400)
    assert "384" in response.json["details"]["fields"]["memories"]["1"]["embedding"][0]
    assert client.get("/api/v1/memory", headers=auth).json["pagination"]["total"] == 0


def test_a_failure_mid_batch_stores_nothing(client, auth, app, monkeypatch):
    # The only mock here: a storage failure on the third item cannot be caused from outside.
    store = app.extensions["memory_api"].memories.store
    original, seen = store._write_vectors, []

    def failing(*args, **kwargs):
        seen.append(1)
        if len(seen) == 3:
            raise RuntimeError("disk full")
        return original(*args, **kwargs)

    monkeypatch.setattr(store, "_write_vectors", failing)
    items = [{"text": f"item {i}"} for i in range(5)]
    assert batch(client, auth, "/api/v1/memory/batch", items).status_code == 500
    monkeypatch.undo()
    assert client.get("/api/v1/memory", headers=auth).json["pagination"]["total"] == 0


def test_a_batch_costs_one_request_per_memory(tmp_path, embedder, make_app):
    app = make_app(
        {
            "TESTING": True,
            "DATABASE": str(tmp_path / "quota.db"),
            "TIER_LIMITS": {"free": "5/hour", "pro": "1000/hour", "enterprise": None},
        }
    )
    services = app.extensions["memory_api"]
    client = app.test_client()
    auth = headers(services.keys.create("free").plaintext)
    first = batch(client, auth, "/api/v1/memory/batch", [{"text": "a"}, {"text": "b"}], 201)
    assert first.headers["X-RateLimit-Remaining"] == "3"
    too_big = batch(client, auth, "/v1/memories/batch", [{"text": str(i)} for i in range(4)])
    assert too_big.status_code == 429 and too_big.json["error"] == "RATE_LIMITED"
    assert client.get("/api/v1/memory", headers=auth).json["pagination"]["total"] == 2


def test_a_batch_queues_events_for_every_stored_memory(client, auth, app):
    registered = client.post(
        "/api/v1/webhooks",
        json={
            "url": "http://receiver.test/hook",
            "events": ["memory.created", "embedding.generated"],
        },
        headers=auth,
    )  # a name tests never resolve: registered only, and no dispatcher runs in this test
    assert registered.status_code == 201
    items = [{"text": "one"}, {"text": "two", "embedding": [0.1] * 384}]
    batch(client, auth, "/api/v1/memory/batch", items, status=201)
    rows = (
        app.extensions["memory_api"]
        .db.connection()
        .execute("SELECT event_type FROM webhook_deliveries ORDER BY rowid")
    )
    assert sorted(row[0] for row in rows) == [
        "embedding.generated",
        "memory.created",
        "memory.created",
    ]
