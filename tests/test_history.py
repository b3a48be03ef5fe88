"""A memory's history: every create and update kept as a version, gone when it is deleted."""

from __future__ import annotations

import json

import pytest

from helpers import headers

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True


def versions(client, auth, memory_id: str) -> list[dict]:
    response = client.get(f"/api/v1/memory/{memory_id}/history", headers=auth)
    assert response.status_code == 200, response.json
    return response.json["history"]


def test_each_create_and_update_is_a_version_on_both_surfaces(client, auth):
    created = client.post(
        "/api/v1/memory", json={"text": "Anna lives in Porto", "metadata": {"v": 1}}, headers=auth
    ).json
    path = f"/api/v1/memory/{created['id']}"
    client.put(path, json={"text": "Anna lives in Lisbon"}, headers=auth)
    client.put(f"/v1/memories/{created['id']}", json={"metadata": {"v": 2}}, headers=auth)
    client.put(path, json={"ttl_seconds": 3600}, headers=auth)  # an expiry change is one too
    current = client.get(path, headers=auth).json

    history = versions(client, auth, created["id"])
    assert [(v["version"], v["event"]) for v in history] == [
        (1, "created"), (2, "updated"), (3, "updated"), (4, "updated"),
    ]  # fmt: skip
    assert [(v["text"], v["metadata"]) for v in history] == [
        ("Anna lives in Porto", {"v": 1}),
        ("Anna lives in Lisbon", {"v": 1}),
        ("Anna lives in Lisbon", {"v": 2}),
        ("Anna lives in Lisbon", {"v": 2}),
    ]
    assert set(history[0]) == {"version", "event", "text", "metadata", "changed_at"}
    assert history[0]["changed_at"] == current["created_at"]
    assert history[-1]["changed_at"] == current["updated_at"]
    assert [v["changed_at"] for v in history] == sorted(v["changed_at"] for v in history)

    v1 = client.get(f"/v1/memories/{created['id']}/history", headers=auth)
    assert v1.status_code == 200
    assert v1.json == {"success": True, "data": history}


def test_deleting_a_memory_deletes_its_history(client, auth, app):
    memory_id = client.post("/v1/memories", json={"text": "old"}, headers=auth).json["data"]["id"]
    client.put(f"/v1/memories/{memory_id}", json={"text": "new"}, headers=auth)
    db = app.extensions["memory_api"].db
    assert db.connection().execute("SELECT count(*) FROM memory_history").fetchone()[0] == 1
    client.delete(f"/v1/memories/{memory_id}", headers=auth)
    for path in (f"/api/v1/memory/{memory_id}/history", f"/v1/memories/{memory_id}/history"):
        gone = client.get(path, headers=auth)
        assert gone.status_code == 404 and gone.json["error"] == "NOT_FOUND"
    assert db.connection().execute("SELECT count(*) FROM memory_history").fetchone()[0] == 0
    # The id used again starts a history of its own.
    client.post("/v1/memories", json={"memory_id": memory_id, "text": "again"}, headers=auth)
    assert [v["text"] for v in versions(client, auth, memory_id)] == ["again"]


def test_delete_all_deletes_the_histories_too(client, auth, app):
    for n in range(3):
        memory_id = client.post("/api/v1/memory", json={"text": f"t{n}"}, headers=auth).json["id"]
        client.put(f"/api/v1/memory/{memory_id}", json={"text": f"u{n}"}, headers=auth)
    client.delete("/v1/memories?confirm=true", headers=auth)
    db = app.extensions["memory_api"].db
    assert db.connection().execute("SELECT count(*) FROM memory_history").fetchone()[0] == 0


def test_history_is_scoped_like_everything_else(client, auth, key, make_key):
    memory_id = client.post("/api/v1/memory", json={"text": "mine"}, headers=auth).json["id"]
    for other in (headers(make_key("pro", "bob")), headers(key, "elsewhere")):
        response = client.get(f"/api/v1/memory/{memory_id}/history", headers=other)
        assert response.status_code == 404
    assert client.get(f"/api/v1/memory/{memory_id}/history").status_code == 401


def test_the_history_is_capped_per_memory(tmp_path, embedder, make_app):
    app = make_app({"TESTING": True, "DATABASE": str(tmp_path / "m.db"), "HISTORY_VERSIONS": 3})
    client = app.test_client()
    auth = headers(app.extensions["memory_api"].keys.create("enterprise").plaintext)
    memory_id = client.post("/api/v1/memory", json={"text": "v1"}, headers=auth).json["id"]
    for n in range(2, 7):
        client.put(f"/api/v1/memory/{memory_id}", json={"text": f"v{n}"}, headers=auth)
    history = versions(client, auth, memory_id)
    assert [(v["version"], v["text"]) for v in history] == [(4, "v4"), (5, "v5"), (6, "v6")]
    db = app.extensions["memory_api"].db
    assert db.connection().execute("SELECT count(*) FROM memory_history").fetchone()[0] == 2


def test_history_can_be_turned_off(tmp_path, embedder, make_app):
    app = make_app({"TESTING": True, "DATABASE": str(tmp_path / "m.db"), "HISTORY_VERSIONS": 0})
    client = app.test_client()
    auth = headers(app.extensions["memory_api"].keys.create("enterprise").plaintext)
    memory_id = client.post("/api/v1/memory", json={"text": "v1"}, headers=auth).json["id"]
    client.put(f"/api/v1/memory/{memory_id}", json={"text": "v2"}, headers=auth)
    for path in (f"/api/v1/memory/{memory_id}/history", f"/v1/memories/{memory_id}/history"):
        response = client.get(path, headers=auth)
        assert response.status_code == 404 and response.json["error"] == "HISTORY_DISABLED"
    db = app.extensions["memory_api"].db
    assert db.connection().execute("SELECT count(*) FROM memory_history").fetchone()[0] == 0


@pytest.mark.parametrize("surface", ["/api/v1/memory", "/v1/memories"])
def test_a_refused_update_keeps_no_version(client, auth, surface):
    memory_id = client.post("/api/v1/memory", json={"text": "kept"}, headers=auth).json["id"]
    bad = client.put(f"{surface}/{memory_id}", json={"ttl_seconds": 0}, headers=auth)
    assert bad.status_code == 400
    stale = client.put(
        f"{surface}/{memory_id}", json={"text": "x"}, headers={**auth, "If-Match": '"stale"'}
    )
    assert stale.status_code == 412
    assert [v["version"] for v in versions(client, auth, memory_id)] == [1]


def test_stats_count_the_kept_versions(client, auth, runner):
    memory_id = client.post("/api/v1/memory", json={"text": "a"}, headers=auth).json["id"]
    client.put(f"/api/v1/memory/{memory_id}", json={"text": "b"}, headers=auth)
    client.put(f"/api/v1/memory/{memory_id}", json={"text": "c"}, headers=auth)
    result = runner.invoke(args=["stats", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["history_versions"] == 2
    assert "2 earlier versions kept" in runner.invoke(args=["stats"]).stdout
