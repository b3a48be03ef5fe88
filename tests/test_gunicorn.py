"""The server as `make run` starts it: real gunicorn, real HTTP, the seeds' examples."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from memory_server.storage.database import Database
from memory_server.storage.memory_store import MemoryStore
from server import GunicornServer, request

pytestmark = pytest.mark.server
KEY_LINE = re.compile(r"^\s+(msk_\S+)\s*$", re.MULTILINE)


@pytest.fixture
def server(tmp_path):
    with GunicornServer(tmp_path / "memory.db", tmp_path / "gunicorn.log") as running:
        yield running


def first_key(server: GunicornServer) -> str:
    keys = KEY_LINE.findall(server.log())
    assert len(keys) == 1, server.log()
    return keys[0]


def test_first_start_prints_one_enterprise_key_and_a_restart_prints_none(tmp_path):
    db, log = tmp_path / "memory.db", tmp_path / "gunicorn.log"
    with GunicornServer(db, log) as server:
        key = first_key(server)
        assert "enterprise key" in server.log()
        status, _, body = request("GET", f"{server.url}/v1/memories", headers=auth(key))
        assert status == 200 and body["success"] is True
    with GunicornServer(db, log) as server:
        assert KEY_LINE.findall(server.log()) == [key]  # still only the first one


def auth(key: str, workspace: str | None = None) -> dict[str, str]:
    found = {"Authorization": f"Bearer {key}"}
    if workspace:
        found["X-Workspace-ID"] = workspace
    return found


def test_the_seed_examples_over_http(server):
    key, url = first_key(server), server.url

    status, headers, body = request(
        "POST",
        f"{url}/v1/memories",
        {
            "text": "User works as a data scientist at TechCorp",
            "metadata": {"category": "professional"},
        },
        auth(key),
    )
    assert status == 201 and body["success"] is True
    memory_id = body["data"]["id"]
    assert headers["Content-Type"] == "application/json"

    status, _, body = request("GET", f"{url}/v1/memories?page=1&per_page=20", headers=auth(key))
    assert status == 200 and [m["id"] for m in body["data"]] == [memory_id]

    status, _, body = request(
        "PUT",
        f"{url}/v1/memories/{memory_id}",
        {"text": "User is a senior data scientist at TechCorp"},
        auth(key),
    )
    assert status == 200 and body["data"]["text"].startswith("User is a senior")

    status, _, body = request(
        "POST",
        f"{url}/api/v1/memory",
        {
            "text": "Meeting notes from Q4 planning",
            "metadata": {"type": "meeting", "tags": ["planning", "q4"]},
        },
        auth(key, "workspace_123"),
    )
    assert status == 201
    assert body["status"] == "stored" and body["embedding_generated"] is True
    assert body["vector_dimensions"] == 384 and body["tokens_used"] > 0
    management_id = body["id"]

    status, _, body = request(
        "GET", f"{url}/api/v1/memory/{management_id}", headers=auth(key, "workspace_123")
    )
    assert status == 200 and len(body["embedding"]) == 384
    status, _, _ = request("GET", f"{url}/api/v1/memory/{management_id}", headers=auth(key))
    assert status == 404  # another workspace

    status, _, body = request(
        "PUT",
        f"{url}/api/v1/memory/{management_id}",
        {
            "text": "Updated meeting notes",
            "metadata": {"type": "meeting", "tags": ["planning", "q4", "revised"]},
        },
        auth(key, "workspace_123"),
    )
    assert body == {
        "id": management_id, "status": "updated", "embedding_regenerated": True,
        "expires_at": None,
    }  # fmt: skip

    status, _, body = request(
        "DELETE", f"{url}/api/v1/memory/{management_id}", headers=auth(key, "workspace_123")
    )
    assert body == {"success": True, "deleted_id": management_id}

    status, _, body = request("DELETE", f"{url}/v1/memories/{memory_id}", headers=auth(key))
    assert status == 200
    status, _, body = request("DELETE", f"{url}/v1/memories?confirm=true", headers=auth(key))
    assert status == 200 and body["data"] == {"deleted_count": 0}


def test_errors_over_http(server):
    key, url = first_key(server), server.url
    status, _, body = request("POST", f"{url}/api/v1/memory", {"metadata": {}}, auth(key))
    assert (status, body) == (
        400,
        {
            "error": "INVALID_REQUEST",
            "message": "Text field is required",
            "details": {"missing_fields": ["text"]},
        },
    )
    status, _, body = request("GET", f"{url}/api/v1/memory/x", headers=auth("msk_wrong"))
    assert (status, body) == (
        401,
        {"error": "UNAUTHORIZED", "message": "Invalid or expired API key"},
    )
    status, _, body = request("POST", f"{url}/v1/memories", {"text": "x" * 2_000_000}, auth(key))
    assert status == 413 and body["error"] == "PAYLOAD_TOO_LARGE"
    status, _, body = request("GET", f"{url}/health")
    assert status == 200 and body["model"]["ready"] is True


def test_the_master_process_never_loads_torch_or_opens_the_database(server):
    if not sys.platform.startswith("linux"):
        pytest.fail("this check reads /proc and runs on Linux, where CI runs")
    maps = Path(f"/proc/{server.process.pid}/maps").read_text()
    assert "libtorch" not in maps
    open_files = [str(fd.readlink()) for fd in Path(f"/proc/{server.process.pid}/fd").iterdir()]
    assert not [name for name in open_files if "memory.db" in name], open_files
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text()
    worker = children.split()[0]
    assert "libtorch" in Path(f"/proc/{worker}/maps").read_text()


def test_a_database_of_another_dimension_stops_the_server_at_once(tmp_path, embedder):
    db_path = tmp_path / "other-model.db"
    db = Database(db_path)
    db.migrate()
    MemoryStore(db).bind_embedding_model("example/mpnet-768", 768)
    db.close()

    server = GunicornServer(db_path, tmp_path / "gunicorn.log").start(wait=False)
    try:
        exit_code = server.wait_exit()
    finally:
        server.stop()
    assert exit_code != 0
    log = server.log()
    assert "768-dimensional vectors" in log
    assert "MEMORY_API_EMBEDDING_MODEL='example/mpnet-768'" in log
