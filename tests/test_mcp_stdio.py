"""`memory-mcp` from the Python SDK's `mcp` extra, in a fresh venv, over stdio to a real server.

The venv gets the SDK's wheel (built from this checkout) and exactly the distributions its
`mcp` extra requires, resolved from their metadata and linked from this environment (a
test downloads nothing): torch and the server are not among them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from packaging.requirements import Requirement

from mcp_clients import TOOL_NAMES, run
from server import GunicornServer, make_keys

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.server, pytest.mark.slow]


def wheel_requirements(wheel: Path, extra: str) -> list[Requirement]:
    """What a wheel's METADATA requires when installed with `extra`."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        lines = archive.read(name).decode().splitlines()
    found = [
        Requirement(line.split(":", 1)[1]) for line in lines if line.startswith("Requires-Dist:")
    ]
    return [r for r in found if r.marker is None or r.marker.evaluate({"extra": extra})]


def requirement_closure(roots: list[Requirement]) -> set[str]:
    """Distribution names `roots` need, transitively, as installed here."""
    needed: set[str] = set()
    pending = [(root, set(root.extras)) for root in roots]
    while pending:
        requirement, wanted = pending.pop()
        name = metadata.distribution(requirement.name).metadata["Name"]
        if name.lower() in needed:
            continue
        needed.add(name.lower())
        for line in metadata.requires(name) or []:
            dependency = Requirement(line)
            environments = [{"extra": extra} for extra in wanted or {""}]
            if dependency.marker is None or any(
                dependency.marker.evaluate(env) for env in environments
            ):
                pending.append((dependency, set(dependency.extras)))
    return needed


def link_distribution(name: str, site: Path) -> None:
    """Make one installed distribution importable in `site` (its files, linked)."""
    dist = metadata.distribution(name)
    base = Path(dist.locate_file(""))
    tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
    for top in tops:
        if top.endswith(".pth") or top == "__pycache__" or top.startswith("__editable__"):
            continue
        target = site / top
        if not target.exists():
            target.symlink_to(base / top)


@pytest.fixture(scope="module")
def memory_mcp(tmp_path_factory) -> Path:
    """The `memory-mcp` command of a fresh venv holding the SDK and its mcp extra only."""
    base = tmp_path_factory.mktemp("memory-mcp")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(base / "wheels"), str(ROOT / "sdk/python")],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = (base / "wheels").glob("memory_api_client-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin/python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    needed = requirement_closure(wheel_requirements(wheel, "mcp"))
    assert {"mcp", "httpx2", "requests"} <= needed
    assert not needed & {"torch", "memory-server", "sentence-transformers", "flask"}
    for name in needed:
        link_distribution(name, site)
    return venv / "bin/memory-mcp"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("mcp-stdio-server")
    made = make_keys(home / "memory.db", {"alice": ("pro", "alice"), "bob": ("pro", "bob")})
    with GunicornServer(home / "memory.db", home / "gunicorn.log") as running:
        running.keys = made
        yield running


def stdio(command: Path, url: str, key: str, workspace: str | None = None) -> Client:
    """The official client, launching `memory-mcp` as a desktop agent would."""
    env = {"PATH": os.environ["PATH"], "MEMORY_API_URL": url, "MEMORY_API_KEY": key}
    if workspace:
        env["MEMORY_API_WORKSPACE"] = workspace
    return Client(StdioServerParameters(command=str(command), env=env))


def test_the_extra_brings_no_model_and_no_server(memory_mcp):
    python = memory_mcp.parent / "python"
    probe = "import importlib.util as u; print([m for m in ('torch', 'memory_server', 'flask') if u.find_spec(m)])"  # noqa: E501
    # Run outside the checkout: `-c` puts the working directory on sys.path.
    found = subprocess.run(
        [python, "-c", probe], capture_output=True, text=True, check=True, cwd=python.parent
    )
    assert found.stdout.strip() == "[]"


def test_an_agent_over_stdio_adds_searches_updates_and_deletes(memory_mcp, server):
    async def session():
        async with stdio(memory_mcp, server.url, server.keys["alice"]) as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
            added = await client.call_tool(
                "add_memory", {"text": "Alice keeps her passport in the blue folder"}
            )
            await client.call_tool("add_memory", {"text": "The car needs new winter tyres"})
            memory_id = added.structured_content["id"]
            found = await client.call_tool("search_memories", {"query": "where is the passport"})
            got = await client.call_tool("get_memory", {"id": memory_id})
            updated = await client.call_tool(
                "update_memory", {"id": memory_id, "metadata": {"type": "document"}}
            )
            listed = await client.call_tool("list_memories", {})
            deleted = await client.call_tool("delete_memory", {"id": memory_id})
            gone = await client.call_tool("get_memory", {"id": memory_id})
            prompt = await client.get_prompt("use_memory")
            return names, memory_id, found, got, updated, listed, deleted, gone, prompt

    names, memory_id, found, got, updated, listed, deleted, gone, prompt = run(session)
    assert names == TOOL_NAMES
    assert found.structured_content["results"][0]["id"] == memory_id
    assert got.structured_content["text"] == "Alice keeps her passport in the blue folder"
    assert updated.structured_content["metadata"] == {"type": "document"}
    assert updated.structured_content["re_embedded"] is False
    assert listed.structured_content["total"] == 2
    assert deleted.structured_content == {"id": memory_id, "deleted": True}
    assert gone.is_error and gone.content[0].text == f"Memory {memory_id!r} not found"
    assert "search" in prompt.messages[0].content.text
    assert re.search(r'"tool": "add_memory"', server.log())


def test_the_workspace_and_owner_of_the_key_bound_what_an_agent_sees(memory_mcp, server):
    async def session():
        async with stdio(memory_mcp, server.url, server.keys["alice"], "travel") as client:
            await client.call_tool("add_memory", {"text": "Flight to Porto on May 3rd"})
            mine = await client.call_tool("search_memories", {"query": "flight"})
        async with stdio(memory_mcp, server.url, server.keys["alice"]) as client:
            default = await client.call_tool("search_memories", {"query": "flight to Porto"})
        async with stdio(memory_mcp, server.url, server.keys["bob"], "travel") as client:
            other = await client.call_tool("search_memories", {"query": "flight to Porto"})
        return mine, default, other

    mine, default, other = run(session)
    assert mine.structured_content["results"][0]["text"] == "Flight to Porto on May 3rd"
    assert all("Porto" not in r["text"] for r in default.structured_content["results"])
    assert other.structured_content["results"] == []


def test_a_bad_key_or_a_missing_setting_stops_it_with_one_clear_line(memory_mcp, server):
    env = {"PATH": os.environ["PATH"], "MEMORY_API_URL": server.url, "MEMORY_API_KEY": "msk_no"}
    refused = subprocess.run(
        [memory_mcp], env=env, input="", capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1
    assert "HTTP 401: Invalid or expired API key" in refused.stderr
    unset = subprocess.run(
        [memory_mcp], env={"PATH": os.environ["PATH"]}, capture_output=True, text=True, timeout=60
    )
    assert unset.returncode == 1 and "MEMORY_API_KEY is not set" in unset.stderr
