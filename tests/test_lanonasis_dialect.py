"""The LanOnasis client's dialect of /api/v1, in-process: its shapes, and the seed's untouched.

tests/test_lanonasis_client.py runs the real client from npm against gunicorn; this module
checks the rules behind it on both backends: X-API-Key, the switch on X-Project-Scope, where
each field lives, filters over memories stored either way, errors and hostile input.
"""

from __future__ import annotations

import pytest

BOTH_BACKENDS = True

SCOPE = {"X-Project-Scope": "lanonasis-maas"}


@pytest.fixture
def maas(key) -> dict[str, str]:
    """The headers the client sends: its key as X-API-Key, its project scope."""
    return {"X-API-Key": key, **SCOPE, "User-Agent": "@lanonasis/memory-client/2.0.0"}


def create(client, maas, **body) -> dict:
    response = client.post("/api/v1/memory", json={"title": "t", "content": "c", **body},
                           headers=maas)  # fmt: skip
    assert response.status_code == 201, response.json
    return response.json


def test_x_api_key_is_the_same_key_and_the_same_401(client, key, auth):
    assert client.get("/api/v1/memory", headers={"X-API-Key": key}).status_code == 200
    bearer = client.get("/api/v1/memory", headers={"Authorization": "Bearer msk_nope"})
    api_key = client.get("/api/v1/memory", headers={"X-API-Key": "msk_nope"})
    assert bearer.status_code == api_key.status_code == 401
    assert (
        bearer.json
        == api_key.json
        == {
            "error": "UNAUTHORIZED",
            "message": "Invalid or expired API key",
        }
    )
    # An Authorization header decides alone: a wrong one is not rescued by a good X-API-Key.
    both = client.get("/api/v1/memory", headers={"Authorization": "Bearer x", "X-API-Key": key})
    assert both.status_code == 401


def test_without_the_project_scope_the_seed_shapes_stay_exactly(client, key):
    # X-API-Key alone authenticates; the answer is the seed's.
    created = client.post("/api/v1/memory", json={"text": "Seed shape"},
                          headers={"X-API-Key": key})  # fmt: skip
    assert created.status_code == 201
    assert set(created.json) == {
        "id", "status", "embedding_generated", "vector_dimensions", "tokens_used", "expires_at",
    }  # fmt: skip
    assert created.json["status"] == "stored"
    listed = client.get("/api/v1/memory", headers={"X-API-Key": key}).json
    assert set(listed) == {"memories", "pagination"}


def test_an_entry_round_trips_and_is_an_ordinary_memory(client, maas, auth):
    made = create(
        client, maas, title="Boiler", content="Boiler service on May 3rd", summary="yearly",
        memory_type="workflow", tags=["home"], topic_id="9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        project_ref="house", metadata={"room": "basement"}, organization_id="ignored",
    )  # fmt: skip
    assert made["content"] == "Boiler service on May 3rd" and made["summary"] == "yearly"
    assert made["metadata"] == {"room": "basement"} and made["user_id"] == "default"
    seed = client.get(f"/api/v1/memory/{made['id']}", headers=auth).json
    assert seed["text"] == "Boiler service on May 3rd"
    assert seed["metadata"] == {
        "room": "basement", "title": "Boiler", "summary": "yearly", "type": "workflow",
        "status": "active", "tags": ["home"], "topic_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        "project_ref": "house",
    }  # fmt: skip
    # The seed's filters see the client's fields: type and tags are the seed's own keys.
    found = client.get('/api/v1/memory?filters={"type":"workflow","tags":{"any":["home"]}}',
                       headers=auth).json  # fmt: skip
    assert [m["id"] for m in found["memories"]] == [made["id"]]


def test_a_retried_create_comes_back_as_the_stored_entry(client, maas):
    """The client retries creates after a timeout: the second is not stored again."""
    first = create(client, maas, content="Passport expires in 2031", tags=["docs"])
    again = client.post("/api/v1/memory", headers=maas, json={
        "title": "t", "content": "Passport expires in 2031", "tags": ["docs"]})  # fmt: skip
    assert again.status_code == 200 and again.json == first
    assert client.get("/api/v1/memory", headers=maas).json["pagination"]["total"] == 1


def test_an_update_changes_what_it_names_and_clears_with_null(client, maas):
    made = create(client, maas, tags=["a"], project_ref="p", metadata={"k": 1})
    path = f"/api/v1/memory/{made['id']}"
    changed = client.put(path, json={"project_ref": None, "status": "draft"}, headers=maas).json
    assert "project_ref" not in changed and changed["status"] == "draft"
    assert changed["tags"] == ["a"] and changed["metadata"] == {"k": 1}
    # New metadata replaces the client's own keys; the fields stay.
    changed = client.put(path, json={"metadata": {"j": 2}}, headers=maas).json
    assert changed["metadata"] == {"j": 2} and changed["status"] == "draft"
    changed = client.put(path, json={"content": "new words"}, headers=maas).json
    assert changed["content"] == "new words" and changed["title"] == "t"
    empty = client.put(path, json={}, headers=maas)
    assert empty.status_code == 400 and empty.json["code"] == "INVALID_REQUEST"


def test_memories_stored_through_the_seed_read_as_entries(client, maas, auth):
    long_line = "word " * 40
    for body in (
        {"id": "m1", "text": "First line\nsecond line", "metadata": {"type": "meeting"}},
        {"id": "m2", "text": long_line, "metadata": {"status": "done", "tags": ["x"]}},
        {"id": "m3", "text": "Typed", "metadata": {"type": "project", "status": "archived"}},
    ):
        assert client.post("/api/v1/memory", json=body, headers=auth).status_code == 201
    m1 = client.get("/api/v1/memory/m1", headers=maas).json
    assert (m1["title"], m1["memory_type"], m1["status"]) == ("First line", "context", "active")
    assert m1["metadata"] == {"type": "meeting"}  # not one of the six: kept where it was
    # What a read shows in metadata may go back unchanged; changing it is still refused.
    back = client.put("/api/v1/memory/m1", json={"metadata": m1["metadata"]}, headers=maas)
    assert back.status_code == 200 and back.json["metadata"] == {"type": "meeting"}
    changed = client.put("/api/v1/memory/m1", json={"metadata": {"type": "other"}}, headers=maas)
    assert changed.status_code == 400
    m2 = client.get("/api/v1/memory/m2", headers=maas).json
    assert len(m2["title"]) == 100 and m2["title"].endswith("…")
    assert m2["status"] == "active" and m2["metadata"] == {"status": "done"}
    assert m2["tags"] == ["x"]

    # Filters count them as what they read as.
    def ids(query: str) -> list[str]:
        listed = client.get(f"/api/v1/memory?{query}", headers=maas).json["data"]
        return [memory["id"] for memory in listed]

    assert ids("memory_type=context") == ["m2", "m1"]
    assert ids("memory_type=project") == ["m3"]
    assert ids("status=active") == ["m2", "m1"]
    assert ids("status=archived") == ["m3"]
    stats = client.get("/api/v1/memory/stats", headers=maas).json
    assert stats["total_memories"] == 3 and stats["memories_by_type"]["context"] == 2
    assert stats["recent_memories"] == ["m3", "m2", "m1"] and stats["total_topics"] == 0


def test_search_answers_with_similarity_scores_filters_and_threshold(client, maas):
    dog = create(client, maas, content="Biscuit is a beagle who loves the park", tags=["pets"])
    create(client, maas, content="The car needs new tyres", memory_type="project")
    found = client.post("/api/v1/memory/search", json={"query": "what breed is my dog"},
                        headers=maas).json  # fmt: skip
    assert set(found) == {"results", "total_results", "search_time_ms"}
    assert found["results"][0]["id"] == dog["id"] and found["total_results"] == 2
    assert 0 < found["results"][0]["similarity_score"] <= 1
    cut = client.post("/api/v1/memory/search", headers=maas,
                      json={"query": "what breed is my dog", "threshold": 0.99}).json  # fmt: skip
    assert cut["results"] == []
    typed = client.post("/api/v1/memory/search", headers=maas,
                        json={"query": "dog", "memory_types": ["project"]}).json  # fmt: skip
    assert [r["memory_type"] for r in typed["results"]] == ["project"]


@pytest.mark.parametrize(
    "body",
    [
        {"title": "t", "content": "c", "metadata": {"title": "x"}},
        {"title": "t", "content": "c", "metadata": {"tags": ["x"]}},
        {"title": "", "content": "c"},
        {"title": "t", "content": ""},
        {"title": "t", "content": "c", "memory_type": "meeting"},
        {"title": "t", "content": "c", "tags": ["ok"] * 21},
        {"title": "t", "content": "c", "tags": "home"},
        {"title": ["t"], "content": "c"},
        {"title": "t", "content": {"text": "c"}},
        {"title": "t" * 501, "content": "c"},
    ],
)
def test_bad_entries_are_clear_400s_in_the_clients_error_shape(client, maas, body):
    response = client.post("/api/v1/memory", json=body, headers=maas)
    assert response.status_code == 400
    assert response.json["code"] == "INVALID_REQUEST"
    assert isinstance(response.json["error"], str) and response.json["error"] != "INVALID_REQUEST"
    assert client.get("/api/v1/memory", headers=maas).json["pagination"]["total"] == 0


@pytest.mark.parametrize(
    "query",
    ["page=0", "limit=101", "memory_type=meeting", "status=gone", "sort=title", "order=up",
     "page=x"],
)  # fmt: skip
def test_bad_list_queries_are_400s(client, maas, query):
    assert client.get(f"/api/v1/memory?{query}", headers=maas).status_code == 400


@pytest.mark.parametrize(
    "body",
    [{}, {"query": ""}, {"query": " \n\t"}, {"query": "q", "limit": 0},
     {"query": "q", "limit": 1.5},
     {"query": "q", "threshold": 2}, {"query": "q", "memory_types": ["x"]},
     {"query": "q", "status": "gone"}, {"query": "q", "tags": "x"}],
)  # fmt: skip
def test_bad_searches_are_400s(client, maas, body):
    assert client.post("/api/v1/memory/search", json=body, headers=maas).status_code == 400


def test_bulk_delete_and_its_limits(client, maas, make_key):
    ids = [create(client, maas, content=f"note {i}")["id"] for i in range(3)]
    bulk = client.post("/api/v1/memory/bulk/delete", headers=maas,
                       json={"memory_ids": [ids[0], ids[1], ids[0], "mem_gone"]})  # fmt: skip
    assert bulk.json == {"deleted_count": 2, "failed_ids": ["mem_gone"]}
    for bad in ({}, {"memory_ids": []}, {"memory_ids": ["x"] * 101}, {"memory_ids": "x"}):
        assert client.post("/api/v1/memory/bulk/delete", json=bad, headers=maas).status_code == 400
    reader = {**maas, "X-API-Key": make_key("pro", read_only=True)}
    refused = client.post("/api/v1/memory/bulk/delete", json={"memory_ids": [ids[2]]},
                          headers=reader)  # fmt: skip
    assert refused.status_code == 403 and refused.json["code"] == "FORBIDDEN"
    assert client.get(f"/api/v1/memory/{ids[2]}", headers=maas).status_code == 200


def test_errors_carry_the_sentence_in_error_and_the_code_beside_it(client, maas):
    missing = client.get("/api/v1/memory/mem_nope", headers=maas)
    assert missing.status_code == 404
    assert missing.json == {
        "error": "Memory 'mem_nope' not found",
        "message": "Memory 'mem_nope' not found",
        "code": "NOT_FOUND",
    }
    wrong = client.get("/api/v1/memory", headers={**maas, "X-API-Key": "msk_nope"})
    assert wrong.status_code == 401 and wrong.json["error"] == "Invalid or expired API key"
    assert client.delete("/api/v1/memory/mem_nope", headers=maas).status_code == 404


def test_health_answers_under_api_v1_without_a_key(client):
    health = client.get("/api/v1/health")
    assert health.status_code == 200 and health.json["status"] == "ok"
    assert health.json["timestamp"].endswith("Z")


def test_topics_nest_hold_memories_and_go_without_taking_them(client, maas, make_key):
    home = client.post("/api/v1/topics", headers=maas,
                       json={"name": "Home", "color": "#3B82F6", "icon": "house"})  # fmt: skip
    assert home.status_code == 201 and home.headers["Location"].endswith(home.json["id"])
    home = home.json
    assert (home["is_system"], home["user_id"], home["metadata"]) == (False, "default", {})
    sub = client.post("/api/v1/topics", json={"name": "Boiler", "parent_topic_id": home["id"]},
                      headers=maas).json  # fmt: skip
    made = create(client, maas, content="Boiler service on May 3rd", topic_id=sub["id"])
    create(client, maas, content="Unrelated note")
    window = client.get(f"/api/v1/topics/{sub['id']}/memories?limit=5", headers=maas).json
    assert [m["id"] for m in window["memories"]] == [made["id"]]
    assert window["total_memories"] == 1 and window["topic"]["name"] == "Boiler"
    parent = client.get(f"/api/v1/topics/{home['id']}/memories", headers=maas).json
    assert [t["id"] for t in parent["subtopics"]] == [sub["id"]]
    tree = client.get("/api/v1/topics?include_hierarchy=true", headers=maas).json
    assert [(t["name"], t["memory_count"]) for t in tree] == [("Home", 0)]
    assert [(t["name"], t["memory_count"]) for t in tree[0]["children"]] == [("Boiler", 1)]
    flat = client.get("/api/v1/topics", headers=maas).json
    assert [t["name"] for t in flat] == ["Home", "Boiler"]
    assert client.get("/api/v1/memory/stats", headers=maas).json["total_topics"] == 2
    # Changes: null clears; no cycles; a parent must be a topic of this workspace.
    changed = client.put(f"/api/v1/topics/{home['id']}", json={"color": None, "name": "House"},
                         headers=maas).json  # fmt: skip
    assert changed["name"] == "House" and "color" not in changed and changed["icon"] == "house"
    for bad, status in (({"parent_topic_id": sub["id"]}, 409),
                        ({"parent_topic_id": home["id"]}, 409),
                        ({"parent_topic_id": "nope"}, 404), ({"name": ""}, 400),
                        ({"color": "red"}, 400), ({}, 400)):  # fmt: skip
        refused = client.put(f"/api/v1/topics/{home['id']}", json=bad, headers=maas)
        assert refused.status_code == status, bad
    other = {**maas, "X-Workspace-ID": "elsewhere"}
    assert client.get(f"/api/v1/topics/{home['id']}", headers=other).status_code == 404
    elsewhere = client.post("/api/v1/topics", json={"name": "x", "parent_topic_id": home["id"]},
                            headers=other)  # fmt: skip
    assert elsewhere.status_code == 404  # its parent is in another workspace
    reader = {**maas, "X-API-Key": make_key("pro", read_only=True)}
    assert client.post("/api/v1/topics", json={"name": "n"}, headers=reader).status_code == 403
    # Deleting the parent lifts its subtopic; the memory keeps its topic_id.
    assert client.delete(f"/api/v1/topics/{home['id']}", headers=maas).status_code == 204
    assert "parent_topic_id" not in client.get(f"/api/v1/topics/{sub['id']}", headers=maas).json
    assert client.get(f"/api/v1/memory/{made['id']}", headers=maas).json["topic_id"] == sub["id"]
    missing = client.get(f"/api/v1/topics/{home['id']}", headers=maas)
    assert missing.status_code == 404 and missing.json["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": "n" * 101}, {"name": 5}, {"name": "n", "color": "#12345"},
     {"name": "n", "icon": "i" * 51}, {"name": "n", "metadata": []},
     {"name": "n", "parent_topic_id": 3}],
)  # fmt: skip
def test_bad_topics_are_400s(client, maas, body):
    assert client.post("/api/v1/topics", json=body, headers=maas).status_code == 400
    assert client.get("/api/v1/topics", headers=maas).json == []


def test_a_get_or_delete_with_a_json_content_type_and_no_body_works(client, maas):
    """The client sends Content-Type: application/json on every request, bodies or not."""
    made = create(client, maas)
    typed = {**maas, "Content-Type": "application/json"}
    assert client.get(f"/api/v1/memory/{made['id']}", headers=typed).status_code == 200
    assert client.get("/api/v1/memory", headers=typed).status_code == 200
    assert client.get("/api/v1/memory/stats", headers=typed).status_code == 200
    assert client.delete(f"/api/v1/memory/{made['id']}", headers=typed).status_code == 204


def test_options_runs_no_view_even_with_the_clients_header(client, make_key):
    """The red team's find: OPTIONS matched the create route and ran it for a read-only key."""
    reader = {"X-API-Key": make_key("pro", read_only=True), **SCOPE}
    for path in ("/api/v1/memory", "/api/v1/memory/search", "/api/v1/memory/stats"):
        answer = client.open(path, method="OPTIONS", headers=reader,
                             json={"title": "t", "content": "written by OPTIONS"})  # fmt: skip
        assert answer.status_code == 200 and answer.data == b"", path
        assert "Allow" in answer.headers
    listed = client.get("/api/v1/memory", headers=reader).json
    assert listed["pagination"]["total"] == 0


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/memory", {"title": "t", "content": "c", "tags": ["a\x00b"]}),
        ("POST", "/api/v1/memory", {"title": "t\x00", "content": "c"}),
        ("POST", "/api/v1/memory", {"title": "t", "content": "c", "metadata": {"k\x00": 1}}),
        ("POST", "/api/v1/memory/search", {"query": "q", "project_ref": "\x00"}),
        ("POST", "/api/v1/memory/bulk/delete", {"memory_ids": ["a\x00b"]}),
        ("POST", "/api/v1/topics", {"name": "n\x00"}),
        ("GET", "/api/v1/memory?tags=a%00b", None),
        ("GET", "/api/v1/memory?topic_id=%00", None),
    ],
)
def test_a_nul_anywhere_is_a_400_on_both_backends(client, maas, method, path, body):
    """PostgreSQL refuses NUL in text and jsonb: it must never get that far (no 500)."""
    response = client.open(path, method=method, json=body, headers=maas)
    assert response.status_code == 400, response.json
    assert "NUL" in response.json["error"] or "NUL" in str(response.json.get("details"))
    assert client.get("/api/v1/memory", headers=maas).json["pagination"]["total"] == 0


def test_a_topic_id_no_route_could_name_is_a_404(client, maas):
    for path in ("/api/v1/topics/%00", "/api/v1/topics/a%2Fb", "/api/v1/topics/%00/memories"):
        assert client.get(path, headers=maas).status_code == 404, path


def test_a_missing_field_is_named_as_the_seed_names_it(client, maas):
    for path, body, name in (("/api/v1/memory", {"content": "c"}, "Title"),
                             ("/api/v1/memory", {"title": "t"}, "Content"),
                             ("/api/v1/memory/search", {}, "Query"),
                             ("/api/v1/memory/bulk/delete", {}, "Memory_ids"),
                             ("/api/v1/topics", {}, "Name")):  # fmt: skip
        response = client.post(path, json=body, headers=maas)
        assert response.status_code == 400
        assert response.json["error"] == f"{name} field is required", response.json


def test_keys_the_client_adds_are_accepted_and_any_other_is_refused(client, maas):
    made = create(client, maas, organization_id="org-1", preprocessing={"chunking": {}})
    path = f"/api/v1/memory/{made['id']}"
    changed = client.put(path, json={"title": "t2", "rechunk": True, "regenerate_embedding": True},
                         headers=maas)  # fmt: skip
    assert changed.status_code == 200 and changed.json["title"] == "t2"
    only_ignored = client.put(path, json={"rechunk": True}, headers=maas)
    assert only_ignored.status_code == 400  # changes nothing
    enhanced = client.post("/api/v1/memory/search", headers=maas, json={
        "query": "c", "type": "project", "search_mode": "hybrid", "include_chunks": True,
        "filters": {"tags": ["x"]}, "organization_id": "org-1"})  # fmt: skip
    assert enhanced.status_code == 200 and enhanced.json["results"] == []  # type: project
    for path_, body in (("/api/v1/memory", {"title": "t", "content": "c", "extra": 1}),
                        (path, {"anything": 1}),
                        ("/api/v1/topics", {"name": "n", "anything": 1})):  # fmt: skip
        refused = client.open(path_, method="PUT" if path_ == path else "POST", json=body,
                              headers=maas)  # fmt: skip
        assert refused.status_code == 400, (path_, refused.json)
        assert "Unknown field" in str(refused.json["details"])
