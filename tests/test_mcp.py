"""MCP over /mcp, in process: the official client through the HTTP front, no gunicorn.

Every call goes through the same ASGI front, Flask hooks and MCP SDK as on a real server
(tests/test_mcp_gunicorn.py runs the same client against gunicorn).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import jsonschema
import pytest

from helpers import headers
from mcp_clients import TOOL_NAMES, http_client, run
from memory_server.mcp import bridge as bridge_module
from memory_server.mcp.tools import TOOLS

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True

URL = "http://127.0.0.1"


def test_the_six_tools_are_described_for_a_model(app, key):
    async def session():
        async with http_client(URL, key, app=app) as client:
            return (await client.list_tools()).tools, client.instructions

    tools, instructions = run(session)
    assert [tool.name for tool in tools] == TOOL_NAMES
    by_name = {tool.name: tool for tool in tools}
    for tool in tools:
        assert len(tool.description) > 80 and tool.title
        assert tool.input_schema["type"] == "object"
        assert tool.input_schema["additionalProperties"] is False
        assert tool.annotations.open_world_hint is False
    assert by_name["add_memory"].input_schema["required"] == ["text"]
    assert set(by_name["add_memory"].input_schema["properties"]) == {
        "id", "text", "metadata", "ttl_seconds", "expires_at", "on_duplicate",
        "duplicate_threshold",
    }  # fmt: skip
    search = by_name["search_memories"].input_schema
    assert search["properties"]["mode"]["enum"] == ["semantic", "keyword", "hybrid"]
    assert "Filters" in search["$defs"]  # the REST filter grammar, carried with the tool
    assert by_name["search_memories"].annotations.read_only_hint is True
    assert by_name["delete_memory"].annotations.destructive_hint is True
    assert by_name["add_memory"].annotations.read_only_hint is False
    assert "search" in instructions and "store" in instructions


def test_add_search_get_update_list_delete(app, key):
    async def session():
        async with http_client(URL, key, app=app) as client:
            added = await client.call_tool(
                "add_memory",
                {
                    "text": "The user's cat Miso is afraid of the vacuum",
                    "metadata": {"type": "pet"},
                },
            )
            await client.call_tool("add_memory", {"text": "The quarterly report is due Friday"})
            memory_id = added.structured_content["id"]
            found = await client.call_tool("search_memories", {"query": "what scares the pet"})
            got = await client.call_tool("get_memory", {"id": memory_id})
            updated = await client.call_tool(
                "update_memory", {"id": memory_id, "text": "Miso the cat now ignores the vacuum"}
            )
            listed = await client.call_tool("list_memories", {"limit": 1})
            deleted = await client.call_tool("delete_memory", {"id": memory_id})
            gone = await client.call_tool("get_memory", {"id": memory_id})
            return memory_id, added, found, got, updated, listed, deleted, gone

    memory_id, added, found, got, updated, listed, deleted, gone = run(session)
    assert not added.is_error and memory_id.startswith("mem_")
    assert added.structured_content["metadata"] == {"type": "pet"}
    assert json.loads(added.content[0].text) == added.structured_content
    hits = found.structured_content["results"]
    assert hits[0]["id"] == memory_id and 0 < hits[0]["score"] <= 1
    assert hits[0]["text"] == "The user's cat Miso is afraid of the vacuum"
    assert got.structured_content["text"] == "The user's cat Miso is afraid of the vacuum"
    assert updated.structured_content["re_embedded"] is True
    page = listed.structured_content
    assert page["total"] == 2 and page["limit"] == 1 and len(page["memories"]) == 1
    assert deleted.structured_content == {"id": memory_id, "deleted": True}
    assert gone.is_error and gone.content[0].text == f"Memory {memory_id!r} not found"
    assert gone.structured_content["error"] == "NOT_FOUND"


def test_a_long_memory_comes_back_as_its_best_chunk(app, key):
    filler = "\n\n".join(
        f"Log entry {i}: the nightly backup of server {i} finished without errors."
        for i in range(300)
    )
    text = filler + "\n\nThe spare office key is taped under the third drawer.\n\n" + filler

    async def session():
        async with http_client(URL, key, app=app) as client:
            await client.call_tool("add_memory", {"text": text})
            return await client.call_tool("search_memories", {"query": "where is the spare key"})

    hit = run(session).structured_content["results"][0]
    assert "taped under the third drawer" in hit["text"]
    assert len(hit["text"]) < 1_500 < len(text)
    excerpt = hit["excerpt"]
    assert text[excerpt["start"] : excerpt["end"]] == hit["text"]
    assert excerpt["of_length"] == len(text)


def test_bad_arguments_are_tool_errors_and_change_nothing(app, key, client, auth):
    async def session():
        async with http_client(URL, key, app=app) as client:
            return [
                await client.call_tool("add_memory", {"text": "   "}),
                await client.call_tool("add_memory", {"text": "x", "embedding": [0.1]}),
                await client.call_tool("search_memories", {"query": "x", "mode": "fuzzy"}),
                await client.call_tool("update_memory", {"id": "mem_1"}),
                await client.call_tool("list_memories", {"limit": 1000}),
                await client.call_tool("forget_everything", {}),
            ]

    results = run(session)
    assert all(result.is_error for result in results)
    assert results[0].content[0].text == "Invalid field: text"
    assert results[0].structured_content["details"]["fields"]["text"]
    assert results[1].structured_content["details"]["fields"] == {"embedding": ["Unknown field."]}
    assert results[2].content[0].text == "Invalid field: mode"
    assert results[3].content[0].text == (
        "Provide text, metadata, ttl_seconds and/or expires_at to update."
    )
    assert results[4].content[0].text == "Invalid field: limit"
    assert "No tool named 'forget_everything'" in results[5].content[0].text
    assert client.get("/api/v1/memory", headers=auth).json["pagination"]["total"] == 0


def test_agents_get_duplicates_expiry_and_history(app, key):
    fact = "My sister Anna lives in Porto and works as a nurse."

    async def session():
        async with http_client(URL, key, app=app) as client:
            first = await client.call_tool("add_memory", {"text": fact, "ttl_seconds": 3600})
            again = await client.call_tool("add_memory", {"text": fact})
            reworded = await client.call_tool(
                "add_memory",
                {"text": fact.replace("works", "she works"), "duplicate_threshold": 0.95},
            )
            memory_id = first.structured_content["id"]
            kept = await client.call_tool(
                "update_memory", {"id": memory_id, "text": fact + " Since 2020.",
                                  "expires_at": None}
            )  # fmt: skip
            history = await client.call_tool("memory_history", {"id": memory_id})
            return first, again, reworded, kept, history

    first, again, reworded, kept, history = run(session)
    assert first.structured_content["status"] == "stored"
    assert first.structured_content["expires_at"] is not None
    for duplicate in (again, reworded):
        assert not duplicate.is_error
        assert duplicate.structured_content["status"] == "duplicate"
        assert duplicate.structured_content["id"] == first.structured_content["id"]
    assert again.structured_content["similarity"] == 1.0
    assert kept.structured_content["expires_at"] is None
    versions = history.structured_content["history"]
    assert [(v["version"], v["event"]) for v in versions] == [(1, "created"), (2, "updated")]
    assert versions[0]["text"] == fact


def test_a_bad_key_is_refused_before_any_tool(app, key):
    raw = app.test_client().post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert raw.status_code == 401 and raw.json["error"] == "UNAUTHORIZED"
    assert raw.headers["WWW-Authenticate"].startswith("Bearer")

    async def session():
        async with http_client(URL, "sk_not_a_key", app=app) as client:
            await client.list_tools()

    # The client fails at once: it can list and call nothing (the 401 above is why).
    with pytest.raises(BaseExceptionGroup, match="unhandled errors"):
        run(session)


def test_an_agent_sees_only_its_owner_and_workspace(app, make_key):
    alice, bob = make_key("pro", owner="alice"), make_key("pro", owner="bob")

    async def session():
        async with http_client(URL, alice, app=app) as client:
            mine = await client.call_tool("add_memory", {"text": "Alice's locker code is 4512"})
        async with http_client(URL, alice, workspace="work", app=app) as client:
            other_workspace = await client.call_tool("search_memories", {"query": "locker code"})
        async with http_client(URL, bob, app=app) as client:
            memory_id = mine.structured_content["id"]
            return (
                other_workspace,
                await client.call_tool("search_memories", {"query": "locker code"}),
                await client.call_tool("list_memories", {}),
                await client.call_tool("get_memory", {"id": memory_id}),
                await client.call_tool("delete_memory", {"id": memory_id}),
            )

    other_workspace, search, listed, got, deleted = run(session)
    assert other_workspace.structured_content["results"] == []
    assert search.structured_content["results"] == []
    assert listed.structured_content["total"] == 0
    assert got.is_error and deleted.is_error and "not found" in got.content[0].text


def test_tool_calls_use_the_keys_quota_and_listing_costs_nothing(app, make_key, client):
    free = make_key("free")  # 100 requests an hour

    async def session():
        async with http_client(URL, free, app=app) as client:
            for _ in range(5):
                await client.list_tools()
            for i in range(60):
                await client.call_tool("get_memory", {"id": f"mem_{i}"})

    run(session)
    response = client.get("/api/v1/memory", headers=headers(free))
    assert response.status_code == 200
    # 60 tool calls and this request: 39 left (at most 40, as a REST client would have).
    assert response.headers["X-RateLimit-Remaining"] == "39"


def test_a_tool_call_over_quota_is_a_tool_error_saying_when_to_retry(make_app, db_path):
    app = make_app(
        {
            "TESTING": True,
            "DATABASE": str(db_path),
            "TIER_LIMITS": {"free": "2/hour", "pro": "1000/hour", "enterprise": None},
        }
    )
    free = app.extensions["memory_api"].keys.create("free").plaintext

    async def session():
        async with http_client(URL, free, app=app) as client:
            return [await client.call_tool("list_memories", {}) for _ in range(3)]

    first, second, third = run(session)
    assert not first.is_error and not second.is_error
    assert third.is_error and third.structured_content["error"] == "RATE_LIMITED"
    assert third.content[0].text.startswith("Too many requests: retry in ")
    assert third.structured_content["retry_after"] > 0


def test_a_lan_name_is_served_only_once_configured(make_app, db_path):
    lan = "http://api.lanonasis.local:8000"
    plain = make_app({"TESTING": True, "DATABASE": str(db_path)})
    key = plain.extensions["memory_api"].keys.create("pro").plaintext
    refused = plain.test_client().post(
        "/mcp", json={}, headers={**headers(key), "Host": "api.lanonasis.local:8000"}
    )
    assert refused.status_code == 421
    assert "MEMORY_API_MCP_ALLOWED_HOSTS" in refused.json["message"]

    configured = make_app(
        {
            "TESTING": True,
            "DATABASE": str(db_path),
            "MCP_ALLOWED_HOSTS": ("api.lanonasis.local",),
        }
    )

    async def session():
        # httpx2's ASGI transport never resolves the name: nothing leaves this process.
        async with http_client(lan, key, app=configured) as client:
            return await client.call_tool("add_memory", {"text": "Reached over the LAN name"})

    assert not run(session).is_error
    page = configured.test_client().post(
        "/mcp",
        json={},
        headers={**headers(key), "Host": "api.lanonasis.local", "Origin": "http://evil.example"},
    )
    assert page.status_code == 403 and page.json["error"] == "FORBIDDEN_ORIGIN"


def test_each_mcp_request_is_logged_with_its_method_and_tool(app, key, caplog):
    caplog.set_level(logging.INFO, logger="memory_api.access")

    async def session():
        async with http_client(URL, key, workspace="notes", app=app) as client:
            await client.list_tools()
            await client.call_tool("list_memories", {})

    run(session)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "memory_api.access"]
    tool_lines = [line for line in lines if line.get("tool") == "list_memories"]
    assert len(tool_lines) == 1
    line = tool_lines[0]
    assert line["path"] == "/mcp" and line["status"] == 200 and line["workspace"] == "notes"
    assert line["key_id"] and line["mcp_method"] == "tools/call"
    assert any(line.get("mcp_method") == "tools/list" for line in lines)
    assert key not in caplog.text


def test_the_memory_guide_is_a_prompt(app, key):
    async def session():
        async with http_client(URL, key, app=app) as client:
            listed = await client.list_prompts()
            return listed, await client.get_prompt("use_memory")

    listed, prompt = run(session)
    assert [p.name for p in listed.prompts] == ["use_memory"]
    assert "update_memory" in prompt.messages[0].content.text


def test_get_and_delete_are_405_in_stateless_mode(app, key):
    # No server-sent event stream to open and no session to end: the spec's 405.
    client = app.test_client()
    stream = client.get("/mcp", headers={**headers(key), "Accept": "text/event-stream"})
    assert stream.status_code == 405 and "POST" in stream.headers["Allow"]
    assert stream.json["error"] == "METHOD_NOT_ALLOWED"
    assert client.delete("/mcp", headers=headers(key)).status_code == 405


def test_the_bridge_cancels_a_request_that_never_ends(monkeypatch):
    async def hangs(scope, receive, send):
        await asyncio.sleep(3600)

    monkeypatch.setattr(bridge_module, "DEADLINE_S", 0.2)
    bridge = bridge_module.Bridge(hangs, contextlib.nullcontext)
    try:
        with pytest.raises(bridge_module.BridgeTimeout, match=r"no answer within 0\.2 s"):
            bridge.handle({"type": "http"}, b"")
    finally:
        bridge.close()


def test_every_structured_result_matches_its_tools_output_schema(app, key):
    # The official client checks structured content against outputSchema itself; this
    # also checks every tool declares one and that its results keep to it.
    async def session():
        async with http_client(URL, key, app=app) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            added = await client.call_tool("add_memory", {"text": "Tea, not coffee"})
            memory_id = added.structured_content["id"]
            results = {
                "add_memory": added,
                "search_memories": await client.call_tool("search_memories", {"query": "tea"}),
                "get_memory": await client.call_tool("get_memory", {"id": memory_id}),
                "update_memory": await client.call_tool(
                    "update_memory", {"id": memory_id, "metadata": {"k": 1}}
                ),
                "memory_history": await client.call_tool("memory_history", {"id": memory_id}),
                "list_memories": await client.call_tool("list_memories", {}),
                "delete_memory": await client.call_tool("delete_memory", {"id": memory_id}),
            }
            return tools, results

    tools, results = run(session)
    assert set(results) == set(tools)
    for name, result in results.items():
        assert not result.is_error, name
        jsonschema.validate(result.structured_content, tools[name].output_schema)


def test_a_batch_of_tool_calls_runs_nothing_and_costs_nothing(app, make_key, client):
    free = make_key("free")
    calls = [
        {"jsonrpc": "2.0", "id": i, "method": "tools/call",
         "params": {"name": "add_memory", "arguments": {"text": f"batched {i}"}}}
        for i in range(3)
    ]  # fmt: skip
    answer = client.post(
        "/mcp",
        json=calls,
        headers={**headers(free), "Accept": "application/json, text/event-stream"},
    )
    assert answer.status_code == 400 and answer.json["error"]["code"] == -32602
    listed = client.get("/api/v1/memory", headers=headers(free))
    assert listed.json["pagination"]["total"] == 0
    assert listed.headers["X-RateLimit-Remaining"] == "99"  # only this GET was counted


def test_a_tool_runs_only_in_a_request_that_is_one_counted_tool_call(app):
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    with app.test_request_context("/mcp", method="POST", json=message):
        refused = TOOLS["add_memory"].call({"text": "sneaked in"})
    assert refused.is_error
    assert refused.content[0].text == "Send each tool call as a request of its own"


def test_allowed_hosts_are_compared_as_names_and_loopback_stays_allowed(make_app, db_path):
    app = make_app(
        {
            "TESTING": True,
            "DATABASE": str(db_path),
            "MCP_ALLOWED_HOSTS": ("Memory.LAN:8000", "[fe80::1]"),
            "BIND": "unix:/run/memory.sock",
        }
    )
    key = app.extensions["memory_api"].keys.create("pro").plaintext
    client = app.test_client()

    def status(host: str) -> int:
        return client.post("/mcp", json={}, headers={**headers(key), "Host": host}).status_code

    assert status("memory.lan") != 421 and status("[fe80::1]:8000") != 421
    assert status("127.0.0.1:8000") != 421 and status("[::1]:8000") != 421
    assert status("localhost") != 421
    assert status("unix") == 421 and status("other.lan") == 421


def test_a_bridge_whose_app_cannot_start_fails_every_request_at_once():
    @contextlib.asynccontextmanager
    async def broken():
        raise OSError("no session manager")
        yield

    bridge = bridge_module.Bridge(lambda scope, receive, send: None, broken)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="did not start: no session manager"):
            bridge.handle({"type": "http"}, b"")
