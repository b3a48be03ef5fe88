"""`flask export` and `flask import`: a round trip keeps ids, texts, metadata and timestamps."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import headers

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True

LONG = "\n\n".join(f"Paragraph {i}: the hikers reached the ridge at dawn." * 5 for i in range(12))


@pytest.fixture
def stored(client, auth, make_key) -> dict[str, dict]:
    """Memories in two workspaces of one owner and one of another owner."""
    bob = headers(make_key("free", owner="bob"))
    sent = [
        (auth, {"id": "pet", "text": "Biscuit is a beagle", "metadata": {"tags": ["pets"]}}),
        (auth, {"id": "long", "text": LONG}),
        ({**auth, "X-Workspace-ID": "work"}, {"id": "q4", "text": "Q4 planning on Friday"}),
        (bob, {"id": "bob1", "text": "Bob's bike is red", "metadata": {"n": 1.5}}),
    ]
    for sent_headers, body in sent:
        assert client.post("/api/v1/memory", json=body, headers=sent_headers).status_code == 201
    client.put("/api/v1/memory/pet", json={"metadata": {"tags": ["pets", "dogs"]}}, headers=auth)
    return {body["id"]: body for _, body in sent}


def export_lines(runner, *args: str) -> list[dict]:
    result = runner.invoke(args=["export", *args])
    assert result.exit_code == 0, result.output
    assert "Exported" in result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture
def fresh(request, database, tmp_path, embedder, make_app):
    """A second, empty database of the test's backend (what an import goes into)."""
    if database.startswith("postgresql://"):
        location = request.getfixturevalue("postgres_server").new_database()
    else:
        location = str(tmp_path / "restored.db")
    return make_app({"TESTING": True, "DATABASE": location})


def import_file(app, path) -> str:
    result = app.test_cli_runner().invoke(args=["import", str(path)])
    assert result.exit_code == 0, result.output
    return result.stdout


def rows(app) -> list[tuple]:
    conn = app.extensions["memory_api"].db.connection()
    return conn.execute(
        "SELECT owner, workspace, id, text, metadata, created_at, updated_at, chunk_count"
        " FROM memories ORDER BY owner, workspace, id"
    ).fetchall()


def test_a_round_trip_with_embeddings_keeps_everything(app, runner, stored, fresh, tmp_path):
    records = export_lines(runner, "--with-embeddings")
    assert {r["id"] for r in records} == set(stored)
    assert all(r["embedding_model"].endswith("all-MiniLM-L6-v2") for r in records)
    long = next(r for r in records if r["id"] == "long")
    assert len(long["embeddings"]) > 1 and len(long["embeddings"][0]) == 384
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records))
    assert "4 created, 0 updated, 0 unchanged; 0 embedded here" in import_file(fresh, path)
    assert [tuple(row) for row in rows(fresh)] == [tuple(row) for row in rows(app)]
    key = fresh.extensions["memory_api"].keys.create("pro").plaintext
    restored = fresh.test_client()
    got = restored.get("/api/v1/memory/pet", headers=headers(key)).json
    original = app.test_client().get("/api/v1/memory/pet", headers=headers(key_of(app))).json
    assert got == original  # text, metadata, both timestamps and the embedding
    found = restored.post(
        "/api/v1/memory/search", json={"query": "which dog breed"}, headers=headers(key)
    ).json["results"]
    assert found[0]["id"] == "pet"


def key_of(app) -> str:
    return app.extensions["memory_api"].keys.create("pro").plaintext


def test_importing_twice_changes_nothing(runner, stored, fresh, tmp_path):
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in export_lines(runner)))
    import_file(fresh, path)
    before = rows(fresh)
    assert "0 created, 0 updated, 4 unchanged; 0 embedded here" in import_file(fresh, path)
    assert rows(fresh) == before


def test_without_vectors_or_with_another_models_they_are_recomputed(
    app, runner, stored, fresh, tmp_path
):
    records = export_lines(runner, "--with-embeddings")
    for record in records:
        if record["id"] == "pet":
            record["embedding_model"] = "another-model"
        elif record["id"] != "long":
            del record["embeddings"]
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records))
    assert "3 embedded here" in import_file(fresh, path)
    for memory_id, owner_key in (("pet", key_of(app)),):
        original = app.test_client().get(f"/api/v1/memory/{memory_id}", headers=headers(owner_key))
        key = fresh.extensions["memory_api"].keys.create("pro").plaintext
        restored = fresh.test_client().get(f"/api/v1/memory/{memory_id}", headers=headers(key))
        assert np.allclose(original.json["embedding"], restored.json["embedding"], atol=1e-5)


def test_an_import_overwrites_changed_memories_with_the_file(
    runner, stored, client, auth, tmp_path
):
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in export_lines(runner)))
    client.put("/api/v1/memory/pet", json={"text": "Biscuit is a corgi"}, headers=auth)
    result = runner.invoke(args=["import", str(path)])
    assert "0 created, 1 updated, 3 unchanged; 1 embedded here" in result.stdout
    assert client.get("/api/v1/memory/pet", headers=auth).json["text"] == "Biscuit is a beagle"


def test_export_filters_by_owner_and_workspace(runner, stored):
    assert {r["id"] for r in export_lines(runner, "--owner", "bob")} == {"bob1"}
    assert {r["id"] for r in export_lines(runner, "--workspace", "work")} == {"q4"}
    assert "embeddings" not in export_lines(runner)[0]


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        '{"owner": "a", "workspace": "w", "id": "x", "text": "t"}',
        '{"owner": "a b", "workspace": "w", "id": "x", "text": "t",'
        ' "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z"}',
        '{"owner": "a", "workspace": "w", "id": "x", "text": "t", "embeddings": [[NaN]],'
        ' "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z"}',
    ],
)
def test_a_bad_line_is_named_and_stops_the_import(fresh, tmp_path, line):
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    result = fresh.test_cli_runner().invoke(args=["import", str(path)])
    assert result.exit_code == 1 and "line 1" in result.output
    assert rows(fresh) == []


def test_the_lines_before_a_bad_one_are_imported_as_the_message_says(fresh, tmp_path):
    good = [
        json.dumps(
            {
                "owner": "a",
                "workspace": "w",
                "id": f"m{i}",
                "text": f"note {i}",
                "created_at": "2026-01-01T00:00:00.000Z",
                "updated_at": "2026-01-01T00:00:00.000Z",
            }
        )
        for i in range(3)
    ]
    path = tmp_path / "partly-bad.jsonl"
    path.write_text("\n".join([*good, "not json", good[0]]) + "\n")
    result = fresh.test_cli_runner().invoke(args=["import", str(path)])
    assert result.exit_code == 1
    assert "line 4" in result.output and "The 3 lines before it are imported" in result.output
    assert [row[2] for row in rows(fresh)] == ["m0", "m1", "m2"]


def test_an_expiry_survives_the_round_trip(client, auth, runner, fresh, tmp_path):
    expiring = {"id": "code", "text": "Door code 4711", "expires_at": "2999-01-01T00:00:00Z"}
    client.post("/api/v1/memory", json=expiring, headers=auth)
    client.post("/api/v1/memory", json={"id": "plain", "text": "No expiry"}, headers=auth)
    records = {r["id"]: r for r in export_lines(runner)}
    assert records["code"]["expires_at"] == "2999-01-01T00:00:00.000Z"
    assert records["plain"]["expires_at"] is None
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records.values()) + "\n")
    assert "2 created" in import_file(fresh, path)
    assert "0 updated, 2 unchanged" in import_file(fresh, path)  # the expiry is compared too
    restored = fresh.test_client()
    key = fresh.extensions["memory_api"].keys.create("pro").plaintext
    body = restored.get("/api/v1/memory/code", headers=headers(key)).json
    assert body["expires_at"] == "2999-01-01T00:00:00.000Z"


def hnsw_index(app) -> list[tuple]:
    """The HNSW index's object id: a new one each time it is built."""
    conn = app.extensions["memory_api"].db.connection()
    return conn.execute(
        "SELECT c.oid FROM pg_class c WHERE c.relname = 'chunk_embeddings_hnsw'"
    ).fetchall()


@pytest.mark.postgres_only
def test_an_import_into_an_empty_postgres_builds_the_vector_index_at_the_end(
    app, runner, stored, fresh, tmp_path
):
    """The HNSW index is dropped for the load and built once after, even if a line fails."""
    path = tmp_path / "all.jsonl"
    lines = [json.dumps(r) for r in export_lines(runner, "--with-embeddings")]
    path.write_text("\n".join([*lines[:2], "not json", *lines[2:]]) + "\n")
    fresh.extensions["memory_api"].memories.prepare()
    (before,) = hnsw_index(fresh)
    result = fresh.test_cli_runner().invoke(args=["import", str(path)])
    assert result.exit_code == 1 and "line 3" in result.output
    (rebuilt,) = hnsw_index(fresh)  # built again after the failed line, not left missing
    assert rebuilt != before
    # Into a table with vectors, the index is kept as the import goes.
    path.write_text("\n".join(lines) + "\n")
    assert "2 unchanged" in import_file(fresh, path)
    assert hnsw_index(fresh) == [rebuilt]
    # The index answers: a search of the restored database finds what it should.
    found = fresh.test_client().post(
        "/api/v1/memory/search",
        json={"query": "which dog breed", "mode": "semantic", "limit": 1},
        headers=headers(fresh.extensions["memory_api"].keys.create("pro", "default").plaintext),
    )
    assert found.json["results"][0]["id"] == "pet"
