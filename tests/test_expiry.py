"""Expiry: ttl_seconds / expires_at; an expired memory is gone for clients at once, then purged."""

from __future__ import annotations

import ipaddress
import json
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from helpers import headers, wait_until
from memory_server.clock import format_timestamp
from memory_server.storage.dialect import SQLITE
from receiver import Receiver
from server import GunicornServer, make_keys, request

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True

TEXT = "The door code for the office is 4711 until Friday."
MODES = ["semantic", "keyword", "hybrid"]


def in_seconds(seconds: float) -> str:
    return format_timestamp(datetime.now(UTC) + timedelta(seconds=seconds))


def expire_now(app) -> None:
    """Move every expiry into the past, as if its time had come (no sleeping)."""
    with app.extensions["memory_api"].db.transaction() as conn:
        conn.execute(
            "UPDATE memories SET expires_at = '2000-01-01T00:00:00.000Z'"
            " WHERE expires_at IS NOT NULL"
        )


def search_ids(client, auth, query: str, mode: str) -> list[str]:
    response = client.post(
        "/api/v1/memory/search", json={"query": query, "mode": mode}, headers=auth
    )
    assert response.status_code == 200, response.json
    return [result["id"] for result in response.json["results"]]


def test_ttl_seconds_sets_expires_at_shown_in_every_memory_body(client, auth):
    before = in_seconds(60)
    stored = client.post("/api/v1/memory", json={"text": TEXT, "ttl_seconds": 60}, headers=auth)
    after = in_seconds(60)
    assert stored.status_code == 201
    expires_at = stored.json["expires_at"]
    assert before <= expires_at <= after
    memory_id = stored.json["id"]
    assert client.get(f"/api/v1/memory/{memory_id}", headers=auth).json["expires_at"] == expires_at
    assert client.get(f"/v1/memories/{memory_id}", headers=auth).json["data"]["expires_at"] == (
        expires_at
    )
    listed = client.get("/v1/memories", headers=auth).json["data"]
    assert [m["expires_at"] for m in listed] == [expires_at]
    found = client.post("/v1/memories/search", json={"query": "door code"}, headers=auth).json
    assert found["data"][0]["expires_at"] == expires_at


def test_expires_at_is_taken_in_any_offset_and_shown_in_utc(client, auth):
    moment = datetime.now(UTC) + timedelta(days=2)
    local = moment.astimezone(timezone(timedelta(hours=2)))
    response = client.post(
        "/v1/memories", json={"text": TEXT, "expires_at": local.isoformat()}, headers=auth
    )
    assert response.status_code == 201
    assert response.json["data"]["expires_at"] == format_timestamp(moment)


def test_a_memory_without_expiry_shows_null(client, auth):
    stored = client.post("/v1/memories", json={"text": TEXT}, headers=auth).json["data"]
    assert stored["expires_at"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ttl_seconds": 0}, "ttl_seconds"),
        ({"ttl_seconds": -5}, "ttl_seconds"),
        ({"ttl_seconds": 1.5}, "ttl_seconds"),
        ({"ttl_seconds": "60"}, "ttl_seconds"),
        ({"ttl_seconds": True}, "ttl_seconds"),
        ({"ttl_seconds": None}, "ttl_seconds"),
        ({"ttl_seconds": 10**12}, "ttl_seconds"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),  # the past
        ({"expires_at": "tomorrow"}, "expires_at"),
        ({"expires_at": 1893456000}, "expires_at"),
        ({"expires_at": None}, "expires_at"),  # null only clears an expiry, on update
        ({"ttl_seconds": 60, "expires_at": "2999-01-01T00:00:00Z"}, "ttl_seconds"),
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/memory", "/v1/memories"])
def test_bad_expiry_values_are_400s_naming_the_field(client, auth, path, body, field):
    response = client.post(path, json={"text": TEXT, **body}, headers=auth)
    assert response.status_code == 400, response.json
    assert response.json["error"] == "INVALID_REQUEST"
    assert field in response.json["details"]["fields"]
    assert client.get("/api/v1/memory", headers=auth).json["pagination"]["total"] == 0


@pytest.mark.parametrize("surface", ["/api/v1/memory", "/v1/memories"])
def test_an_update_sets_changes_or_clears_the_expiry(client, auth, surface):
    memory_id = client.post("/api/v1/memory", json={"text": TEXT}, headers=auth).json["id"]
    path = f"{surface}/{memory_id}"

    def expiry() -> str | None:
        return client.get(f"/api/v1/memory/{memory_id}", headers=auth).json["expires_at"]

    assert client.put(path, json={"ttl_seconds": 3600}, headers=auth).status_code == 200
    assert in_seconds(3590) < expiry() < in_seconds(3610)
    assert (
        client.put(path, json={"expires_at": "2999-01-01T00:00:00Z"}, headers=auth).status_code
        == 200
    )
    assert expiry() == "2999-01-01T00:00:00.000Z"
    # A text change keeps the expiry; null clears it.
    assert client.put(path, json={"text": TEXT + " (confirmed)"}, headers=auth).status_code == 200
    assert expiry() == "2999-01-01T00:00:00.000Z"
    assert client.put(path, json={"expires_at": None}, headers=auth).status_code == 200
    assert expiry() is None
    bad = client.put(path, json={"expires_at": "2001-01-01T00:00:00Z"}, headers=auth)
    assert bad.status_code == 400 and "expires_at" in bad.json["details"]["fields"]
    assert expiry() is None


def test_an_expired_memory_is_gone_for_every_read_and_write(client, auth, app, runner):
    kept = client.post("/api/v1/memory", json={"text": "The office is on the third floor."},
                       headers=auth).json["id"]  # fmt: skip
    gone = client.post(
        "/api/v1/memory", json={"text": TEXT, "ttl_seconds": 600}, headers=auth
    ).json["id"]
    assert all(gone in search_ids(client, auth, "door code office", mode) for mode in MODES)
    expire_now(app)

    for path in (f"/api/v1/memory/{gone}", f"/v1/memories/{gone}",
                 f"/api/v1/memory/{gone}/history"):  # fmt: skip
        assert client.get(path, headers=auth).status_code == 404
    assert client.put(f"/v1/memories/{gone}", json={"text": "x"}, headers=auth).status_code == 404
    assert client.delete(f"/api/v1/memory/{gone}", headers=auth).status_code == 404
    listed = client.get("/api/v1/memory", headers=auth).json
    assert [m["id"] for m in listed["memories"]] == [kept] and listed["pagination"]["total"] == 1
    assert client.get("/v1/memories", headers=auth).json["pagination"]["total"] == 1
    for mode in MODES:
        assert gone not in search_ids(client, auth, "door code office", mode)
        # With a filter too: the filtered path picks its candidates in SQL.
        filtered = client.post(
            "/v1/memories/search",
            json={"query": "door code", "mode": mode, "filters": {"created_after": "2000-01-01"}},
            headers=auth,
        ).json["data"]
        assert gone not in [r["id"] for r in filtered]
    stats = client.get("/api/v1/memory/stats", headers=auth).json
    assert stats["memories"] == 1 and stats["owner"]["memories"] == 1
    exported = runner.invoke(args=["export"])
    assert [json.loads(line)["id"] for line in exported.stdout.splitlines()] == [kept]
    # Its id is free again at once.
    again = client.post("/api/v1/memory", json={"id": gone, "text": "new"}, headers=auth)
    assert again.status_code == 201


def test_a_short_ttl_expires_by_itself(client, auth):
    memory_id = client.post("/v1/memories", json={"text": TEXT, "ttl_seconds": 1},
                            headers=auth).json["data"]["id"]  # fmt: skip
    assert client.get(f"/v1/memories/{memory_id}", headers=auth).status_code == 200
    wait_until(
        lambda: client.get(f"/v1/memories/{memory_id}", headers=auth).status_code == 404,
        timeout=5,
        what="the memory expiring after its 1 s",
    )


def test_the_purge_deletes_expired_memories_with_a_memory_expired_event(
    tmp_path, embedder, make_app
):
    app = make_app(
        {
            "TESTING": True,
            "DATABASE": str(tmp_path / "memory.db"),
            "WEBHOOK_ALLOWED_NETWORKS": (ipaddress.ip_network("127.0.0.0/8"),),
        }
    )
    services = app.extensions["memory_api"]
    services.memories.prepare()
    client = app.test_client()
    key = services.keys.create("enterprise").plaintext
    auth = headers(key, "notes")
    with Receiver() as receiver:
        client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["memory.expired"]},
                    headers=auth)  # fmt: skip
        gone = client.post("/api/v1/memory", json={"text": TEXT, "ttl_seconds": 60},
                           headers=auth).json["id"]  # fmt: skip
        client.put(f"/api/v1/memory/{gone}", json={"text": TEXT + "!"}, headers=auth)
        later = client.post("/api/v1/memory", json={"text": "later", "ttl_seconds": 3600},
                            headers=auth).json["id"]  # fmt: skip
        with services.db.transaction() as conn:
            conn.execute(
                "UPDATE memories SET expires_at = '2000-01-01T00:00:00.000Z' WHERE id = ?",
                (gone,),
            )
        assert services.memories.purge_expired() == 1
        assert services.memories.purge_expired() == 0
        services.dispatcher.deliver_due()
        [event] = receiver.events("memory.expired")
    assert event["data"] == {
        "id": gone, "workspace_id": "notes", "expires_at": "2000-01-01T00:00:00.000Z",
    }  # fmt: skip
    conn = services.db.connection()
    assert [row[0] for row in conn.execute("SELECT id FROM memories")] == [later]
    assert conn.execute("SELECT count(*) FROM memory_history").fetchone()[0] == 0
    chunks = conn.execute("SELECT count(*) FROM chunk_embeddings").fetchone()[0]
    assert chunks == 1  # the purged memory's vectors went with it


@pytest.mark.server
@pytest.mark.slow
def test_short_ttls_through_a_real_server(tmp_path):
    """gunicorn as `make run` starts it: hidden at once, purged by the worker, event sent."""
    db_path = tmp_path / "memory.db"
    key = make_keys(db_path, {"agent": ("enterprise", "default")})["agent"]
    auth = headers(key)
    env = {
        "MEMORY_API_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "MEMORY_API_EXPIRY_PURGE_SECONDS": "0.5",
    }
    with Receiver() as receiver, GunicornServer(db_path, tmp_path / "g.log", **env) as server:
        hook = {"url": receiver.url, "events": ["memory.expired"]}
        status, _, _ = request("POST", f"{server.url}/api/v1/webhooks", hook, auth)
        assert status == 201
        status, _, kept = request("POST", f"{server.url}/api/v1/memory",
                                  {"text": "The office is on the third floor."}, auth)  # fmt: skip
        status, _, short = request("POST", f"{server.url}/v1/memories",
                                   {"text": TEXT, "ttl_seconds": 2}, auth)  # fmt: skip
        assert status == 201
        gone = short["data"]["id"]
        started = time.monotonic()

        def visible() -> dict[str, bool]:
            found = {"get": request("GET", f"{server.url}/api/v1/memory/{gone}",
                                    headers=auth)[0] == 200}  # fmt: skip
            listed = request("GET", f"{server.url}/api/v1/memory", headers=auth)[2]
            found["list"] = gone in [m["id"] for m in listed["memories"]]
            for mode in MODES:
                body = {"query": "door code office", "mode": mode}
                results = request("POST", f"{server.url}/api/v1/memory/search", body, auth)[2]
                found[mode] = gone in [r["id"] for r in results["results"]]
            return found

        seen = visible()
        assert time.monotonic() - started < 2, "too slow to see the memory before it expired"
        assert all(seen.values()), seen
        [event] = receiver.wait_for(1, timeout=20)
        assert event["type"] == "memory.expired" and event["data"]["id"] == gone
        assert not any(visible().values())
        exported = subprocess.run(
            [sys.executable, "-m", "memory_server", "export"],
            env={**server.env}, capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        assert [json.loads(line)["id"] for line in exported.stdout.splitlines()] == [kept["id"]]
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM memories").fetchone()[0] == 1


def test_times_before_the_year_1000_keep_their_width(client, auth):
    # "0420-..." once became "420-...", which sorts after every real time as text.
    client.post("/v1/memories", json={"text": TEXT}, headers=auth)
    response = client.post(
        "/v1/memories", json={"text": TEXT, "expires_at": "0420-06-19T15:46:07+00:00"},
        headers=auth,
    )  # fmt: skip
    assert response.status_code == 400
    assert format_timestamp(datetime(420, 6, 19, tzinfo=UTC)) == "0420-06-19T00:00:00.000Z"
    found = client.post(
        "/v1/memories/search",
        json={"query": "door", "filters": {"created_before": "0999-01-01T00:00:00Z"}},
        headers=auth,
    )
    assert found.status_code == 200 and found.json["data"] == []


@pytest.mark.sqlite_only  # SQLite's query plan or its write lock
def test_finding_a_workspaces_expired_memories_reads_the_expiry_index(app):
    # Every search asks; a plan that reads the whole workspace cost 135 ms a search at 100k.
    with app.extensions["memory_api"].db.snapshot() as conn:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN " + SQLITE.expired_in_scope, ("now", "o", "w")
        ).fetchall()
    (step,) = [row[3] for row in plan]
    assert step.startswith("SEARCH memories USING INDEX memories_expiry ("), step
