"""`Idempotency-Key` on creates: a retry gets the first answer, never a second memory."""

from __future__ import annotations

import threading
import time

import pytest

from memory_server.api.idempotency import fingerprint
from memory_server.scope import Scope
from memory_server.storage import idempotency_store

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True

SINGLE = [
    ("/api/v1/memory", {"text": "Pay the electricity bill on the 5th"}),
    ("/v1/memories", {"text": "Pay the electricity bill on the 5th"}),
]
BATCH = [
    ("/api/v1/memory/batch", {"memories": [{"text": "one"}, {"text": "two"}]}),
    ("/v1/memories/batch", {"memories": [{"text": "one"}, {"text": "two"}]}),
]


def count(client, auth) -> int:
    return client.get("/api/v1/memory", headers=auth).json["pagination"]["total"]


@pytest.mark.parametrize(("path", "body"), SINGLE + BATCH)
def test_a_retry_returns_the_first_answer_and_stores_nothing_more(client, auth, path, body):
    sent = {**auth, "Idempotency-Key": "retry-1"}
    first = client.post(path, json=body, headers=sent)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    stored = count(client, auth)
    again = client.post(path, json=body, headers=sent)
    assert again.status_code == 201 and again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers.get("Location") == first.headers.get("Location")
    assert count(client, auth) == stored


def _location(response) -> str:
    """The path of the memory a single create answered with (either surface)."""
    return response.headers["Location"]


@pytest.mark.parametrize(("path", "body"), SINGLE)
def test_a_retry_after_the_memory_was_deleted_creates_it_anew(client, auth, path, body):
    # A replay would answer 201 with the Location of a memory that is gone (Schemathesis:
    # "created resource not found"). Once what a key created is deleted, the key is free.
    sent = {**auth, "Idempotency-Key": "deleted-1"}
    first = client.post(path, json=body, headers=sent)
    assert client.delete(_location(first), headers=auth).status_code == 200
    again = client.post(path, json=body, headers=sent)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert _location(again) != _location(first)
    assert client.get(_location(again), headers=auth).status_code == 200
    assert count(client, auth) == 1
    # From then on the key stands for the new memory.
    replay = client.post(path, json=body, headers=sent)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert _location(replay) == _location(again)


def test_a_delete_all_frees_the_keys_of_what_it_deleted(client, auth):
    sent = {**auth, "Idempotency-Key": "gone-all"}
    first = client.post("/v1/memories", json={"text": "soon gone"}, headers=sent)
    deleted = client.delete("/v1/memories?confirm=true", headers=auth)
    assert deleted.json["data"]["deleted_count"] == 1
    again = client.post("/v1/memories", json={"text": "soon gone"}, headers=sent)
    assert "Idempotent-Replayed" not in again.headers
    assert again.json["data"]["id"] != first.json["data"]["id"]


@pytest.mark.parametrize(("path", "body"), BATCH)
def test_a_batch_key_is_kept_while_any_memory_it_created_remains(client, auth, path, body):
    sent = {**auth, "Idempotency-Key": "batch-partly-gone"}
    first = client.post(path, json=body, headers=sent)
    page = client.get("/api/v1/memory", headers=auth).json["memories"]
    ids = sorted(m["id"] for m in page)
    client.delete(f"/api/v1/memory/{ids[0]}", headers=auth)
    # One of the two is left: a retry must not store the batch again (a duplicate of it).
    again = client.post(path, json=body, headers=sent)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == first.json
    assert count(client, auth) == 1
    client.delete(f"/api/v1/memory/{ids[1]}", headers=auth)
    fresh = client.post(path, json=body, headers=sent)
    assert "Idempotent-Replayed" not in fresh.headers and count(client, auth) == 2


def test_without_the_header_every_create_stores(client, auth):
    path, body = SINGLE[0]
    body = {**body, "on_duplicate": "allow"}  # a copy, not the duplicate it would be
    client.post(path, json=body, headers=auth)
    client.post(path, json=body, headers=auth)
    assert count(client, auth) == 2


@pytest.mark.parametrize(("path", "body"), SINGLE)
def test_a_retried_duplicate_replays_its_200_and_is_forgotten_with_that_memory(
    client, auth, path, body
):
    first = client.post(path, json=body, headers=auth)
    assert first.status_code == 201
    sent = {**auth, "Idempotency-Key": "dup"}
    duplicate = client.post(path, json=body, headers=sent)
    replay = client.post(path, json=body, headers=sent)
    assert duplicate.status_code == replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_data() == duplicate.get_data()
    # The answer names the existing memory: once it is deleted, the key no longer replays.
    memory_id = first.json["id"] if path.startswith("/api") else first.json["data"]["id"]
    client.delete(f"/api/v1/memory/{memory_id}", headers=auth)
    fresh = client.post(path, json=body, headers=sent)
    assert fresh.status_code == 201 and "Idempotent-Replayed" not in fresh.headers


def test_the_same_key_for_another_request_is_refused(client, auth):
    sent = {**auth, "Idempotency-Key": "k"}
    assert client.post("/api/v1/memory", json={"text": "a"}, headers=sent).status_code == 201
    other = client.post("/api/v1/memory", json={"text": "b"}, headers=sent)
    assert other.status_code == 409 and other.json["error"] == "IDEMPOTENCY_KEY_REUSED"
    assert "Retry-After" not in other.headers  # unlike a retry of a running request
    elsewhere = client.post("/v1/memories", json={"text": "a"}, headers=sent)
    assert elsewhere.status_code == 409
    assert count(client, auth) == 1


def test_the_same_json_spaced_differently_is_the_same_request(client, auth):
    sent = {**auth, "Idempotency-Key": "k", "Content-Type": "application/json"}
    first = client.post("/api/v1/memory", data='{"text": "a", "metadata": {"x": 1}}', headers=sent)
    again = client.post("/api/v1/memory", data='{"metadata":{"x":1},"text":"a"}', headers=sent)
    assert (first.status_code, again.status_code) == (201, 201) and again.json == first.json


def test_keys_belong_to_a_workspace(client, auth):
    path, body = SINGLE[0]
    client.post(path, json=body, headers={**auth, "Idempotency-Key": "k"})
    other = {**auth, "Idempotency-Key": "k", "X-Workspace-ID": "work"}
    assert client.post(path, json=body, headers=other).headers.get("Idempotent-Replayed") is None


def test_a_failed_request_does_not_use_up_its_key(client, auth):
    sent = {**auth, "Idempotency-Key": "k"}
    clash = {"id": "taken", "text": "x"}
    assert client.post("/api/v1/memory", json=clash, headers=auth).status_code == 201
    assert client.post("/api/v1/memory", json=clash, headers=sent).status_code == 409
    client.delete("/api/v1/memory/taken", headers=auth)
    retried = client.post("/api/v1/memory", json=clash, headers=sent)
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers


@pytest.mark.parametrize("bad", ["", "has space", "x" * 256, "é"])
def test_a_malformed_key_is_a_400(client, auth, bad):
    response = client.post(
        "/api/v1/memory", json={"text": "a"}, headers={**auth, "Idempotency-Key": bad}
    )
    assert response.status_code == 400 and count(client, auth) == 0


def test_a_concurrent_retry_waits_its_turn(app, client, auth):
    store = app.extensions["memory_api"].idempotency
    scope = Scope("default", "default")
    request = fingerprint("POST", "/api/v1/memory", {"text": "a"})
    assert store.begin(scope, "k", request) is None  # the same request is running already
    response = client.post(
        "/api/v1/memory", json={"text": "a"}, headers={**auth, "Idempotency-Key": "k"}
    )
    assert response.status_code == 409 and response.json["error"] == "IDEMPOTENCY_KEY_IN_USE"
    assert response.headers["Retry-After"] == "1"


def test_parallel_identical_requests_store_one_memory(client, auth, app):
    results = []

    def send() -> None:
        with app.test_client() as own:
            response = own.post(
                "/api/v1/memory", json={"text": "once"}, headers={**auth, "Idempotency-Key": "p"}
            )
            results.append(response.status_code)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(201) >= 1 and set(results) <= {201, 409}
    assert count(client, auth) == 1


def test_keys_expire_after_the_retention(client, auth, monkeypatch):
    path, body = SINGLE[0]
    body = {**body, "on_duplicate": "allow"}
    sent = {**auth, "Idempotency-Key": "old"}
    client.post(path, json=body, headers=sent)
    later = time.time() + idempotency_store.RETENTION_S + 1
    monkeypatch.setattr(idempotency_store.time, "time", lambda: later)
    again = client.post(path, json=body, headers=sent)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert count(client, auth) == 2


def test_an_abandoned_reservation_is_taken_over(app, client, auth, monkeypatch):
    # A worker reserved the key and died before answering: after a while the key is free.
    store = app.extensions["memory_api"].idempotency
    body = {"text": "a"}
    store.begin(Scope("default", "default"), "k", fingerprint("POST", "/api/v1/memory", body))
    sent = {**auth, "Idempotency-Key": "k"}
    assert client.post("/api/v1/memory", json=body, headers=sent).status_code == 409
    later = time.time() + idempotency_store.ABANDONED_AFTER_S + 1
    monkeypatch.setattr(idempotency_store.time, "time", lambda: later)
    assert client.post("/api/v1/memory", json=body, headers=sent).status_code == 201
    assert count(client, auth) == 1


def test_a_key_whose_memory_was_deleted_before_it_was_recorded_is_forgotten(app):
    """The delete came between the create's commit and the key's record: nothing to replay."""
    store, scope = app.extensions["memory_api"].idempotency, Scope("default", "default")
    assert store.begin(scope, "raced", "fingerprint") is None
    store.complete(scope, "raced", 201, '{"id": "gone"}', "/api/v1/memory/gone", ["gone"])
    assert store.begin(scope, "raced", "fingerprint") is None  # a retry runs afresh
