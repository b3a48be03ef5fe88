"""One structured line per request, with the key id and never the key or a text."""

from __future__ import annotations

import json
import logging

import pytest

from server import GunicornServer, request

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True


def access_lines(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "memory_api.access"]


def test_each_request_logs_one_json_line(client, auth, key, app, caplog):
    caplog.set_level(logging.INFO, logger="memory_api.access")
    text = "The diary entry nobody else may read"
    assert client.post("/api/v1/memory", json={"text": text}, headers=auth).status_code == 201
    assert client.get("/api/v1/memory/nope", headers=auth).status_code == 404
    assert client.get("/v1/memories").status_code == 401
    ws = {**auth, "X-Workspace-ID": "work"}
    assert client.post("/api/v1/memory/search", json={"query": text}, headers=ws).status_code == 200
    lines = access_lines(caplog)
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("POST", "/api/v1/memory", 201),
        ("GET", "/api/v1/memory/nope", 404),
        ("GET", "/v1/memories", 401),
        ("POST", "/api/v1/memory/search", 200),
    ]
    key_id = app.extensions["memory_api"].keys.authenticate(key).id
    assert [line["key_id"] for line in lines] == [key_id, key_id, None, key_id]
    assert [line["workspace"] for line in lines] == ["default", "default", None, "work"]
    assert all(line["duration_ms"] >= 0 and line["bytes"] > 0 for line in lines)
    # Neither the key, nor its secret part, nor the memory's text or the query.
    assert key not in caplog.text and key.split("_", 2)[2] not in caplog.text
    assert "diary" not in caplog.text


def test_a_hostile_path_cannot_forge_a_log_line(client, auth, caplog):
    caplog.set_level(logging.INFO, logger="memory_api.access")
    client.get("/api/v1/memory/x%0A%22status%22%3A200%7D", headers=auth)
    [line] = [r.getMessage() for r in caplog.records if r.name == "memory_api.access"]
    assert "\n" not in line and json.loads(line)["status"] == 404


@pytest.mark.server
def test_gunicorn_writes_the_request_lines_to_its_log(tmp_path):
    with GunicornServer(tmp_path / "memory.db", tmp_path / "gunicorn.log") as server:
        key = next(word for word in server.log().split() if word.startswith("msk_"))
        status, _, _ = request(
            "GET", f"{server.url}/v1/memories", headers={"Authorization": f"Bearer {key}"}
        )
        assert status == 200
        log = server.log()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith('{"method"')]
    [listed] = [line for line in lines if line["path"] == "/v1/memories"]
    assert listed["status"] == 200 and listed["key_id"] == "key_" + key.split("_")[1]
    assert key not in log.replace(key, "", 1)  # only the first-key banner shows it, once
