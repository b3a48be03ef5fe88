"""Duplicates are stored once: same text and metadata, or (opted in) a vector that close."""

from __future__ import annotations

import ipaddress
import threading

import pytest

from helpers import headers
from receiver import Receiver

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True

ANNA = "My sister Anna lives in Porto and works as a nurse."
ANNA_AGAIN = "My sister Anna lives in Porto and she works as a nurse."


def count(client, auth) -> int:
    return client.get("/api/v1/memory", headers=auth).json["pagination"]["total"]


def test_the_same_text_and_metadata_is_a_duplicate_on_api_v1(client, auth):
    first = client.post("/api/v1/memory", json={"text": ANNA, "metadata": {"a": 1}}, headers=auth)
    assert first.status_code == 201
    again = client.post("/api/v1/memory", json={"text": ANNA, "metadata": {"a": 1}}, headers=auth)
    assert again.status_code == 200
    assert again.json == {
        "id": first.json["id"],
        "status": "duplicate",
        "similarity": 1.0,
        "embedding_generated": False,  # an exact duplicate is found before any embedding
        "vector_dimensions": 384,
        "tokens_used": 0,
        "expires_at": None,
    }
    assert again.headers["Location"] == f"/api/v1/memory/{first.json['id']}"
    assert again.headers["ETag"] == first.headers["ETag"]
    assert count(client, auth) == 1


def test_the_same_text_and_metadata_is_a_duplicate_on_v1(client, auth):
    body = {"text": ANNA, "metadata": {"tags": ["family"], "type": "fact"}}
    first = client.post("/v1/memories", json=body, headers=auth)
    # Key order does not make metadata different.
    reordered = {"text": ANNA, "metadata": {"type": "fact", "tags": ["family"]}}
    again = client.post("/v1/memories", json=reordered, headers=auth)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json == {
        "success": True,
        "data": first.json["data"],
        "duplicate": True,
        "similarity": 1.0,
    }
    assert count(client, auth) == 1


@pytest.mark.parametrize(
    "other",
    [
        {"metadata": {"a": 2}},
        {"metadata": {"a": True}},  # true is not 1
        {"metadata": {"a": 1.5}},
        {"metadata": {}},
        {"metadata": {"a": 1, "b": None}},
    ],
)
def test_the_same_text_with_other_metadata_is_a_new_memory(client, auth, other):
    client.post("/api/v1/memory", json={"text": ANNA, "metadata": {"a": 1}}, headers=auth)
    response = client.post("/api/v1/memory", json={"text": ANNA, **other}, headers=auth)
    assert response.status_code == 201 and response.json["status"] == "stored"
    assert count(client, auth) == 2


def test_on_duplicate_allow_stores_a_copy(client, auth):
    first = client.post("/api/v1/memory", json={"text": ANNA}, headers=auth)
    copy = client.post("/api/v1/memory", json={"text": ANNA, "on_duplicate": "allow"}, headers=auth)
    assert copy.status_code == 201 and copy.json["id"] != first.json["id"]
    v1_copy = client.post(
        "/v1/memories", json={"text": ANNA, "on_duplicate": "allow"}, headers=auth
    )
    assert v1_copy.status_code == 201 and "duplicate" not in v1_copy.json
    assert count(client, auth) == 3


def test_duplicates_are_per_workspace_and_per_owner(client, auth, key, make_key):
    client.post("/api/v1/memory", json={"text": ANNA}, headers=auth)
    other_workspace = client.post("/api/v1/memory", json={"text": ANNA}, headers=headers(key, "w2"))
    other_owner = client.post(
        "/api/v1/memory", json={"text": ANNA}, headers=headers(make_key("pro", "bob"))
    )
    assert other_workspace.status_code == other_owner.status_code == 201


def test_a_near_duplicate_needs_a_threshold(client, auth):
    first = client.post("/api/v1/memory", json={"text": ANNA}, headers=auth)
    # Without a threshold, only exact copies are duplicates.
    plain = client.post("/api/v1/memory", json={"text": ANNA_AGAIN}, headers=auth)
    assert plain.status_code == 201
    client.delete(f"/api/v1/memory/{plain.json['id']}", headers=auth)
    near = client.post(
        "/api/v1/memory", json={"text": ANNA_AGAIN, "duplicate_threshold": 0.95}, headers=auth
    )
    assert near.status_code == 200, near.json
    assert near.json["id"] == first.json["id"] and near.json["status"] == "duplicate"
    assert 0.95 <= near.json["similarity"] < 1.0
    assert near.json["tokens_used"] > 0  # the text had to be embedded to compare it
    # A different fact is not a near duplicate, even at a lenient threshold.
    other = client.post(
        "/api/v1/memory",
        json={"text": "The office wifi password changed on Monday.", "duplicate_threshold": 0.8},
        headers=auth,
    )
    assert other.status_code == 201
    assert count(client, auth) == 2


def test_a_near_duplicate_on_v1_returns_the_existing_memory(client, auth):
    first = client.post("/v1/memories", json={"text": ANNA}, headers=auth).json["data"]
    near = client.post(
        "/v1/memories", json={"text": ANNA_AGAIN, "duplicate_threshold": 0.95}, headers=auth
    )
    assert near.status_code == 200
    assert near.json["data"] == first and near.json["duplicate"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"on_duplicate": "merge"}, "on_duplicate"),
        ({"on_duplicate": True}, "on_duplicate"),
        ({"duplicate_threshold": 0}, "duplicate_threshold"),
        ({"duplicate_threshold": 1.5}, "duplicate_threshold"),
        ({"duplicate_threshold": "0.9"}, "duplicate_threshold"),
        ({"duplicate_threshold": True}, "duplicate_threshold"),
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/memory", "/v1/memories"])
def test_bad_duplicate_options_are_400s_naming_the_field(client, auth, path, body, field):
    response = client.post(path, json={"text": ANNA, **body}, headers=auth)
    assert response.status_code == 400
    assert response.json["error"] == "INVALID_REQUEST"
    assert list(response.json["details"]["fields"]) == [field]
    assert count(client, auth) == 0


def test_a_taken_id_stays_a_conflict_even_when_the_content_is_the_same(client, auth):
    client.post("/api/v1/memory", json={"id": "anna", "text": ANNA}, headers=auth)
    again = client.post("/api/v1/memory", json={"id": "anna", "text": ANNA}, headers=auth)
    assert again.status_code == 409


def test_an_expired_memory_is_no_duplicate(client, auth, app):
    first = client.post("/api/v1/memory", json={"text": ANNA, "ttl_seconds": 1}, headers=auth)
    with app.extensions["memory_api"].db.transaction() as conn:  # expire it now, not in 1 s
        conn.execute("UPDATE memories SET expires_at = '2000-01-01T00:00:00.000Z'")
    again = client.post("/api/v1/memory", json={"text": ANNA}, headers=auth)
    assert again.status_code == 201 and again.json["id"] != first.json["id"]


@pytest.mark.parametrize(
    ("bodies", "label"),
    [
        ([{"text": ANNA}] * 4, "exact"),
        ([{"text": t, "duplicate_threshold": 0.95} for t in (ANNA, ANNA_AGAIN) * 2], "near"),
    ],
)
def test_clients_storing_the_same_fact_at_once_store_it_once(app, auth, bodies, label):
    # The check runs again inside the write transaction, so a race leaves one memory.
    start, answers = threading.Barrier(len(bodies)), []

    def send(body: dict) -> None:
        start.wait(timeout=30)
        answers.append(app.test_client().post("/api/v1/memory", json=body, headers=auth))

    running = [threading.Thread(target=send, args=(body,)) for body in bodies]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(timeout=60)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 200, 200, 201], label
    assert len({answer.json["id"] for answer in answers}) == 1
    assert count(app.test_client(), auth) == 1


def test_a_batch_dedupes_against_the_store_and_within_itself(client, auth):
    stored = client.post("/api/v1/memory", json={"text": ANNA}, headers=auth).json["id"]
    response = client.post(
        "/api/v1/memory/batch",
        json={
            "memories": [
                {"text": ANNA},  # in the store already
                {"text": "Ben plays the cello."},
                {"text": "Ben plays the cello."},  # the item before it
                {"text": "Ben plays the cello.", "on_duplicate": "allow"},
                {"text": ANNA_AGAIN, "duplicate_threshold": 0.95},  # near the stored one
            ]
        },
        headers=auth,
    )
    assert response.status_code == 201
    results = response.json["results"]
    assert [r["status"] for r in results] == [
        "duplicate", "stored", "duplicate", "stored", "duplicate",
    ]  # fmt: skip
    assert results[0]["id"] == stored and results[4]["id"] == stored
    assert results[2]["id"] == results[1]["id"] and results[3]["id"] != results[1]["id"]
    assert (response.json["stored"], response.json["duplicates"], response.json["failed"]) == (
        2, 3, 0,
    )  # fmt: skip
    assert count(client, auth) == 3


def test_a_batch_level_option_applies_to_every_item_that_sets_none(client, auth):
    client.post("/v1/memories", json={"text": ANNA}, headers=auth)
    response = client.post(
        "/v1/memories/batch",
        json={
            "on_duplicate": "allow",
            "memories": [{"text": ANNA}, {"text": ANNA, "on_duplicate": "skip"}],
        },
        headers=auth,
    )
    assert response.status_code == 201
    assert [item["status"] for item in response.json["data"]] == ["stored", "duplicate"]
    assert response.json["data"][1]["memory"]["text"] == ANNA


@pytest.mark.parametrize("path", ["/api/v1/memory/batch", "/v1/memories/batch"])
def test_a_batch_of_only_duplicates_is_200_and_one_with_a_conflict_207(client, auth, path):
    client.post("/api/v1/memory", json={"id": "a", "text": ANNA}, headers=auth)
    only = client.post(path, json={"memories": [{"text": ANNA}, {"text": ANNA}]}, headers=auth)
    assert only.status_code == 200
    id_field = "id" if path.startswith("/api") else "memory_id"
    mixed = client.post(
        path, json={"memories": [{"text": ANNA}, {id_field: "a", "text": "other"}]}, headers=auth
    )
    assert mixed.status_code == 207
    assert count(client, auth) == 1


@pytest.mark.slow
def test_webhooks_fire_only_for_what_was_stored(tmp_path, embedder, make_app):
    app = make_app(
        {
            "TESTING": True,
            "DATABASE": str(tmp_path / "memory.db"),
            "WEBHOOK_ALLOWED_NETWORKS": (ipaddress.ip_network("127.0.0.0/8"),),
        }
    )
    services = app.extensions["memory_api"]
    services.memories.prepare()
    client = app.test_client()
    auth = headers(services.keys.create("enterprise").plaintext)
    with Receiver() as receiver:
        hook = client.post(
            "/api/v1/webhooks",
            json={"url": receiver.url, "events": ["memory.created"]},
            headers=auth,
        )
        assert hook.status_code == 201, hook.json
        client.post("/api/v1/memory", json={"text": ANNA}, headers=auth)
        client.post("/api/v1/memory", json={"text": ANNA}, headers=auth)
        client.post(
            "/v1/memories/batch",
            json={"memories": [{"text": ANNA}, {"text": "Ben plays the cello."}]},
            headers=auth,
        )
        services.dispatcher.deliver_due()
        texts = sorted(event["data"]["text"] for event in receiver.events("memory.created"))
    assert texts == sorted([ANNA, "Ben plays the cello."])


def test_a_bad_embedding_is_refused_even_when_the_text_is_a_duplicate(client, auth):
    client.post("/api/v1/memory", json={"text": ANNA}, headers=auth)
    single = client.post("/api/v1/memory", json={"text": ANNA, "embedding": [1.0]}, headers=auth)
    assert single.status_code == 400 and "embedding" in single.json["message"]
    batch = client.post(
        "/api/v1/memory/batch",
        json={"memories": [{"text": ANNA}, {"text": "new", "embedding": [1.0, 2.0]}]},
        headers=auth,
    )
    # The item named is the one with the bad vector, counted from the batch's start.
    assert batch.status_code == 400 and "1" in batch.json["details"]["fields"]["memories"]
    assert count(client, auth) == 1
