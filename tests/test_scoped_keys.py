"""Least-privilege keys: read-only keys and keys limited to some workspaces.

The write routes are found in the app's URL map, not listed here: a route added later to a
protected blueprint is checked by these tests without touching them.
"""

from __future__ import annotations

import ipaddress
import re

import pytest
from flask import Blueprint, jsonify

from helpers import headers
from mcp_clients import TOOL_NAMES, http_client, run
from memory_server.api.auth import is_protected, is_write, protect
from memory_server.api_keys import KeyStore
from memory_server.storage import migrations
from memory_server.storage.database import Database

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True

URL = "http://127.0.0.1"
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}
# A valid body for each write we know, so a write that was not refused would change something.
BODIES = {
    "memory_management.create_memory": {"text": "Sneaked in"},
    "memory_management.create_memories": {"memories": [{"text": "Sneaked in too"}]},
    "memory_management.update_memory": {"text": "Overwritten"},
    "memories_v1.create_memory": {"text": "Sneaked in"},
    "memories_v1.create_memories": {"memories": [{"text": "Sneaked in too"}]},
    "memories_v1.update_memory": {"text": "Overwritten"},
    "webhooks.create_webhook": {"url": "http://127.0.0.1:9/hook", "events": ["memory.created"]},
    "webhooks.update_webhook": {"enabled": False},
    "memory_management.search_memories": {"query": "dentist"},
    "memories_v1.search_memories": {"query": "dentist"},
    "mcp.mcp_endpoint": {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    "lanonasis.bulk_delete": {"memory_ids": ["x"]},
    "lanonasis_topics.create_topic": {"name": "Work"},
    "lanonasis_topics.update_topic": {"name": "Renamed"},
}
KNOWN_WRITES = {
    ("POST", "/api/v1/memory"),
    ("POST", "/api/v1/memory/batch"),
    ("PUT", "/api/v1/memory/<memory_id:memory_id>"),
    ("DELETE", "/api/v1/memory/<memory_id:memory_id>"),
    ("POST", "/v1/memories"),
    ("POST", "/v1/memories/batch"),
    ("PUT", "/v1/memories/<memory_id:memory_id>"),
    ("DELETE", "/v1/memories/<memory_id:memory_id>"),
    ("DELETE", "/v1/memories"),
    ("POST", "/api/v1/webhooks"),
    ("PATCH", "/api/v1/webhooks/<webhook_id>"),
    ("DELETE", "/api/v1/webhooks/<webhook_id>"),
    # The LanOnasis client's routes.
    ("POST", "/api/v1/memory/bulk/delete"),
    ("POST", "/api/v1/topics"),
    ("PUT", "/api/v1/topics/<memory_id:topic_id>"),
    ("DELETE", "/api/v1/topics/<memory_id:topic_id>"),
}


@pytest.fixture
def scoped_app(tmp_path, embedder, make_app):
    app = make_app(
        {
            "TESTING": True,
            "DATABASE": str(tmp_path / "scoped.db"),
            "WEBHOOK_ALLOWED_NETWORKS": (ipaddress.ip_network("127.0.0.0/8"),),
        }
    )
    app.extensions["memory_api"].memories.prepare()
    return app


@pytest.fixture
def sc(scoped_app):
    return scoped_app.test_client()


@pytest.fixture
def new_key(scoped_app):
    def make(tier: str = "pro", **kwargs) -> str:
        return scoped_app.extensions["memory_api"].keys.create(tier, **kwargs).plaintext

    return make


@pytest.fixture
def seeded(sc, new_key):
    """A memory, a webhook and a topic, made by a read-write key: their ids by name."""
    writer = headers(new_key())
    made = sc.post("/api/v1/memory", json={"text": "The dentist is on Tuesday"}, headers=writer)
    hook = sc.post("/api/v1/webhooks", json=BODIES["webhooks.create_webhook"], headers=writer)
    topic = sc.post("/api/v1/topics", json={"name": "Health"}, headers=writer)
    assert made.status_code == hook.status_code == topic.status_code == 201
    return {"memory_id": made.json["id"], "webhook_id": hook.json["id"],
            "topic_id": topic.json["id"]}  # fmt: skip


def protected_routes(app) -> list[tuple[str, str, str]]:
    """(method, rule, endpoint) of every route of the protected blueprints."""
    return sorted(
        (method, rule.rule, rule.endpoint)
        for rule in app.url_map.iter_rules()
        if is_protected(rule.endpoint.rpartition(".")[0] or None)
        for method in rule.methods - {"HEAD", "OPTIONS"}
    )


def url_for_rule(rule: str, seeded: dict[str, str]) -> str:
    """The rule with its path parameters filled: the seeded memory or webhook, else `x`."""
    url = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: seeded.get(m.group(1), "x"), rule)
    return url + ("?confirm=true" if url == "/v1/memories" else "")


def database_rows(app) -> dict[str, list[tuple]]:
    """Every row of every ordinary table, to see that nothing changed."""
    conn = app.extensions["memory_api"].db.connection()
    tables = [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND sql NOT LIKE 'CREATE VIRTUAL TABLE%'"
        )
    ]
    return {t: sorted(map(tuple, conn.execute(f'SELECT * FROM "{t}"'))) for t in tables}


def send(client, method: str, url: str, endpoint: str, key: str):
    extra = MCP_HEADERS if endpoint.startswith("mcp.") else {}
    body = BODIES.get(endpoint, {}) if method in ("POST", "PUT", "PATCH") else None
    return client.open(url, method=method, json=body, headers={**headers(key), **extra})


def test_every_write_route_is_refused_to_a_read_only_key_on_both_surfaces(
    scoped_app, sc, new_key, seeded
):
    routes = protected_routes(scoped_app)
    writes = [r for r in routes if is_write(r[0], scoped_app.view_functions[r[2]])]
    assert {(method, rule) for method, rule, _ in writes} == KNOWN_WRITES  # nothing missed
    reader = new_key(read_only=True)
    before = database_rows(scoped_app)
    for method, rule, endpoint in writes:
        url = url_for_rule(rule, seeded)
        response = send(sc, method, url, endpoint, reader)
        assert response.status_code == 403, (method, url, response.json)
        assert response.json["error"] == "FORBIDDEN"
        assert "read-only" in response.json["message"]
        assert "read-write key" in response.json["message"]  # what to do instead
        # Each surface's own error shape: /v1 wraps it with success false.
        assert response.json.get("success", None) is (False if url.startswith("/v1/") else None)
    assert database_rows(scoped_app) == before  # every refused write changed nothing


def test_every_read_route_answers_a_read_only_key(scoped_app, sc, new_key, seeded):
    routes = protected_routes(scoped_app)
    reads = [r for r in routes if not is_write(r[0], scoped_app.view_functions[r[2]])]
    endpoints = {endpoint for _, _, endpoint in reads}
    assert {"memory_management.search_memories", "memories_v1.search_memories"} <= endpoints
    assert "mcp.mcp_endpoint" in endpoints  # each tool decides (tested below)
    reader = new_key(read_only=True)
    for method, rule, endpoint in reads:
        url = url_for_rule(rule, seeded)
        response = send(sc, method, url, endpoint, reader)
        assert response.status_code == 200, (method, url, response.json)
    found = sc.post("/v1/memories/search", json={"query": "dentist"}, headers=headers(reader))
    assert found.json["data"][0]["id"] == seeded["memory_id"]


def test_a_write_route_added_later_is_refused_without_being_listed(make_app, tmp_path):
    later = Blueprint("added_later", __name__)
    protect(later)

    @later.post("/api/v1/something-new")
    def something_new():
        return jsonify({"changed": True})

    app = make_app({"TESTING": True, "DATABASE": str(tmp_path / "later.db")})
    app.register_blueprint(later)
    keys = app.extensions["memory_api"].keys
    client = app.test_client()
    refused = client.post(
        "/api/v1/something-new", headers=headers(keys.create("pro", read_only=True).plaintext)
    )
    assert refused.status_code == 403 and refused.json["error"] == "FORBIDDEN"
    allowed = client.post("/api/v1/something-new", headers=headers(keys.create("pro").plaintext))
    assert allowed.json == {"changed": True}


def test_a_refused_write_costs_quota_like_a_400(sc, new_key):
    reader = new_key("free", read_only=True)
    refused = sc.post("/api/v1/memory", json={"text": "no"}, headers=headers(reader))
    assert refused.status_code == 403
    assert refused.headers["X-RateLimit-Remaining"] == "99"
    assert sc.get("/api/v1/memory", headers=headers(reader)).headers["X-RateLimit-Remaining"] == (
        "98"
    )


def test_a_key_limited_to_workspaces_uses_only_those(sc, new_key):
    key = new_key(workspaces=["a", "b"])
    stored = sc.post("/v1/memories", json={"text": "In a"}, headers=headers(key, "a"))
    assert stored.status_code == 201
    assert sc.get("/v1/memories", headers=headers(key, "b")).json["pagination"]["total"] == 0

    other = sc.get("/v1/memories", headers=headers(key, "c"))
    assert other.status_code == 403
    assert other.json["success"] is False and other.json["error"] == "FORBIDDEN"
    assert other.json["details"] == {"header": "X-Workspace-ID"}
    assert "workspace 'c'" in other.json["message"] and "(a, b)" in other.json["message"]
    missing = sc.post("/api/v1/memory", json={"text": "no"}, headers=headers(key))
    assert missing.status_code == 403 and "success" not in missing.json
    assert "no X-Workspace-ID header means 'default'" in missing.json["message"]
    # Malformed is still the 400 it always was.
    assert sc.get("/v1/memories", headers=headers(key, "a b")).status_code == 400

    with_default = new_key(workspaces=["default", "a"])
    assert sc.get("/api/v1/memory", headers=headers(with_default)).status_code == 200
    assert sc.get("/api/v1/memory", headers=headers(with_default, "b")).status_code == 403


def test_the_workspace_limit_applies_to_mcp_and_webhooks(sc, new_key):
    key = new_key(workspaces=["a"])
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    refused = sc.post("/mcp", json=listing, headers={**headers(key, "b"), **MCP_HEADERS})
    assert refused.status_code == 403 and refused.json["error"] == "FORBIDDEN"
    allowed = sc.post("/mcp", json=listing, headers={**headers(key, "a"), **MCP_HEADERS})
    assert allowed.status_code == 200 and len(allowed.json["result"]["tools"]) == len(TOOL_NAMES)
    hook = sc.post("/api/v1/webhooks", json=BODIES["webhooks.create_webhook"], headers=headers(key))
    assert hook.status_code == 403


def test_stats_of_a_restricted_key_show_only_its_workspaces(sc, new_key):
    owner_key = new_key()
    for workspace, count in (("default", 1), ("a", 2), ("b", 1), ("secret-project", 3)):
        for i in range(count):
            text = {"text": f"Memory {i} of {workspace}"}
            assert sc.post("/api/v1/memory", json=text, headers=headers(owner_key, workspace))
    limited = new_key(workspaces=["a", "b"], read_only=True)
    stats = sc.get("/api/v1/memory/stats", headers=headers(limited, "a"))
    assert stats.status_code == 200
    assert stats.json["workspace"] == "a" and stats.json["memories"] == 2
    assert [w["workspace"] for w in stats.json["owner"]["workspaces"]] == ["a", "b"]
    assert stats.json["owner"]["memories"] == 3
    assert "secret-project" not in stats.get_data(as_text=True)
    full = sc.get("/api/v1/memory/stats", headers=headers(owner_key, "a")).json
    assert full["owner"]["memories"] == 7 and len(full["owner"]["workspaces"]) == 4


def test_mcp_lists_only_the_read_tools_to_a_read_only_key_and_refuses_the_others(
    scoped_app, sc, new_key
):
    writer, reader = new_key(), new_key(read_only=True)
    memory_id = sc.post(
        "/api/v1/memory", json={"text": "The boiler was serviced in May"}, headers=headers(writer)
    ).json["id"]
    before = database_rows(scoped_app)

    async def session():
        async with http_client(URL, reader, app=scoped_app) as client:
            tools = [tool.name for tool in (await client.list_tools()).tools]
            refused = [
                await client.call_tool("add_memory", {"text": "Sneaked in"}),
                await client.call_tool("update_memory", {"id": memory_id, "text": "Changed"}),
                await client.call_tool("delete_memory", {"id": memory_id}),
                await client.call_tool("add_memory", {"not": "even valid"}),
            ]
            found = await client.call_tool("search_memories", {"query": "boiler"})
            got = await client.call_tool("get_memory", {"id": memory_id})
            return tools, refused, found, got

    tools, refused, found, got = run(session)
    assert tools == ["search_memories", "get_memory", "memory_history", "list_memories"]
    assert set(tools) < set(TOOL_NAMES)
    for result in refused:
        assert result.is_error
        assert result.structured_content["status"] == 403
        assert result.structured_content["error"] == "FORBIDDEN"
        assert "read-only" in result.content[0].text
    assert not found.is_error and found.structured_content["results"][0]["id"] == memory_id
    assert not got.is_error and got.structured_content["text"] == "The boiler was serviced in May"
    assert database_rows(scoped_app) == before


def test_keys_create_with_restrictions_and_keys_list_shows_them(scoped_app):
    runner = scoped_app.test_cli_runner()
    made = runner.invoke(
        args=["keys", "create", "--tier", "pro", "--name", "agent", "--read-only",
              "--workspace", "a", "--workspace", "b"]
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "read-only, workspaces a,b" in made.stdout.splitlines()[0]
    key = scoped_app.extensions["memory_api"].keys.authenticate(made.stdout.split()[-1])
    assert key.read_only and key.workspaces == ("a", "b")
    runner.invoke(args=["keys", "create", "--tier", "free", "--name", "laptop"])

    listed = runner.invoke(args=["keys", "list"]).stdout.splitlines()
    assert listed[0].split()[4:6] == ["ACCESS", "WORKSPACES"]
    rows = {line.split()[3]: line.split() for line in listed[1:]}
    assert rows["agent"][4:6] == ["read-only", "a,b"]
    assert rows["laptop"][4:6] == ["read-write", "all"]


def test_keys_create_refuses_a_bad_workspace_name(runner):
    bad = runner.invoke(args=["keys", "create", "--tier", "free", "--workspace", "a/b"])
    assert bad.exit_code == 2
    assert "workspace 'a/b' must be 1-64 characters" in bad.output


def test_key_store_restrictions(tmp_path):
    db = Database(tmp_path / "keys.db")
    db.migrate()
    keys = KeyStore(db)
    new = keys.create("free", workspaces=["a", "b", "a"], read_only=True)
    assert new.key.workspaces == ("a", "b") and new.key.access == "read-only"
    assert keys.authenticate(new.plaintext) == new.key
    assert new.key.may_use("a") and not new.key.may_use("default")
    full = keys.create("free").key
    assert full.workspaces is None and not full.read_only and full.may_use("anything")
    for bad in ([], ["a b"], ["x" * 65]):
        with pytest.raises(ValueError, match="workspace"):
            keys.create("free", workspaces=bad)
    db.close()


def test_keys_made_before_the_migration_keep_full_access(tmp_path, monkeypatch):
    ours = next(i for i, m in enumerate(migrations.MIGRATIONS) if "read_only" in str(m))
    everything = migrations.MIGRATIONS
    monkeypatch.setattr(migrations, "MIGRATIONS", everything[:ours])
    db = Database(tmp_path / "old.db")
    db.migrate()
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO api_keys (id, secret_hash, owner, name, tier, created_at)"
            " VALUES ('key_000000000001', 'x', 'default', 'old', 'pro', '2026-01-01')"
        )
    db.close()
    monkeypatch.setattr(migrations, "MIGRATIONS", everything)
    db = Database(tmp_path / "old.db")
    db.migrate()
    (old,) = KeyStore(db).list()
    assert (old.read_only, old.workspaces, old.access) == (False, None, "read-write")
    db.close()
