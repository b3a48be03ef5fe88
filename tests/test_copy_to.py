"""`memory-server copy-to`: a SQLite database moved into PostgreSQL whole, keys and all."""

from __future__ import annotations

import ipaddress

import numpy as np
import pytest

from helpers import headers

pytestmark = pytest.mark.postgres

LONG = "\n\n".join(f"Section {i}: the ferry leaves the north pier at seven." * 6 for i in range(10))


@pytest.fixture
def source(tmp_path, embedder, make_app):
    """A SQLite database with what a user has after a while: keys, memories, history, hooks."""
    app = make_app(
        {
            "TESTING": True,
            "DATABASE": str(tmp_path / "memory.db"),
            "WEBHOOK_ALLOWED_NETWORKS": (ipaddress.ip_network("127.0.0.0/8"),),
        }
    )
    found = app.extensions["memory_api"]
    found.memories.prepare()
    keys = {
        "pro": found.keys.create("pro", "ann").plaintext,
        "reader": found.keys.create("free", "ann", read_only=True).plaintext,
        "bob": found.keys.create("free", "bob", name="bob's laptop").plaintext,
        "revoked": found.keys.create("pro", "ann").plaintext,
    }
    found.keys.revoke(found.keys.authenticate(keys["revoked"]).id)
    client, ann = app.test_client(), headers(keys["pro"])
    memories = [{"text": f"Note {i}: the boiler service is on day {i}"} for i in range(130)]
    for part in (memories[:100], memories[100:]):  # more than one copy batch of 100
        response = client.post("/api/v1/memory/batch", json={"memories": part}, headers=ann)
        assert response.status_code == 201 and not response.json["failed"]
    for body, who in (
        ({"id": "dog", "text": "Biscuit is a beagle", "metadata": {"tags": ["pets"]}}, ann),
        ({"id": "ferry", "text": LONG}, headers(keys["pro"], "travel")),
        ({"id": "bike", "text": "Bob's bike is red"}, headers(keys["bob"])),
    ):
        assert client.post("/api/v1/memory", json=body, headers=who).status_code == 201
    for text in ("Biscuit is a beagle, three years old", "Biscuit is a beagle, four years old"):
        assert client.put("/api/v1/memory/dog", json={"text": text}, headers=ann).status_code == 200
    hook = client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["memory.created"]},
        headers=ann,
    )
    assert hook.status_code == 201
    topic = client.post("/api/v1/topics", json={"name": "Home", "color": "#3B82F6"}, headers=ann)
    assert topic.status_code == 201
    return app, keys


def copy(app, target: str) -> str:
    result = app.test_cli_runner().invoke(args=["copy-to", target])
    assert result.exit_code == 0, result.output
    return result.stdout


def rows(app, sql: str) -> list[tuple]:
    return [tuple(row) for row in app.extensions["memory_api"].db.connection().execute(sql)]


def exported(app) -> list[dict]:
    return sorted(
        app.extensions["memory_api"].memories.export(None, None, with_embeddings=True),
        key=lambda r: (r["owner"], r["workspace"], r["id"]),
    )


def test_everything_arrives_and_works_on_postgres(source, pg_url, make_app):
    app, keys = source
    assert "133 created" in copy(app, pg_url)
    target = make_app({"TESTING": True, "DATABASE": pg_url})
    client, ann = target.test_client(), headers(keys["pro"])
    # Memories with their ids, texts, metadata, timestamps and the very same vectors.
    before, after = exported(app), exported(target)
    assert [{**r, "embeddings": None} for r in after] == [{**r, "embeddings": None} for r in before]
    for a, b in zip(before, after, strict=True):
        assert np.allclose(a["embeddings"], b["embeddings"], atol=1e-6), a["id"]
    # The keys are the same keys: the same secret signs in, a revoked one stays revoked.
    key_columns = "SELECT * FROM api_keys ORDER BY id"
    assert rows(target, key_columns) == rows(app, key_columns)
    found = client.post(
        "/api/v1/memory/search", json={"query": "which dog breed", "limit": 1}, headers=ann
    )
    assert found.status_code == 200 and found.json["results"][0]["id"] == "dog"
    assert client.get("/v1/memories", headers=headers(keys["revoked"])).status_code == 401
    reader = client.post("/api/v1/memory", json={"text": "x"}, headers=headers(keys["reader"]))
    assert reader.status_code == 403
    travel = client.get("/api/v1/memory/ferry", headers=headers(keys["pro"], "travel"))
    assert travel.status_code == 200 and travel.json["text"] == LONG
    # History: both earlier versions, and the next change numbers after them.
    history = client.get("/api/v1/memory/dog/history", headers=ann).json["history"]
    assert [v["text"] for v in history] == [
        "Biscuit is a beagle",
        "Biscuit is a beagle, three years old",
        "Biscuit is a beagle, four years old",
    ]
    assert (
        client.put("/api/v1/memory/dog", json={"text": "Biscuit, 5"}, headers=ann).status_code
        == 200
    )
    history = client.get("/api/v1/memory/dog/history", headers=ann).json["history"]
    assert [v["version"] for v in history] == [1, 2, 3, 4]
    # The webhook endpoint with its signing secret.
    hook_columns = "SELECT * FROM webhook_endpoints ORDER BY id"
    assert rows(target, hook_columns) == rows(app, hook_columns) != []
    topic_columns = "SELECT * FROM topics ORDER BY id"
    assert rows(target, topic_columns) == rows(app, topic_columns) != []


def test_running_it_again_finishes_an_interrupted_copy_and_brings_changes(source, pg_url, make_app):
    app, keys = source
    copy(app, pg_url)
    target = make_app({"TESTING": True, "DATABASE": pg_url})
    # As if the first run had stopped early: some memories, a key and a version missing.
    conn = target.extensions["memory_api"].db.connection()
    conn.execute("DELETE FROM memories WHERE id IN ('bike', 'ferry')")
    conn.execute("DELETE FROM memory_history WHERE version = 2")
    conn.execute("DELETE FROM api_keys WHERE owner = 'bob'")
    again = copy(app, pg_url)
    assert "2 created, 0 updated, 131 unchanged" in again
    assert "4 API keys, 1 webhook endpoints and 1 topics; 1 earlier versions new" in again
    assert exported(target) == exported(app)
    assert "0 created, 0 updated, 133 unchanged" in copy(app, pg_url)
    # What changed in the source since comes over: a key revoked, a topic renamed.
    source = app.extensions["memory_api"]
    bob = next(key for key in source.keys.list() if key.owner == "bob")
    source.keys.revoke(bob.id)
    client = app.test_client()
    topic = client.get("/api/v1/topics", headers=headers(keys["pro"])).json[0]
    client.put(
        f"/api/v1/topics/{topic['id']}", json={"name": "House"}, headers=headers(keys["pro"])
    )
    copy(app, pg_url)
    assert target.extensions["memory_api"].keys.authenticate(keys["bob"]) is None
    assert rows(target, "SELECT name FROM topics") == [("House",)]


def test_a_copy_into_itself_is_refused(source, tmp_path):
    app, _ = source
    result = app.test_cli_runner().invoke(args=["copy-to", str(tmp_path / "memory.db")])
    assert result.exit_code == 2 and "TARGET is the database being copied" in result.output


def test_a_target_whose_vectors_come_from_another_model_is_refused_plainly(
    source, pg_url, make_app
):
    app, _ = source
    target = make_app({"TESTING": True, "DATABASE": pg_url})
    target.extensions["memory_api"].db.connection().execute(
        "INSERT INTO meta (key, value) VALUES ('embedding_model', 'other/model'),"
        " ('embedding_dimension', '768')"
    )
    result = app.test_cli_runner().invoke(args=["copy-to", pg_url])
    assert result.exit_code == 1 and "other/model" in result.output
    assert "Traceback" not in result.output
    assert rows(target, "SELECT count(*) FROM memories") == [(0,)]
    assert rows(target, "SELECT count(*) FROM api_keys") == [(0,)]
