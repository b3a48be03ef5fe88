"""Load and crashes against the real server: gunicorn with two workers sharing Redis quotas.

- 16 client threads of mixed writes, searches and lists for 30 s: no 5xx, no "database is
  locked", and the final state is exactly what the clients were told.
- kill -9 of the whole process group in the middle of concurrent writes: after a restart every
  acknowledged write is there with its vectors, the file is intact, memory rows and vector rows
  agree, and the webhook events of those writes are still pending.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import threading
import time
from pathlib import Path

import pytest
import sqlean
import sqlite_vec

from helpers import assert_keyword_index_matches_the_texts, headers, wait_until
from memory_server.api_keys import KeyStore
from memory_server.storage.database import Database
from redis_server import two_workers
from server import free_port, request

pytestmark = pytest.mark.server
LOAD_SECONDS = 30
THREADS = 16


def enterprise_key(db_path: Path) -> str:
    db = Database(db_path)
    db.migrate()
    key = KeyStore(db).create("enterprise").plaintext
    db.close()
    return key


def list_all(url: str, key: str, workspace: str) -> dict[str, str]:
    """Every memory of the workspace, id -> text, through the paginated list."""
    found: dict[str, str] = {}
    page = 1
    while True:
        status, _, body = request(
            "GET", f"{url}/api/v1/memory?limit=100&page={page}", headers=headers(key, workspace)
        )
        assert status == 200, body
        found |= {memory["id"]: memory["text"] for memory in body["memories"]}
        if page >= body["pagination"]["pages"]:
            return found
        page += 1


def open_file(path: Path) -> sqlean.Connection:
    conn = sqlean.connect(path)
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    return conn


def assert_file_is_whole(path: Path) -> sqlean.Connection:
    """Integrity, the keyword index, and one vector and one code per chunk of every memory."""
    conn = open_file(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert_keyword_index_matches_the_texts(conn)
    chunks = conn.execute("SELECT coalesce(sum(chunk_count), 0) FROM memories").fetchone()[0]
    assert conn.execute("SELECT count(*) FROM chunk_embeddings").fetchone()[0] == chunks
    assert conn.execute("SELECT count(*) FROM chunk_codes").fetchone()[0] == chunks
    orphans = conn.execute(
        "SELECT count(*) FROM chunk_embeddings WHERE chunk_id / 1024 NOT IN"
        " (SELECT rowid FROM memories)"
    ).fetchone()[0]
    assert orphans == 0
    return conn


class Client:
    """One client thread's view: what it was told is stored, and what it saw go wrong."""

    def __init__(self, url: str, key: str, number: int) -> None:
        self.url, self.key, self.number = url, key, number
        self.stored: dict[str, str] = {}
        self.errors: list[str] = []
        self.requests = 0
        self.rng = random.Random(number)

    def call(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        status, _, answer = request(method, self.url + path, body, headers(self.key, "load"))
        self.requests += 1
        return status, answer

    def step(self, serial: int) -> None:
        """One random operation, checked against what this client knows."""
        op = self.rng.choice(["create"] * 4 + ["update"] * 2 + ["delete", "search", "list"])
        if op in ("update", "delete") and not self.stored:
            op = "create"
        if op == "create":
            memory_id, text = f"c{self.number}-{serial}", f"client {self.number} note {serial}"
            status, answer = self.call("POST", "/api/v1/memory", {"id": memory_id, "text": text})
            self.expect(op, status, 201, answer)
            self.stored[memory_id] = text
        elif op == "update":
            memory_id = self.rng.choice(sorted(self.stored))
            text = f"client {self.number} note {serial}, revised"
            status, answer = self.call("PUT", f"/api/v1/memory/{memory_id}", {"text": text})
            self.expect(op, status, 200, answer)
            self.stored[memory_id] = text
        elif op == "delete":
            memory_id = self.rng.choice(sorted(self.stored))
            status, answer = self.call("DELETE", f"/api/v1/memory/{memory_id}")
            self.expect(op, status, 200, answer)
            del self.stored[memory_id]
        elif op == "search":
            mode = self.rng.choice(["semantic", "keyword", "hybrid"])
            body = {"query": f"client {self.number} note", "mode": mode}
            status, answer = self.call("POST", "/api/v1/memory/search", body)
            self.expect(op, status, 200, answer)
        else:
            status, answer = self.call("GET", "/api/v1/memory?limit=20")
            self.expect(op, status, 200, answer)

    def expect(self, op: str, status: int, wanted: int, answer: object) -> None:
        if status != wanted:
            self.errors.append(f"{op}: {status} {json.dumps(answer)[:200]}")
            raise AssertionError(self.errors[-1])


def test_sixteen_clients_for_thirty_seconds_get_exactly_what_they_were_told(tmp_path):
    db_path, log_path = tmp_path / "memory.db", tmp_path / "gunicorn.log"
    key = enterprise_key(db_path)
    with two_workers(db_path, log_path) as server, server:
        clients = [Client(server.url, key, number) for number in range(THREADS)]
        deadline = time.monotonic() + LOAD_SECONDS

        def run(client: Client) -> None:
            serial = 0
            while time.monotonic() < deadline and not client.errors:
                serial += 1
                try:
                    client.step(serial)
                except AssertionError:
                    return

        threads = [threading.Thread(target=run, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        final = list_all(server.url, key, "load")
        log = server.log()
    assert [error for client in clients for error in client.errors] == []
    assert "database is locked" not in log and "Traceback" not in log
    assert sum(client.requests for client in clients) > 16 * 20  # it really was under load
    expected = {k: v for client in clients for k, v in client.stored.items()}
    assert final == expected
    assert_file_is_whole(db_path)


def test_kill_9_in_the_middle_of_writes_loses_nothing_acknowledged(tmp_path):
    db_path, log_path = tmp_path / "memory.db", tmp_path / "gunicorn.log"
    key = enterprise_key(db_path)
    # Webhook deliveries to a port nobody listens on fail and wait an hour: they stay pending.
    env = {
        "MEMORY_API_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "MEMORY_API_WEBHOOK_RETRY_SCHEDULE": "3600",
    }
    acknowledged: dict[str, str] = {}  # id -> last text the server confirmed
    in_flight: dict[str, str] = {}  # id -> text of an update sent but never answered
    lock = threading.Lock()
    with two_workers(db_path, log_path, **env) as server:
        server.start()
        status, _, _ = request(
            "POST", f"{server.url}/api/v1/webhooks",
            {"url": f"http://127.0.0.1:{free_port()}/hook", "events": ["memory.created"]},
            headers(key),
        )  # fmt: skip
        assert status == 201

        def write(number: int) -> None:
            mine: list[str] = []  # updates touch only this writer's memories: one writer each
            serial = 0
            while True:
                serial += 1
                if serial % 3 == 0 and mine:
                    memory_id = mine[serial % len(mine)]
                    text = f"{memory_id} revised {serial}"
                    with lock:
                        in_flight[memory_id] = text
                    method, path = "PUT", f"/api/v1/memory/{memory_id}"
                    body = {"text": text}
                else:
                    memory_id = f"w{number}-{serial}"
                    method, path = "POST", "/api/v1/memory"
                    body = {"id": memory_id, "text": f"{memory_id} written"}
                try:
                    status, _, _ = request(method, server.url + path, body, headers(key))
                except (OSError, http.client.HTTPException, ValueError):
                    return  # the server died mid-answer: this write was never acknowledged
                if status in (200, 201):
                    with lock:
                        acknowledged[memory_id] = body["text"]
                        in_flight.pop(memory_id, None)
                    if method == "POST":
                        mine.append(memory_id)

        writers = [threading.Thread(target=write, args=(n,)) for n in range(8)]
        for writer in writers:
            writer.start()
        try:
            wait_until(
                lambda: len(acknowledged) >= 60,
                120,
                lambda: (
                    f"only {len(acknowledged)} of 60 writes were acknowledged"
                    f" ({sum(w.is_alive() for w in writers)} writers left); server log:\n"
                    + server.log()[-2000:]
                ),
                poll=0.05,
            )
        finally:
            with contextlib.suppress(ProcessLookupError):  # it may have died by itself
                server.kill()  # SIGKILL to master and workers, mid-write
            for writer in writers:  # each stops at its first refused connection
                writer.join()

    conn = assert_file_is_whole(db_path)
    rows = dict(conn.execute("SELECT id, text FROM memories WHERE workspace = 'default'"))
    for memory_id, text in acknowledged.items():
        assert rows[memory_id] in (text, in_flight.get(memory_id)), memory_id
    pending = {
        json.loads(payload)["data"]["id"]
        for (payload,) in conn.execute(
            "SELECT e.payload FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id"
            " WHERE d.event_type = 'memory.created' AND d.state = 'pending'"
        )
    }
    assert set(rows) <= pending  # every stored memory's event, still waiting for delivery
    conn.close()

    with two_workers(db_path, log_path, **env) as restarted, restarted:
        for memory_id in acknowledged:
            status, _, body = request(
                "GET", f"{restarted.url}/api/v1/memory/{memory_id}", headers=headers(key)
            )
            assert status == 200 and len(body["embedding"]) == 384
