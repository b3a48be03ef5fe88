"""Operator tools: `flask backup`, `flask stats` and the caller's GET /api/v1/memory/stats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlean
import sqlite_vec

from helpers import headers, wait_until
from server import GunicornServer, request

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True

ROOT = Path(__file__).resolve().parent.parent


def flask(db: Path, *args: str) -> subprocess.CompletedProcess:
    """`flask --app app ...` as an operator runs it, on the database MEMORY_API_DB names."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env={**os.environ, "MEMORY_API_DB": str(db)},
        capture_output=True,
        text=True,
        check=False,
    )


def open_copy(path: Path) -> sqlean.Connection:
    conn = sqlean.connect(path)
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    return conn


def add(client, auth, text: str, workspace: str | None = None) -> str:
    sent = auth if workspace is None else {**auth, "X-Workspace-ID": workspace}
    response = client.post("/api/v1/memory", json={"text": text}, headers=sent)
    assert response.status_code == 201, response.json
    return response.json["id"]


@pytest.mark.server
def test_backup_of_a_live_server_is_a_consistent_verified_snapshot(tmp_path):
    db, copy = tmp_path / "memory.db", tmp_path / "backups" / "copy.db"
    copy.parent.mkdir()
    with GunicornServer(db, tmp_path / "gunicorn.log") as server:
        key = next(word for word in server.log().split() if word.startswith("msk_"))
        acknowledged: list[str] = []
        stop = threading.Event()

        def write() -> None:
            while not stop.is_set():
                status, _, body = request(
                    "POST", f"{server.url}/api/v1/memory",
                    {"text": f"note {len(acknowledged)} about the backup"}, headers(key),
                )  # fmt: skip
                assert status == 201, body
                acknowledged.append(body["id"])

        writer = threading.Thread(target=write)
        writer.start()
        try:
            wait_until(
                lambda: len(acknowledged) >= 20 or not writer.is_alive(),
                60,
                lambda: f"only {len(acknowledged)} of 20 writes were acknowledged",
                poll=0.05,
            )
            assert len(acknowledged) >= 20, "the writer stopped (its failure is printed above)"
            before = len(acknowledged)
            result = flask(db, "backup", str(copy))
            after = len(acknowledged)
        finally:
            stop.set()
            writer.join()
    assert result.returncode == 0, result.stderr
    assert "integrity check ok" in result.stdout
    assert not copy.with_name("copy.db-wal").exists()  # one self-contained file
    conn = open_copy(copy)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    ids = [row[0] for row in conn.execute("SELECT id FROM memories ORDER BY rowid")]
    # Every write acknowledged before the backup began is in it; nothing torn or half-written.
    assert ids[:before] == acknowledged[:before] and before <= len(ids) <= after + 1
    chunks = conn.execute("SELECT coalesce(sum(chunk_count), 0) FROM memories").fetchone()[0]
    assert conn.execute("SELECT count(*) FROM chunk_embeddings").fetchone()[0] == chunks
    assert conn.execute("SELECT count(*) FROM chunk_codes").fetchone()[0] == chunks


@pytest.mark.sqlite_only  # a SQLite file's backup; PostgreSQL's: below
def test_a_backup_serves_as_a_database(tmp_path, client, auth, app):
    memory_id = add(client, auth, "The spare key is under the blue flowerpot.")
    copy = tmp_path / "copy.db"
    app.extensions["memory_api"].db.backup(copy)
    conn = open_copy(copy)
    assert conn.execute("SELECT text FROM memories WHERE id = ?", (memory_id,)).fetchone() == (
        "The spare key is under the blue flowerpot.",
    )
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


@pytest.mark.slow
def test_backup_refuses_to_overwrite_the_live_database(tmp_path):
    db = tmp_path / "memory.db"
    assert flask(db, "keys", "create", "--tier", "free").returncode == 0
    result = flask(db, "backup", str(db))
    assert result.returncode == 2 and "live database" in result.stderr
    (tmp_path / "a-file").write_text("where a folder should be")
    blocked = flask(db, "backup", str(tmp_path / "a-file" / "copy.db"))
    assert blocked.returncode == 1 and "Traceback" not in blocked.stderr
    assert blocked.stderr.startswith("Error: cannot write")


def test_stats_counts_the_whole_database(tmp_path, runner, client, auth, make_key):
    add(client, auth, "first")
    add(client, auth, "second", workspace="work")
    other = headers(make_key("free", owner="bob"))
    add(client, other, "bob's")
    result = runner.invoke(args=["stats", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["memories"] == 3 and figures["chunks"] == 3
    assert (figures["workspaces"], figures["owners"]) == (3, 2)
    assert figures["keys"] == {"active": 2, "revoked_or_expired": 0}
    assert figures["embedding_dimension"] == 384 and figures["bytes"] > 0
    text = runner.invoke(args=["stats"]).stdout
    assert "Memories    3 (3 chunk vectors)" in text and "3 of 2 owner(s)" in text


def test_the_stats_endpoint_counts_only_the_callers_own(client, auth, make_key):
    add(client, auth, "one")
    add(client, auth, "two")
    add(client, auth, "three", workspace="work")
    add(client, headers(make_key("free", owner="bob")), "not mine")
    response = client.get("/api/v1/memory/stats", headers=auth)
    assert response.status_code == 200
    body = response.json
    assert (body["workspace"], body["memories"], body["chunks"]) == ("default", 2, 2)
    assert body["owner"]["memories"] == 3
    assert [w["workspace"] for w in body["owner"]["workspaces"]] == ["default", "work"]
    empty = client.get("/api/v1/memory/stats", headers={**auth, "X-Workspace-ID": "new"}).json
    assert (empty["memories"], empty["oldest_created_at"]) == (0, None)
    assert client.get("/api/v1/memory/stats").status_code == 401


@pytest.mark.parametrize("reserved", ["stats", "batch", "search"])
def test_ids_that_name_endpoints_are_refused(client, auth, reserved):
    response = client.post("/api/v1/memory", json={"text": "x", "id": reserved}, headers=auth)
    assert response.status_code == 400 and "reserved" in json.dumps(response.json)


@pytest.mark.sqlite_only  # a SQLite file's backup; PostgreSQL's: below
def test_backup_into_a_folder_that_does_not_exist_yet_makes_it(tmp_path, client, auth, app):
    add(client, auth, "kept in the backup")
    target = tmp_path / "backups" / "2026" / "memory.db"
    result = app.test_cli_runner().invoke(args=["backup", str(target)])
    assert result.exit_code == 0, result.output
    conn = open_copy(target)
    assert conn.execute("SELECT text FROM memories").fetchall() == [("kept in the backup",)]
    conn.close()


@pytest.mark.slow
def test_reembed_with_a_model_that_is_not_here_says_so_in_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "reembed"],
        cwd=ROOT,
        env={**os.environ, "MEMORY_API_DB": str(tmp_path / "m.db"),
             "MEMORY_API_EMBEDDING_MODEL": str(tmp_path / "no-such-model")},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("Loading ") and len(lines) == 2
    assert lines[1].startswith("Error: cannot load embedding model")
    assert "is not a folder on this machine" in lines[1]
    named = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "reembed"],
        cwd=ROOT,
        env={**os.environ, "MEMORY_API_DB": str(tmp_path / "m.db"),
             "MEMORY_API_EMBEDDING_MODEL": "someone/model-never-downloaded"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert named.returncode == 1 and "internet connection" not in named.stderr
    assert "never downloads models" in named.stderr


@pytest.mark.slow
def test_a_first_start_prints_no_library_warnings(tmp_path):
    """The one-time ONNX export used to print three warnings that read like errors."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "reembed"],
        cwd=ROOT,
        env={**os.environ, "MEMORY_API_DB": str(tmp_path / "m.db"),
             "MEMORY_API_MODEL_CACHE": str(tmp_path / "fresh-cache")},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "fresh-cache").is_dir()  # the export really ran
    assert done.stderr.strip().splitlines() == [
        "Loading sentence-transformers/all-MiniLM-L6-v2 (onnx)..."
    ]


def test_backup_of_a_postgresql_database_says_to_use_pg_dump(postgres_server, tmp_path):
    from memory_server.app import create_app

    app = create_app({"TESTING": True, "DATABASE": postgres_server.new_database()})
    try:
        result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "copy.db")])
    finally:
        app.extensions["memory_api"].db.close()
        app.extensions["memory_api.mcp"].close()
    assert result.exit_code == 1
    assert "pg_dump" in result.output and len(result.output.strip().splitlines()) == 1
    assert ":***@" in result.output or "postgres:@" not in result.output  # no password shown
    assert not (tmp_path / "copy.db").exists()
