"""MCP over /mcp on real gunicorn: the official client over real HTTP, as an agent would use it.

One server for the module (as `make run` starts it); each test uses keys or a workspace of
its own, so the tests do not see each other's memories, quota or log lines.
tests/test_mcp.py runs the same client in process, through the same front.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import MCPError

from helpers import headers
from mcp_clients import TOOL_NAMES, http_client, run
from server import GunicornServer, make_keys, request

pytestmark = pytest.mark.server

KEYS = {  # name: (tier, owner)
    "agent": ("pro", "agent"),
    "alice": ("pro", "alice"),
    "bob": ("pro", "bob"),
    "free": ("free", "frugal"),
    "logged": ("pro", "logged"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """gunicorn as `make run` starts it, with keys made in its database beforehand."""
    home = tmp_path_factory.mktemp("mcp-gunicorn")
    keys = make_keys(home / "memory.db", KEYS)
    running = GunicornServer(
        home / "memory.db",
        home / "gunicorn.log",
        MEMORY_API_TIER_LIMITS="free=100/hour,pro=1000/hour,enterprise=unlimited",
    ).start()
    running.keys = keys
    yield running
    running.stop()


def access_lines(server: GunicornServer) -> list[dict[str, Any]]:
    """The request log's JSON lines (the app's own; gunicorn's lines are not JSON)."""
    lines = []
    for text in server.log().splitlines():
        if text.startswith("{"):
            line = json.loads(text)
            if "path" in line and "duration_ms" in line:
                lines.append(line)
    return lines


def test_an_agent_lists_the_tools_and_adds_finds_reads_changes_and_forgets(server):
    key = server.keys["agent"]

    async def session():
        async with http_client(server.url, key, workspace="crud") as client:
            tools = (await client.list_tools()).tools
            added = await client.call_tool(
                "add_memory",
                {
                    "text": "The user's cat Miso is afraid of the vacuum",
                    "metadata": {"type": "pet"},
                },
            )
            for text in (
                "The quarterly report is due on Friday",
                "The user's favourite editor is Helix",
                "The office wifi password rotates every month",
            ):
                other = await client.call_tool("add_memory", {"text": text})
                assert not other.is_error, other.content
            memory_id = added.structured_content["id"]
            found = await client.call_tool("search_memories", {"query": "what scares the pet"})
            got = await client.call_tool("get_memory", {"id": memory_id})
            updated = await client.call_tool(
                "update_memory", {"id": memory_id, "text": "Miso the cat now ignores the vacuum"}
            )
            again = await client.call_tool("get_memory", {"id": memory_id})
            listed = await client.call_tool("list_memories", {"limit": 2})
            deleted = await client.call_tool("delete_memory", {"id": memory_id})
            gone = await client.call_tool("get_memory", {"id": memory_id})
            after = await client.call_tool("list_memories", {})
            return tools, memory_id, added, found, got, updated, again, listed, deleted, gone, after

    tools, memory_id, added, found, got, updated, again, listed, deleted, gone, after = run(session)
    assert [tool.name for tool in tools] == TOOL_NAMES
    assert not added.is_error and memory_id.startswith("mem_")
    assert added.structured_content["metadata"] == {"type": "pet"}
    assert json.loads(added.content[0].text) == added.structured_content

    hits = found.structured_content["results"]
    assert len(hits) >= 2  # ranked first among several, not merely the only match
    assert hits[0]["id"] == memory_id and 0 < hits[0]["score"] <= 1
    assert hits[0]["score"] > hits[1]["score"]
    assert hits[0]["text"] == "The user's cat Miso is afraid of the vacuum"

    assert not got.is_error
    assert got.structured_content["text"] == "The user's cat Miso is afraid of the vacuum"
    assert got.structured_content["metadata"] == {"type": "pet"}
    assert updated.structured_content["id"] == memory_id
    assert updated.structured_content["re_embedded"] is True
    assert again.structured_content["text"] == "Miso the cat now ignores the vacuum"

    page = listed.structured_content
    assert page["total"] == 4 and page["limit"] == 2 and len(page["memories"]) == 2
    assert page["total_pages"] == 2

    assert deleted.structured_content == {"id": memory_id, "deleted": True}
    assert gone.is_error and gone.content[0].text == f"Memory '{memory_id}' not found"
    assert gone.structured_content["error"] == "NOT_FOUND"
    assert after.structured_content["total"] == 3
    assert memory_id not in [m["id"] for m in after.structured_content["memories"]]


def test_a_bad_key_is_refused_and_the_client_gets_nothing(server):
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    for bad in ({"Authorization": "Bearer msk_not_a_key"}, {}):
        status, response_headers, body = request(
            "POST",
            f"{server.url}/mcp",
            call,
            {**bad, "Accept": "application/json, text/event-stream"},
        )
        assert status == 401, body
        assert response_headers["Content-Type"] == "application/json"
        assert body["error"] == "UNAUTHORIZED"
        assert response_headers["WWW-Authenticate"].startswith("Bearer")

    listed: list[Any] = []

    async def session():
        async with http_client(server.url, "msk_not_a_key") as client:
            listed.append(await client.list_tools())

    # The client fails at once: it can list and call nothing (the 401 above is why).
    with pytest.raises(BaseExceptionGroup) as failed:
        run(session)
    assert failed.group_contains(MCPError)
    assert listed == []
    assert "msk_not_a_key" not in server.log()


def test_an_agent_never_reaches_another_owners_memories(server):
    alice, bob = server.keys["alice"], server.keys["bob"]

    async def session():
        # Same workspace name for both: only the owner tells them apart.
        async with http_client(server.url, alice, workspace="shared-name") as client:
            mine = await client.call_tool("add_memory", {"text": "Alice's locker code is 4512"})
        memory_id = mine.structured_content["id"]
        async with http_client(server.url, bob, workspace="shared-name") as client:
            seen_by_bob = (
                await client.call_tool("search_memories", {"query": "locker code"}),
                await client.call_tool(
                    "search_memories", {"query": "Alice locker 4512", "mode": "hybrid"}
                ),
                await client.call_tool("list_memories", {}),
                await client.call_tool("get_memory", {"id": memory_id}),
                await client.call_tool("update_memory", {"id": memory_id, "text": "Bob was here"}),
                await client.call_tool("delete_memory", {"id": memory_id}),
            )
        async with http_client(server.url, alice, workspace="shared-name") as client:
            still_mine = await client.call_tool("get_memory", {"id": memory_id})
        return memory_id, seen_by_bob, still_mine

    memory_id, (search, hybrid, listed, got, updated, deleted), still_mine = run(session)
    assert search.structured_content["results"] == []
    assert hybrid.structured_content["results"] == []
    assert listed.structured_content["total"] == 0 and listed.structured_content["memories"] == []
    for refused in (got, updated, deleted):
        assert refused.is_error
        assert refused.content[0].text == f"Memory '{memory_id}' not found"
    assert not still_mine.is_error
    assert still_mine.structured_content["text"] == "Alice's locker code is 4512"


def test_tool_calls_count_against_the_keys_quota_like_rest_requests(server):
    free = server.keys["free"]  # 100 requests an hour on this server

    async def session():
        async with http_client(server.url, free) as client:
            for _ in range(5):
                await client.list_tools()  # listing costs nothing
            for i in range(60):
                result = await client.call_tool("get_memory", {"id": f"mem_{i}"})
                assert result.is_error and "not found" in result.content[0].text

    run(session)
    status, response_headers, _ = request(
        "GET", f"{server.url}/api/v1/memory", headers=headers(free)
    )
    assert status == 200
    assert response_headers["X-RateLimit-Limit"] == "100"
    # 60 tool calls and this request: 39 left (at most 40, as a REST client would have).
    assert int(response_headers["X-RateLimit-Remaining"]) <= 40
    assert response_headers["X-RateLimit-Remaining"] == "39"


def test_each_mcp_request_is_one_log_line_with_its_method_and_tool_and_never_the_key(server):
    key = server.keys["logged"]
    sent: list[str | None] = []

    async def record(http_request: Any) -> None:
        if http_request.url.path == "/mcp":
            body = json.loads(http_request.content or b"{}")
            sent.append(body.get("method") if http_request.method == "POST" else None)

    async def session():
        async with http_client(
            server.url, key, workspace="logged", event_hooks={"request": [record]}
        ) as client:
            await client.list_tools()
            await client.call_tool("add_memory", {"text": "Logged calls carry no memory text"})
            await client.call_tool("list_memories", {})
            await client.call_tool("get_memory", {"id": "mem_missing"})

    run(session)
    lines = [line for line in access_lines(server) if line["workspace"] == "logged"]
    assert [line["mcp_method"] for line in lines] == sent, (lines, sent)
    assert sent.count("tools/call") == 3 and "tools/list" in sent
    tools = [line["tool"] for line in lines if line["mcp_method"] == "tools/call"]
    assert tools == ["add_memory", "list_memories", "get_memory"]
    for line in lines:
        assert line["path"] == "/mcp" and line["method"] == "POST"
        assert line["status"] == 200 and line["key_id"].startswith("key_")
        assert line["duration_ms"] >= 0
        assert ("tool" in line) == (line["mcp_method"] == "tools/call")

    log = server.log()
    assert "Logged calls carry no memory text" not in log
    for plaintext in server.keys.values():
        assert plaintext not in log
