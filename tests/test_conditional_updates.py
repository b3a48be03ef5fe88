"""Lost and torn updates: a memory's parts always agree, and If-Match stops lost updates."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from helpers import headers
from memory_server.scope import Scope

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True

SURFACES = [("/api/v1/memory", "id"), ("/v1/memories", "memory_id")]


def _vector(app, memory_id: str) -> np.ndarray:
    memory = app.extensions["memory_api"].memories.get(
        Scope("default", "default"), memory_id, with_embedding=True
    )
    return np.array(memory.embedding)


def test_a_text_changed_between_the_check_and_the_write_is_embedded_again(app, client, auth):
    """The red team's race, made deterministic: PUT T0 decides "unchanged", then PUT T1
    commits, then PUT T0 writes. Before, that left text T0 with T1's vector."""
    service = app.extensions["memory_api"].memories
    embedder = service.embedder
    memory_id = client.post("/api/v1/memory", json={"text": "T0: the cat"}, headers=auth).json["id"]
    real_update, raced = service.store.update, []

    def update_after_a_rival(*args, **kwargs):
        if not raced:  # the other writer's whole update lands first
            raced.append(True)
            vectors = embedder.embed_document("T1: the spaceship").vectors
            real_update(Scope("default", "default"), memory_id, "T1: the spaceship", None,
                        _hash("T1: the spaceship"), vectors)  # fmt: skip
        return real_update(*args, **kwargs)

    service.store.update = update_after_a_rival
    try:
        response = client.put(
            f"/api/v1/memory/{memory_id}", json={"text": "T0: the cat"}, headers=auth
        )
    finally:
        service.store.update = real_update
    assert response.status_code == 200 and response.json["embedding_regenerated"] is True
    stored = client.get(f"/api/v1/memory/{memory_id}", headers=auth).json
    assert stored["text"] == "T0: the cat"
    expected = embedder.embed_document("T0: the cat").vectors[0]
    assert np.allclose(_vector(app, memory_id), expected, atol=1e-5)
    found = client.post(
        "/api/v1/memory/search", json={"query": "spaceship", "mode": "keyword"}, headers=auth
    )
    assert found.json["results"] == []  # the keyword index follows the text too


@pytest.mark.slow
@pytest.mark.sqlite_only  # SQLite's query plan or its write lock
def test_concurrent_updates_behind_a_held_write_lock_never_tear(app, auth):
    """Two PUTs wait while another writer holds the lock (as `flask import` would)."""
    service = app.extensions["memory_api"].memories
    texts = ["T0: a quiet cat on the mat", "T1: a rocket leaving the launch pad"]
    vectors = {t: service.embedder.embed_document(t).vectors[0] for t in texts}
    client = app.test_client()
    memory_id = client.post("/api/v1/memory", json={"text": texts[0]}, headers=auth).json["id"]
    for _ in range(6):
        holder = service.store.db.open_connection()
        holder.execute("BEGIN IMMEDIATE")
        answers: list[int] = []

        def put(text: str, answers: list[int] = answers) -> None:
            response = app.test_client().put(
                f"/api/v1/memory/{memory_id}", json={"text": text}, headers=auth
            )
            answers.append(response.status_code)

        writers = [threading.Thread(target=put, args=(t,)) for t in (texts[1], texts[0])]
        for writer in writers:
            writer.start()
        threading.Event().wait(0.3)  # both have decided and wait for the lock
        holder.execute("COMMIT")
        holder.close()
        for writer in writers:
            writer.join()
        assert answers == [200, 200]
        text = client.get(f"/api/v1/memory/{memory_id}", headers=auth).json["text"]
        assert np.allclose(_vector(app, memory_id), vectors[text], atol=1e-5), text


@pytest.mark.parametrize(("path", "id_field"), SURFACES)
def test_every_read_and_write_of_a_memory_carries_its_version(client, auth, path, id_field):
    created = client.post(path, json={"text": "v1", id_field: "etag-1"}, headers=auth)
    first = created.headers["ETag"]
    assert first.startswith('"') and first.endswith('"')
    got = client.get(f"{path}/etag-1", headers=auth)
    assert got.headers["ETag"] == first
    updated = client.put(f"{path}/etag-1", json={"metadata": {"n": 2}}, headers=auth)
    assert updated.headers["ETag"] not in (None, first)
    assert client.get(f"{path}/etag-1", headers=auth).headers["ETag"] == updated.headers["ETag"]


@pytest.mark.parametrize(("path", "id_field"), SURFACES)
def test_a_stale_if_match_is_412_and_changes_nothing(client, auth, path, id_field):
    client.post(path, json={"text": "shopping: milk", id_field: "list"}, headers=auth)
    seen = client.get(f"{path}/list", headers=auth).headers["ETag"]
    # Two clients read the same version; the first writes, the second's write is refused.
    first = client.put(
        f"{path}/list", json={"metadata": {"by": "alice"}}, headers={**auth, "If-Match": seen}
    )
    assert first.status_code == 200
    second = client.put(
        f"{path}/list", json={"metadata": {"by": "bob"}}, headers={**auth, "If-Match": seen}
    )
    assert second.status_code == 412 and second.json["error"] == "PRECONDITION_FAILED"
    assert second.headers["ETag"] == first.headers["ETag"]  # the version to read and retry on
    stale_delete = client.delete(f"{path}/list", headers={**auth, "If-Match": seen})
    assert stale_delete.status_code == 412
    now = client.get(f"{path}/list", headers=auth)
    body = now.json.get("data", now.json)
    assert body["metadata"] == {"by": "alice"}
    # The current version (or one of a list that has it, or *) is accepted.
    current = now.headers["ETag"]
    listed = client.put(
        f"{path}/list", json={"text": "shopping: milk, eggs"},
        headers={**auth, "If-Match": f'"elsewhere", {current}'},
    )  # fmt: skip
    assert listed.status_code == 200
    assert client.delete(f"{path}/list", headers={**auth, "If-Match": "*"}).status_code == 200


def test_if_match_edge_cases(client, auth):
    client.post("/api/v1/memory", json={"text": "x", "id": "edge"}, headers=auth)
    etag = client.get("/api/v1/memory/edge", headers=auth).headers["ETag"]
    weak = client.put(
        "/api/v1/memory/edge", json={"text": "y"}, headers={**auth, "If-Match": f"W/{etag}"}
    )
    assert weak.status_code == 412  # If-Match compares strongly
    other = client.put("/api/v1/memory/edge", json={"text": "y"}, headers={**auth, "If-Match": "x"})
    assert other.status_code == 412  # not a version of it
    unquoted = client.put(
        "/api/v1/memory/edge", json={"metadata": {"k": 1}}, headers={**auth, "If-Match": etag[1:-1]}
    )
    assert unquoted.status_code == 200  # a tag without its quotes still names the version
    etag = unquoted.headers["ETag"]
    gone = client.put(
        "/api/v1/memory/nothing", json={"text": "y"}, headers={**auth, "If-Match": etag}
    )
    assert gone.status_code == 404  # no such memory: the precondition is not even evaluated
    unchanged = client.get("/api/v1/memory/edge", headers={**auth, "If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.data == b""
    assert unchanged.headers["ETag"] == etag
    assert client.get("/api/v1/memory/edge", headers=auth).json["text"] == "x"


def test_a_recreated_id_does_not_match_the_old_version(client, make_key):
    auth = headers(make_key("pro"))
    client.post("/api/v1/memory", json={"text": "same", "id": "again"}, headers=auth)
    old = client.get("/api/v1/memory/again", headers=auth).headers["ETag"]
    client.delete("/api/v1/memory/again", headers=auth)
    client.post("/api/v1/memory", json={"text": "same", "id": "again"}, headers=auth)
    refused = client.delete("/api/v1/memory/again", headers={**auth, "If-Match": old})
    assert refused.status_code == 412


def _hash(text: str) -> str:
    from memory_server.memory_service import content_hash

    return content_hash(text)
