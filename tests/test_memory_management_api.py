"""Surface 2: every endpoint and example of the `/api/v1/memory` API document (docs/api.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from memory_server.embedding.chunking import split_text

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True

SEED_BODY = {
    "text": "Meeting notes from Q4 planning",
    "metadata": {"type": "meeting", "tags": ["planning", "q4"]},
}


def store(client, auth, body=None):
    response = client.post("/api/v1/memory", json=body or SEED_BODY, headers=auth)
    assert response.status_code == 201, response.json
    return response.json


def test_post_matches_the_seed(client, auth, embedder):
    body = store(client, auth)
    assert set(body) == {
        "id", "status", "embedding_generated", "vector_dimensions", "tokens_used", "expires_at"
    }  # fmt: skip
    assert body["id"].startswith("mem_")
    assert body["status"] == "stored"
    assert body["embedding_generated"] is True
    assert body["vector_dimensions"] == 384
    # The tokenizer's real count, [CLS] and [SEP] included.
    expected = len(embedder._loaded().tokenizer(SEED_BODY["text"])["input_ids"])
    assert body["tokens_used"] == expected > 2


def test_tokens_used_counts_every_chunk_of_a_long_text(client, auth, embedder):
    long_text = "word " * 2000
    body = store(client, auth, {"text": long_text})
    tokenizer = embedder._loaded().tokenizer
    chunks = split_text(long_text, tokenizer)
    assert len(chunks) > 1
    expected = sum(len(tokenizer(chunk)["input_ids"]) for chunk in chunks)
    assert body["tokens_used"] == expected
    assert expected > 2000  # every word read at least once, overlaps counted again


def test_post_with_all_documented_metadata_fields_and_extra_keys(client, auth):
    metadata = {
        "type": "meeting",
        "tags": ["planning", "q4"],
        "source": "calendar",
        "timestamp": "2024-01-15T10:30:00Z",
        "attendees": 4,
        "nested": {"room": "B2"},
    }
    body = store(client, auth, {"id": "q4-notes", "text": "Notes", "metadata": metadata})
    assert body["id"] == "q4-notes"
    got = client.get("/api/v1/memory/q4-notes", headers=auth).json
    assert got["metadata"] == metadata


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"type": 5}, "type"),
        ({"type": ""}, "type"),
        ({"tags": "planning"}, "tags"),
        ({"tags": ["ok", 3]}, "tags"),
        ({"source": ["x"]}, "source"),
        ({"timestamp": "last tuesday"}, "timestamp"),
        ({"timestamp": 1700000000}, "timestamp"),
    ],
)
def test_documented_metadata_fields_must_have_their_types(client, auth, metadata, field):
    response = client.post("/api/v1/memory", json={"text": "t", "metadata": metadata}, headers=auth)
    assert response.status_code == 400
    assert field in response.json["details"]["fields"]["metadata"]


def test_client_embedding_is_stored_as_given(client, auth):
    vector = [math.sin(i) for i in range(384)]
    body = store(client, auth, {"text": "precomputed", "embedding": vector})
    assert body["embedding_generated"] is False
    assert body["tokens_used"] == 0
    assert body["vector_dimensions"] == 384
    stored = client.get(f"/api/v1/memory/{body['id']}", headers=auth).json["embedding"]
    # Exactly the float32 values sent: the JSON carries each float32's shortest exact form.
    assert np.array_equal(np.float32(stored), np.float32(vector))


WRONG_LENGTH = "embedding must have 384 numbers (this server's model), got {}"
NO_DIRECTION = "Must have a value of magnitude 1e-15 or more (all zeros has no direction)."
NOT_NUMBERS = {str(i): ["Not a valid number."] for i in range(384)}


@pytest.mark.parametrize(
    ("embedding", "messages"),
    [
        ([0.1] * 383, [WRONG_LENGTH.format(383)]),
        ([0.1] * 385, [WRONG_LENGTH.format(385)]),
        ([0.0] * 384, [NO_DIRECTION]),
        ([1e39] + [0.1] * 383, {"0": ["Must be between -1e15 and 1e15."]}),
        ([1e-46] * 384, [NO_DIRECTION]),
        (["0.1"] * 384, NOT_NUMBERS),
        ([True] * 384, NOT_NUMBERS),
        # One bad item among good ones: the fast all-numbers check hands over to the item by
        # item path, which names it.
        ([0.1] * 383 + [False], {"383": ["Not a valid number."]}),
        ([0.1] * 200 + [10**400] + [0.1] * 183, {"200": ["Number too large."]}),
        ([], ["Length must be between 1 and 4096.", NO_DIRECTION]),
        ("not a list", ["Not a valid list."]),
    ],
)
def test_bad_client_embedding_is_400(client, auth, embedding, messages):
    response = client.post(
        "/api/v1/memory", json={"text": "t", "embedding": embedding}, headers=auth
    )
    assert response.status_code == 400, response.json
    assert response.json["error"] == "INVALID_REQUEST"
    assert response.json["message"] == "Invalid field: embedding"
    assert response.json["details"] == {"fields": {"embedding": messages}}
    assert client.get("/api/v1/memory", headers=auth).json["pagination"]["total"] == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_in_an_embedding_are_400(client, auth, literal):
    raw = '{"text": "t", "embedding": [' + ", ".join([literal] + ["0.1"] * 383) + "]}"
    response = client.post(
        "/api/v1/memory", data=raw, content_type="application/json", headers=auth
    )
    assert response.status_code == 400
    assert response.json["error"] == "INVALID_REQUEST"


def test_get_returns_the_memory_with_its_embedding(client, auth, embedder):
    body = store(client, auth)
    response = client.get(f"/api/v1/memory/{body['id']}", headers=auth)
    assert response.status_code == 200
    memory = response.json
    assert set(memory) == {
        "id", "text", "metadata", "embedding", "created_at", "updated_at", "expires_at"
    }  # fmt: skip
    assert memory["text"] == SEED_BODY["text"]
    assert memory["metadata"] == SEED_BODY["metadata"]
    assert len(memory["embedding"]) == 384
    expected = embedder.embed([SEED_BODY["text"]]).vectors[0]
    assert float(np.dot(memory["embedding"], expected)) > 0.9999


def test_get_unknown_is_404_without_success_key(client, auth):
    response = client.get("/api/v1/memory/mem_missing", headers=auth)
    assert response.status_code == 404
    assert response.json == {"error": "NOT_FOUND", "message": "Memory 'mem_missing' not found"}


def test_put_matches_the_seed_and_regenerates_only_when_text_changes(client, auth, embedder):
    body = store(client, auth)
    path = f"/api/v1/memory/{body['id']}"
    before = client.get(path, headers=auth).json["embedding"]

    metadata = {"type": "meeting", "tags": ["planning", "q4", "revised"]}
    response = client.put(path, json={"metadata": metadata}, headers=auth)
    assert response.json == {
        "id": body["id"], "status": "updated", "embedding_regenerated": False, "expires_at": None
    }  # fmt: skip
    assert client.get(path, headers=auth).json["embedding"] == before

    same_text = client.put(path, json={"text": SEED_BODY["text"]}, headers=auth)
    assert same_text.json["embedding_regenerated"] is False

    seed_put = {"text": "Updated meeting notes", "metadata": metadata}
    response = client.put(path, json=seed_put, headers=auth)
    assert response.status_code == 200
    assert response.json == {
        "id": body["id"], "status": "updated", "embedding_regenerated": True, "expires_at": None
    }  # fmt: skip
    after = client.get(path, headers=auth).json
    assert after["text"] == "Updated meeting notes"
    assert after["metadata"] == metadata
    expected = embedder.embed(["Updated meeting notes"]).vectors[0]
    assert float(np.dot(after["embedding"], expected)) > 0.9999


def test_put_rejects_fields_it_does_not_take(client, auth):
    body = store(client, auth)
    response = client.put(
        f"/api/v1/memory/{body['id']}", json={"text": "x", "id": "other"}, headers=auth
    )
    assert response.status_code == 400
    assert response.json["details"]["fields"] == {"id": ["Unknown field."]}


def test_delete_matches_the_seed(client, auth):
    body = store(client, auth)
    response = client.delete(f"/api/v1/memory/{body['id']}", headers=auth)
    assert response.status_code == 200
    assert response.json == {"success": True, "deleted_id": body["id"]}
    assert client.get(f"/api/v1/memory/{body['id']}", headers=auth).status_code == 404
    assert client.delete(f"/api/v1/memory/{body['id']}", headers=auth).status_code == 404


def test_list_with_page_and_limit(client, auth):
    ids = [store(client, auth, {"text": f"note {i}"})["id"] for i in range(3)]
    response = client.get("/api/v1/memory?page=2&limit=2", headers=auth)
    assert response.status_code == 200
    assert [m["id"] for m in response.json["memories"]] == [ids[0]]
    assert response.json["pagination"] == {"page": 2, "limit": 2, "total": 3, "pages": 2}
    assert "embedding" not in response.json["memories"][0]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "page=0", "limit=ten"])
def test_list_out_of_range_is_400(client, auth, query):
    response = client.get(f"/api/v1/memory?{query}", headers=auth)
    assert response.status_code == 400
    assert "success" not in response.json


def test_duplicate_id_is_409(client, auth):
    store(client, auth, {"id": "same", "text": "first"})
    response = client.post("/api/v1/memory", json={"id": "same", "text": "second"}, headers=auth)
    assert response.status_code == 409
    assert response.json["error"] == "CONFLICT"


def test_both_surfaces_share_the_same_memories(client, auth):
    via_v1 = client.post("/v1/memories", json={"text": "from v1"}, headers=auth).json["data"]
    via_api = store(client, auth, {"text": "from api", "metadata": {"type": "note"}})

    got = client.get(f"/api/v1/memory/{via_v1['id']}", headers=auth).json
    assert got["text"] == "from v1" and len(got["embedding"]) == 384
    got = client.get(f"/v1/memories/{via_api['id']}", headers=auth).json["data"]
    assert got["text"] == "from api" and got["metadata"] == {"type": "note"}

    client.put(f"/v1/memories/{via_api['id']}", json={"text": "changed in v1"}, headers=auth)
    assert client.get(f"/api/v1/memory/{via_api['id']}", headers=auth).json["text"] == (
        "changed in v1"
    )
    client.delete(f"/api/v1/memory/{via_v1['id']}", headers=auth)
    assert client.get(f"/v1/memories/{via_v1['id']}", headers=auth).status_code == 404
    assert client.get("/api/v1/memory", headers=auth).json["pagination"]["total"] == 1
    assert client.get("/v1/memories", headers=auth).json["pagination"]["total"] == 1
