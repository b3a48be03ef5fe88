"""`flask reembed`: a database moves to another model, resumably, and the server refuses until then.

Only all-MiniLM-L6-v2 ships with the server, so the real switch is to its int8 ONNX export:
another model identity with the same dimension. A dimension change is tested with a small
stand-in embedder (a mock, said so below), since no second real model is available offline.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from helpers import headers
from memory_server import reembed
from memory_server.embedding.model import Embeddings
from memory_server.memory_service import StartupError
from memory_server.scope import Scope

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True

LONG = "\n\n".join(f"Paragraph {i}: the ferry to the island leaves at seven." * 5 for i in range(8))


@pytest.fixture
def filled(app, client, auth) -> dict[str, str]:
    """Memories stored with the default (fp32 ONNX) model."""
    texts = {f"m{i}": f"Note {i}: water the tomato plants on day {i}" for i in range(5)}
    texts["long"] = LONG
    for memory_id, text in texts.items():
        body = {"id": memory_id, "text": text}
        assert client.post("/api/v1/memory", json=body, headers=auth).status_code == 201
    return texts


@pytest.fixture
def int8_app(database, filled, make_app):
    """A second app on the same database, configured for the int8 model."""
    return make_app({"TESTING": True, "DATABASE": database, "EMBEDDING_BACKEND": "onnx-int8"})


def vector_counts(app) -> tuple[int, int, int]:
    """Chunks the memories have, vectors stored, and first-pass codes (SQLite; else vectors)."""
    db = app.extensions["memory_api"].db
    conn = db.connection()
    codes = "chunk_codes" if db.dialect.name == "sqlite" else "chunk_embeddings"
    return tuple(
        conn.execute(sql).fetchone()[0]
        for sql in (
            "SELECT sum(chunk_count) FROM memories",
            "SELECT count(*) FROM chunk_embeddings",
            f"SELECT count(*) FROM {codes}",
        )
    )


def test_a_server_on_another_model_refuses_and_names_reembed(int8_app):
    with pytest.raises(StartupError, match="flask --app app reembed"):
        int8_app.extensions["memory_api"].memories.prepare()


def test_a_server_left_running_on_the_old_model_stops_using_the_vectors(
    int8_app, filled, client, auth
):
    assert int8_app.test_cli_runner().invoke(args=["reembed"]).exit_code == 0
    # `client` is the app that stored the memories, still on the fp32 model.
    for response in (
        client.post("/api/v1/memory", json={"text": "a new note"}, headers=auth),
        client.post("/api/v1/memory/search", json={"query": "ferry"}, headers=auth),
        client.put("/api/v1/memory/m1", json={"text": "changed"}, headers=auth),
    ):
        assert response.status_code == 503 and "#int8" in response.json["message"]
    assert client.get("/api/v1/memory/m1", headers=auth).json["text"] == filled["m1"]
    assert vector_counts(int8_app)[0] == vector_counts(int8_app)[1]


def test_reembed_moves_every_vector_to_the_configured_model(int8_app, filled):
    result = int8_app.test_cli_runner().invoke(args=["reembed"])
    assert result.exit_code == 0, result.output
    assert f"Done: {len(filled)} memories re-embedded" in result.stdout
    service = int8_app.extensions["memory_api"].memories
    service.prepare()  # no longer refused
    key = int8_app.extensions["memory_api"].keys.create("pro").plaintext
    client = int8_app.test_client()
    got = client.get("/api/v1/memory/m3", headers=headers(key)).json["embedding"]
    # int8 activations are quantized per batch, so compare with the same batch reembed ran.
    batch = service.embedder.embed_documents(list(filled.values()))
    assert np.allclose(got, batch[list(filled).index("m3")].vectors[0], atol=1e-6)
    total, vectors, codes = vector_counts(int8_app)
    assert total == vectors == codes and total > len(filled)  # the long memory has chunks
    found = client.post(
        "/api/v1/memory/search", json={"query": "when does the ferry leave"}, headers=headers(key)
    ).json["results"]
    assert found[0]["id"] == "long"
    again = int8_app.test_cli_runner().invoke(args=["reembed"])
    assert "Nothing to do" in again.stdout


def test_an_interrupted_reembed_resumes_and_catches_up(int8_app, filled, monkeypatch, app):
    monkeypatch.setattr(reembed, "BATCH", 2)
    db = int8_app.extensions["memory_api"].db
    embedder = int8_app.extensions["memory_api"].memories.embedder
    embedder.load()

    def stop(done: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        reembed.run(db, embedder, stop)
    assert reembed.plan(db, embedder).done == 2
    # Meanwhile the server on the old model keeps working: one staged memory changes.
    old = app.extensions["memory_api"].memories
    old.update(Scope("default", "default"), "m0", text="Note 0: repot the basil instead")
    calls = []
    # The 4 left, then m0 again: changed after it was staged, caught up in the swap.
    assert reembed.run(db, embedder, calls.append) == len(filled) - 2 + 1
    assert sum(calls) == len(filled) - 2
    with db.transaction() as conn:  # opening the index may create it
        (chunk,) = conn.execute("SELECT rowid * 1024 FROM memories WHERE id = 'm0'").fetchone()
        index = db.open_vector_index(conn, embedder.dimension, None)
        _, stored = index.vectors(conn, [chunk])
    expected = embedder.embed_documents(["Note 0: repot the basil instead"])[0].vectors[0]
    assert np.allclose(stored[0], expected, atol=1e-6)
    assert not reembed.plan(db, embedder).needed


class StandIn:
    """A stand-in embedder with 8 dimensions (a mock: no second real model is available)."""

    identity = "stand-in-8"
    dimension = 8

    def embed_documents(self, texts: list[str], owner: str = "") -> list[Embeddings]:
        rng = [np.random.default_rng(zlib.crc32(t.encode())) for t in texts]
        return [Embeddings(r.standard_normal((1, 8)).astype(np.float32), [3]) for r in rng]


def test_a_new_dimension_gets_a_new_code_table(app, filled):
    db = app.extensions["memory_api"].db
    assert reembed.run(db, StandIn(), lambda done: None) == len(filled)
    with db.transaction() as conn:  # opening the index may create it
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        assert (meta["embedding_model"], meta["embedding_dimension"]) == ("stand-in-8", "8")
        index = db.open_vector_index(conn, 8, None)
        query = StandIn().embed_documents([filled["m1"]])[0].vectors[0]
        best = index.nearest(conn, "default/default", query, 1)
        m1 = conn.execute("SELECT rowid * 1024 FROM memories WHERE id = 'm1'").fetchone()[0]
    assert best[0][0] == m1
    assert vector_counts(app) == (len(filled), len(filled), len(filled))
