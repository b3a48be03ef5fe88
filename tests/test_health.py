"""GET /health reports the database and the model truthfully."""

from __future__ import annotations

from memory_server.storage import migrations
from memory_server.storage.postgres import schema as postgres_schema

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True


def test_ready(client):
    response = client.get("/health")
    assert response.status_code == 200
    database = response.json["database"]
    assert database["used_bytes"] > 0
    if "free_bytes" in database:  # a SQLite file; PostgreSQL manages its own disk
        assert database["free_bytes"] > 0 and database["max_bytes"] is None
        disk = {"free_bytes": database["free_bytes"], "max_bytes": None}
        version = len(migrations.MIGRATIONS)
    else:
        disk, version = {}, len(postgres_schema.MIGRATIONS)
    assert response.json == {
        "status": "ok",
        "timestamp": response.json["timestamp"],
        "database": {
            "ready": True,
            "schema_version": version,
            "used_bytes": database["used_bytes"],
            **disk,
        },
        "model": {
            "ready": True,
            "name": "sentence-transformers/all-MiniLM-L6-v2",
            "backend": "onnx",
            "dimension": 384,
        },
    }


def test_not_ready_until_the_model_is_checked_against_the_database(tmp_path, embedder, make_app):
    app = make_app({"TESTING": True, "DATABASE": str(tmp_path / "h.db")})
    response = app.test_client().get("/health")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["database"]["ready"] is True
    assert response.json["model"]["ready"] is False
    app.extensions["memory_api"].memories.prepare()
    assert app.test_client().get("/health").status_code == 200


def test_a_model_that_cannot_load_is_reported(tmp_path, make_app):
    app = make_app(
        {"TESTING": True, "DATABASE": str(tmp_path / "h.db"), "EMBEDDING_MODEL": "nope/nothing"}
    )
    client = app.test_client()
    key = app.extensions["memory_api"].keys.create("free").plaintext
    created = client.post(
        "/v1/memories", json={"text": "t"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert created.status_code == 503
    assert created.json["error"] == "SERVICE_UNAVAILABLE"
    health = client.get("/health")
    assert health.status_code == 503
    assert "nope/nothing" in health.json["model"]["error"]
