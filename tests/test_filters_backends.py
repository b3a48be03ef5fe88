"""The filter grammar gives the same memories on both backends, at the store.

tests/test_filters.py checks every surface on SQLite; here each of its cases, and its
negation, is run on MemoryStore.page over a SQLite file and a real PostgreSQL: the SQLite
compiler (search/filters.py) and the jsonb one (storage/postgres/filters_sql.py) must agree.
"""

from __future__ import annotations

import numpy as np
import pytest

from memory_server.api.schemas import FiltersSchema, schema
from memory_server.scope import Scope
from memory_server.storage.memory_store import MemoryStore
from test_filters import ALL, CASES, MEMORIES, _ids, meta, nots

SCOPE = Scope("default", "filters")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def store(request, tmp_path_factory):
    """MEMORIES in a store of each backend (one per module: the cases only read)."""
    from memory_server.storage.database import Database
    from memory_server.storage.postgres.database import PostgresDatabase

    if request.param == "sqlite":
        db = Database(tmp_path_factory.mktemp("filters") / "memory.db")
    else:
        db = PostgresDatabase(request.getfixturevalue("postgres_server").new_database())
    db.migrate()
    memories = MemoryStore(db)
    memories.bind_embedding_model("test-model", 8)
    for n, (name, metadata) in enumerate(MEMORIES.items()):
        vector = np.random.default_rng(n).standard_normal(8).astype(np.float32)
        memories.insert(SCOPE, name, f"Filter note about {name}", metadata, f"h{n}", vector)
    yield memories
    db.close()


def matched(store: MemoryStore, filters: dict) -> set[str]:
    loaded = schema(FiltersSchema).load(filters)
    items, total = store.page(SCOPE, 100, 0, loaded)
    assert total == len(items)
    return {memory.id for memory in items}


@pytest.mark.parametrize(("filters", "expected"), CASES, ids=_ids(CASES))
def test_each_case_and_its_negation_match_the_same_memories(store, filters, expected):
    assert matched(store, filters) == expected
    # Negated too, unless the case is already as deep as the grammar allows.
    if filters and filters != nots(5, meta(priority=3)):
        assert matched(store, {"not": filters}) == ALL - expected
