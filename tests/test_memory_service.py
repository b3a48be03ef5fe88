"""MemoryService with the real model: embedding, re-embedding, the model check at start."""

from __future__ import annotations

import numpy as np
import pytest

from memory_server.memory_service import MemoryService, StartupError
from memory_server.scope import Scope
from memory_server.storage.database import Database
from memory_server.storage.memory_store import MemoryStore

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True

SCOPE = Scope("default", "default")


@pytest.fixture
def service(app) -> MemoryService:
    return app.extensions["memory_api"].memories


def test_create_embeds_the_text(service, embedder):
    created = service.create(SCOPE, "The cat sleeps on the sofa")
    assert created.embedding_generated and created.vector_dimensions == 384
    stored = service.get(SCOPE, created.memory.id, with_embedding=True).embedding
    assert np.isclose(np.linalg.norm(stored), 1.0, atol=1e-5)


def test_similar_texts_get_similar_vectors(service):
    ids = [
        service.create(SCOPE, text).memory.id
        for text in ("I adopted a puppy", "We got a new dog", "Quarterly tax filing deadline")
    ]
    vectors = [np.array(service.get(SCOPE, i, with_embedding=True).embedding) for i in ids]
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_unchanged_text_is_not_embedded_again(service, monkeypatch):
    created = service.create(SCOPE, "same words")
    calls = []
    original = service.embedder.embed_documents
    monkeypatch.setattr(
        service.embedder,
        "embed_documents",
        lambda texts, owner="": calls.append(texts) or original(texts, owner),
    )
    updated = service.update(SCOPE, created.memory.id, text="same words", metadata={"a": 1})
    assert not updated.embedding_regenerated and updated.tokens_used == 0 and calls == []
    updated = service.update(SCOPE, created.memory.id, text="different words")
    assert updated.embedding_regenerated and calls == [["different words"]]


def test_starting_on_a_database_of_another_dimension_fails_with_what_to_do(tmp_path, embedder):
    db = Database(tmp_path / "old.db")
    db.migrate()
    MemoryStore(db).bind_embedding_model("some/768-dim-model", 768)
    service = MemoryService(MemoryStore(db), embedder)
    with pytest.raises(StartupError) as error:
        service.prepare()
    message = str(error.value)
    assert "768" in message and "384" in message
    assert "MEMORY_API_EMBEDDING_MODEL='some/768-dim-model'" in message
    assert "flask --app app reembed" in message
    assert not service.ready
