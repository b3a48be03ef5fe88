"""API keys on the wire, and isolation between owners and between workspaces."""

from __future__ import annotations

import pytest

from helpers import headers

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True

UNAUTHORIZED = {"error": "UNAUTHORIZED", "message": "Invalid or expired API key"}
ENDPOINTS = [
    ("get", "/v1/memories"),
    ("post", "/v1/memories"),
    ("get", "/v1/memories/x"),
    ("put", "/v1/memories/x"),
    ("delete", "/v1/memories/x"),
    ("delete", "/v1/memories?confirm=true"),
    ("get", "/api/v1/memory"),
    ("post", "/api/v1/memory"),
    ("get", "/api/v1/memory/x"),
    ("put", "/api/v1/memory/x"),
    ("delete", "/api/v1/memory/x"),
]


def bad_credentials(app, make_key):
    """Every kind of key a server must refuse."""
    keys = app.extensions["memory_api"].keys
    revoked = make_key("pro")
    keys.revoke(keys.authenticate(revoked).id)
    expired = make_key("pro", expires_in_days=1)
    with keys.db.transaction() as conn:
        conn.execute(
            "UPDATE api_keys SET expires_at = '2000-01-01T00:00:00.000Z' WHERE id = ?",
            (keys.authenticate(expired).id,),
        )
    valid = make_key("pro")
    tampered = valid[:-1] + ("A" if valid[-1] != "A" else "B")
    return {
        "missing": {},
        "empty bearer": {"Authorization": "Bearer "},
        "basic scheme": {"Authorization": f"Basic {valid}"},
        "no scheme": {"Authorization": valid},
        "unknown key": headers("msk_000000000000_" + "a" * 43),
        "malformed key": headers("not-a-key"),
        "tampered secret": headers(tampered),
        "revoked": headers(revoked),
        "expired": headers(expired),
    }


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_refuses_bad_keys_with_the_seeds_401(app, client, make_key, method, path):
    for why, sent in bad_credentials(app, make_key).items():
        response = getattr(client, method)(path, json={"text": "t"}, headers=sent)
        assert response.status_code == 401, why
        body = {k: v for k, v in response.json.items() if k != "success"}
        assert body == UNAUTHORIZED, why
        assert response.json.get("success", False) is False
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_bearer_scheme_is_case_insensitive(client, key):
    response = client.get("/v1/memories", headers={"Authorization": f"bearer {key}"})
    assert response.status_code == 200


def test_refused_requests_store_nothing(app, client, make_key, auth):
    for sent in bad_credentials(app, make_key).values():
        client.post("/v1/memories", json={"text": "sneaky"}, headers=sent)
    assert client.get("/v1/memories", headers=auth).json["pagination"]["total"] == 0


def test_health_needs_no_key(client):
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize("workspace", ["", "has space", "a/b", "x" * 65, "ü"])
def test_invalid_workspace_header_is_400(client, key, workspace):
    response = client.get("/v1/memories", headers=headers(key, workspace))
    assert response.status_code == 400
    assert response.json["error"] == "INVALID_REQUEST"
    assert "X-Workspace-ID" in response.json["message"]


def test_valid_workspace_names(client, key):
    for workspace in ("workspace_123", "a", "team.alpha:prod-1", "x" * 64):
        response = client.get("/api/v1/memory", headers=headers(key, workspace))
        assert response.status_code == 200, workspace


def test_default_workspace_is_named_default(client, key):
    created = client.post("/v1/memories", json={"text": "t"}, headers=headers(key)).json["data"]
    explicit = client.get(f"/v1/memories/{created['id']}", headers=headers(key, "default"))
    assert explicit.status_code == 200


def assert_invisible(client, auth, memory_id, text):
    """The memory cannot be seen, listed, changed or deleted with these headers."""
    assert client.get(f"/v1/memories/{memory_id}", headers=auth).status_code == 404
    assert client.get(f"/api/v1/memory/{memory_id}", headers=auth).status_code == 404
    assert (
        client.put(f"/v1/memories/{memory_id}", json={"text": "x"}, headers=auth).status_code == 404
    )
    put = client.put(f"/api/v1/memory/{memory_id}", json={"metadata": {}}, headers=auth)
    assert put.status_code == 404
    assert client.delete(f"/v1/memories/{memory_id}", headers=auth).status_code == 404
    assert client.delete(f"/api/v1/memory/{memory_id}", headers=auth).status_code == 404
    assert text not in str(client.get("/v1/memories", headers=auth).json)
    assert text not in str(client.get("/api/v1/memory", headers=auth).json)
    client.delete("/v1/memories?confirm=true", headers=auth)


def test_another_owners_key_never_sees_a_memory(client, make_key):
    alice, bob = headers(make_key("pro", "alice")), headers(make_key("enterprise", "bob"))
    created = client.post("/v1/memories", json={"text": "alice secret"}, headers=alice)
    memory_id = created.json["data"]["id"]
    assert_invisible(client, bob, memory_id, "alice secret")
    # Same workspace name, different owner: still invisible.
    assert_invisible(client, headers(make_key("pro", "bob"), "default"), memory_id, "alice secret")
    assert client.get(f"/v1/memories/{memory_id}", headers=alice).json["data"]["text"] == (
        "alice secret"
    )


def test_another_workspace_never_sees_a_memory(client, key):
    work, home = headers(key, "work"), headers(key, "home")
    created = client.post("/api/v1/memory", json={"text": "work only"}, headers=work)
    memory_id = created.json["id"]
    assert_invisible(client, home, memory_id, "work only")
    assert_invisible(client, headers(key), memory_id, "work only")
    assert client.get(f"/api/v1/memory/{memory_id}", headers=work).json["text"] == "work only"


def test_keys_of_one_owner_share_its_memories(client, make_key):
    first, second = headers(make_key("free")), headers(make_key("pro"))
    created = client.post("/v1/memories", json={"text": "shared"}, headers=first).json["data"]
    assert client.get(f"/v1/memories/{created['id']}", headers=second).status_code == 200


def test_the_same_custom_id_can_exist_in_two_workspaces_and_two_owners(client, make_key):
    alice = make_key("pro", "alice")
    bob = make_key("pro", "bob")
    for sent in (headers(alice, "a"), headers(alice, "b"), headers(bob, "a")):
        response = client.post("/api/v1/memory", json={"id": "same", "text": "t"}, headers=sent)
        assert response.status_code == 201
