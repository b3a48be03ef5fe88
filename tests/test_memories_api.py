"""Surface 1: every endpoint and example of the `/v1/memories` API document (docs/api.md)."""

from __future__ import annotations

import re

import pytest

from helpers import headers

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def create(client, auth, text="User works as a data scientist at TechCorp", **body):
    response = client.post("/v1/memories", json={"text": text, **body}, headers=auth)
    assert response.status_code == 201, response.json
    return response.json["data"]


def test_create_memory_matches_the_seed_example(client, auth):
    response = client.post(
        "/v1/memories",
        json={
            "text": "User works as a data scientist at TechCorp",
            "metadata": {"category": "professional"},
        },
        headers=auth,
    )
    assert response.status_code == 201
    body = response.json
    assert body["success"] is True
    data = body["data"]
    assert set(data) == {"id", "text", "metadata", "created_at", "updated_at", "expires_at"}
    assert data["id"].startswith("mem_")
    assert data["text"] == "User works as a data scientist at TechCorp"
    assert data["metadata"] == {"category": "professional"}
    assert ISO_UTC.match(data["created_at"]) and data["created_at"] == data["updated_at"]
    assert response.headers["Location"] == f"/v1/memories/{data['id']}"


def test_create_with_custom_memory_id(client, auth):
    data = create(client, auth, memory_id="user:profile.job-1")
    assert data["id"] == "user:profile.job-1"
    assert client.get("/v1/memories/user:profile.job-1", headers=auth).json["data"] == data


def test_duplicate_memory_id_in_the_same_workspace_is_409_and_changes_nothing(client, auth):
    create(client, auth, text="original", memory_id="dup")
    response = client.post("/v1/memories", json={"text": "other", "memory_id": "dup"}, headers=auth)
    assert response.status_code == 409
    assert response.json["success"] is False
    assert response.json["error"] == "CONFLICT"
    assert client.get("/v1/memories/dup", headers=auth).json["data"]["text"] == "original"


@pytest.mark.parametrize("bad_id", ["", "has space", "a/b", "x" * 129, "é", "line\n"])
def test_invalid_custom_memory_id_is_400(client, auth, bad_id):
    response = client.post("/v1/memories", json={"text": "t", "memory_id": bad_id}, headers=auth)
    assert response.status_code == 400
    assert "memory_id" in response.json["details"]["fields"]


def test_get_memory(client, auth):
    data = create(client, auth)
    response = client.get(f"/v1/memories/{data['id']}", headers=auth)
    assert response.status_code == 200
    assert response.json == {"success": True, "data": data}


def test_get_unknown_memory_is_404(client, auth):
    response = client.get("/v1/memories/mem_nope", headers=auth)
    assert response.status_code == 404
    assert response.json["success"] is False
    assert response.json["error"] == "NOT_FOUND"


def test_list_is_newest_first_with_pagination(client, auth):
    ids = [create(client, auth, text=f"memory number {i}")["id"] for i in range(5)]
    response = client.get("/v1/memories?page=1&per_page=2", headers=auth)
    assert response.status_code == 200
    assert [m["id"] for m in response.json["data"]] == ids[::-1][:2]
    assert response.json["pagination"] == {"page": 1, "per_page": 2, "total": 5, "total_pages": 3}
    walked = []
    for page in (1, 2, 3):
        walked += client.get(f"/v1/memories?page={page}&per_page=2", headers=auth).json["data"]
    assert [m["id"] for m in walked] == ids[::-1]


def test_list_defaults_and_the_seed_example(client, auth):
    create(client, auth)
    default = client.get("/v1/memories", headers=auth).json
    assert default["pagination"] == {"page": 1, "per_page": 50, "total": 1, "total_pages": 1}
    seed = client.get("/v1/memories?page=1&per_page=20", headers=auth)
    assert seed.status_code == 200 and len(seed.json["data"]) == 1


def test_list_past_the_last_page_is_empty_not_an_error(client, auth):
    create(client, auth)
    response = client.get("/v1/memories?page=9", headers=auth)
    assert response.status_code == 200
    assert response.json["data"] == []
    assert response.json["pagination"]["total"] == 1


@pytest.mark.parametrize(
    "query", ["page=0", "page=-1", "per_page=0", "per_page=101", "page=abc", "per_page=1.5"]
)
def test_list_out_of_range_values_are_400_not_clamped(client, auth, query):
    response = client.get(f"/v1/memories?{query}", headers=auth)
    assert response.status_code == 400
    assert response.json["error"] == "INVALID_REQUEST"
    assert query.split("=")[0] in response.json["details"]["fields"]


def test_update_text_matches_the_seed_example(client, auth):
    data = create(client, auth, metadata={"category": "professional"})
    response = client.put(
        f"/v1/memories/{data['id']}",
        json={"text": "User is a senior data scientist at TechCorp"},
        headers=auth,
    )
    assert response.status_code == 200
    updated = response.json["data"]
    assert updated["text"] == "User is a senior data scientist at TechCorp"
    assert updated["metadata"] == {"category": "professional"}
    assert updated["created_at"] == data["created_at"]
    assert updated["updated_at"] >= data["updated_at"]


def test_update_metadata_replaces_it(client, auth):
    data = create(client, auth, metadata={"a": 1, "b": 2})
    response = client.put(f"/v1/memories/{data['id']}", json={"metadata": {"c": 3}}, headers=auth)
    assert response.json["data"]["metadata"] == {"c": 3}
    assert response.json["data"]["text"] == data["text"]


def test_update_with_nothing_to_change_is_400(client, auth):
    data = create(client, auth)
    response = client.put(f"/v1/memories/{data['id']}", json={}, headers=auth)
    assert response.status_code == 400
    assert response.json["message"] == (
        "Provide text, metadata, ttl_seconds and/or expires_at to update."
    )


def test_update_unknown_memory_is_404(client, auth):
    response = client.put("/v1/memories/nope", json={"text": "x"}, headers=auth)
    assert response.status_code == 404


def test_delete_memory(client, auth):
    data = create(client, auth)
    response = client.delete(f"/v1/memories/{data['id']}", headers=auth)
    assert response.status_code == 200
    assert response.json == {"success": True, "data": {"id": data["id"], "deleted": True}}
    assert client.get(f"/v1/memories/{data['id']}", headers=auth).status_code == 404
    assert client.delete(f"/v1/memories/{data['id']}", headers=auth).status_code == 404


def test_delete_all_requires_confirm_true(client, auth):
    create(client, auth)
    for query in ("", "?confirm=false", "?confirm=yes", "?confirm=TRUE"):
        response = client.delete(f"/v1/memories{query}", headers=auth)
        assert response.status_code == 400, query
        assert response.json["success"] is False
    assert client.get("/v1/memories", headers=auth).json["pagination"]["total"] == 1


def test_delete_all_deletes_only_the_callers_workspace(client, key):
    mine, other = headers(key), headers(key, "other")
    for n in range(3):
        create(client, mine, f"User works as a data scientist at TechCorp, note {n}")
    create(client, other)
    response = client.delete("/v1/memories?confirm=true", headers=mine)
    assert response.status_code == 200
    assert response.json == {"success": True, "data": {"deleted_count": 3}}
    assert client.get("/v1/memories", headers=mine).json["pagination"]["total"] == 0
    assert client.get("/v1/memories", headers=other).json["pagination"]["total"] == 1
