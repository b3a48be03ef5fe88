"""Search options (modes, every filter, threshold, limit) and stats against a real server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from memory_api_client import BestChunk, MemoryStats, OwnerStats, SearchResults, WorkspaceStats


@pytest.fixture
def notes(client):
    """Four memories with the metadata every filter looks at; their ids by name."""
    made = client.create_many(
        [
            {"id": "standup", "text": "Standup moved to 9:30 on Mondays",
             "metadata": {"type": "meeting", "source": "calendar", "tags": ["team", "weekly"],
                          "team": "api", "priority": 1}},
            {"id": "retro", "text": "The sprint retro is on Friday afternoon",
             "metadata": {"type": "meeting", "source": "email", "tags": ["team"],
                          "team": "web", "priority": 2}},
            {"id": "dentist", "text": "Dentist appointment on Tuesday at 10",
             "metadata": {"type": "health", "source": "calendar", "tags": ["personal"],
                          "priority": 3}},
            {"id": "taxes", "text": "The quarterly tax filing is due in April",
             "metadata": {"type": "finance", "tags": ["personal", "deadline"], "urgent": True}},
        ]
    )  # fmt: skip
    assert made.stored == 4
    return client


def found(client, query="when is the meeting", **options) -> list[str]:
    """The ids a search returns, in order."""
    results = client.search(query, limit=10, **options)
    assert isinstance(results, SearchResults) and results.total_results == len(results.results)
    return [result.id for result in results.results]


@pytest.mark.parametrize("mode", ["semantic", "keyword", "hybrid"])
def test_every_mode_ranks_the_best_match_first(notes, mode):
    assert found(notes, "dentist appointment", mode=mode)[0] == "dentist"


def test_each_filter_narrows_the_results(notes):
    assert sorted(found(notes, filters={"type": "meeting"})) == ["retro", "standup"]
    assert sorted(found(notes, filters={"source": "calendar"})) == ["dentist", "standup"]
    assert sorted(found(notes, filters={"tags": {"any": ["weekly", "deadline"]}})) == [
        "standup",
        "taxes",
    ]
    assert found(notes, filters={"tags": {"all": ["personal", "deadline"]}}) == ["taxes"]
    assert found(notes, filters={"tags": {"any": ["team"], "all": ["weekly"]}}) == ["standup"]
    assert found(notes, filters={"metadata": {"team": "web"}}) == ["retro"]
    assert sorted(found(notes, filters={"metadata": {"priority": {"in": [1, 3]}}})) == [
        "dentist",
        "standup",
    ]
    assert found(notes, filters={"metadata": {"urgent": True}}) == ["taxes"]
    both = {"type": "meeting", "metadata": {"priority": {"in": [2, 3]}}}
    assert found(notes, filters=both) == ["retro"]


def test_time_filters_take_datetimes_aware_or_naive(notes):
    standup, dentist = notes.get("standup"), notes.get("dentist")
    notes.update("dentist", metadata={"type": "health", "seen": True})
    created = datetime.fromisoformat(standup.created_at)  # all four share one transaction
    assert created.tzinfo is not None
    later = notes.get("dentist").updated_at
    every = ["dentist", "retro", "standup", "taxes"]
    assert sorted(found(notes, filters={"created_before": created + timedelta(seconds=1)})) == every
    assert found(notes, filters={"created_after": created}) == []
    five_east = created.astimezone(timezone(timedelta(hours=5)))  # the same moment
    assert (
        sorted(found(notes, filters={"created_after": five_east - timedelta(seconds=1)})) == every
    )
    naive_utc = created.replace(tzinfo=None) - timedelta(seconds=1)  # naive: read as UTC
    assert sorted(found(notes, filters={"created_after": naive_utc})) == every
    assert found(notes, filters={"created_after": naive_utc + timedelta(hours=5)}) == []
    assert found(notes, filters={"updated_after": datetime.fromisoformat(dentist.updated_at)}) == [
        "dentist"
    ]
    assert sorted(found(notes, filters={"updated_before": later})) == ["retro", "standup", "taxes"]
    assert found(notes, filters={"updated_after": later}) == []  # ISO text works as before


def test_threshold_and_limit(notes):
    assert len(notes.search("meeting", limit=2).results) == 2
    scores = [r.score for r in notes.search("dentist appointment on Tuesday").results]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.5
    kept = notes.search("dentist appointment on Tuesday", threshold=scores[0] - 1e-4).results
    assert [r.id for r in kept] == ["dentist"]
    assert notes.search("dentist", threshold=0.99).results == []


@pytest.mark.parametrize("mode", ["semantic", "keyword", "hybrid"])
def test_a_short_memory_is_its_own_best_chunk(notes, mode):
    best = notes.search("dentist appointment", limit=1, mode=mode).results[0]
    text = "Dentist appointment on Tuesday at 10"
    assert (best.id, best.best_chunk) == ("dentist", BestChunk(0, 0, len(text), text))


# Paragraphs of ~150 tokens each, so the memory is several chunks; the emoji and the CJK
# before the fact make code-point offsets differ from UTF-16 and UTF-8 ones.
FILLER = [
    "🌻 The garden club met on Saturday to plan the spring planting. " * 12,
    "会议记录: budget spreadsheets were reviewed line by line, twice. 📊 " * 12,
]
FACT = "The spare key to the garden shed is hidden under the blue flowerpot by the gate."


@pytest.mark.parametrize("mode", ["semantic", "keyword", "hybrid"])
def test_the_best_chunk_of_a_long_memory_is_the_matching_paragraph(client, mode):
    text = "\n\n".join([*FILLER, FACT, FILLER[1]])
    memory_id = client.upsert(text=text).id
    best = client.search("where is the spare shed key hidden", limit=1, mode=mode).results[0]
    chunk = best.best_chunk
    assert best.id == memory_id and isinstance(chunk, BestChunk)
    assert chunk.index > 0 and 0 < chunk.start < chunk.end < len(text)
    assert chunk.text == text[chunk.start : chunk.end]
    assert FACT in chunk.text and len(chunk.text) < len(text) / 2


def test_stats_count_this_workspace_and_the_owner(sdk_server, client):
    empty = client.stats()
    assert isinstance(empty, MemoryStats) and isinstance(empty.owner, OwnerStats)
    assert (empty.memories, empty.chunks, empty.oldest_created_at, empty.last_updated_at) == (
        0,
        0,
        None,
        None,
    )
    first = client.upsert(text="one").id
    client.upsert(text="Long. " * 400 + "\n\n" + "Split into chunks. " * 300)
    client.update(first, text="one, changed")
    stats = client.stats()
    assert stats.workspace == client._session.headers["X-Workspace-ID"]
    assert stats.memories == 2 and stats.chunks > 2
    assert stats.oldest_created_at == client.get(first).created_at
    assert stats.last_updated_at == client.get(first).updated_at
    mine = [w for w in stats.owner.workspaces if w.workspace == stats.workspace]
    assert mine == [
        WorkspaceStats(
            stats.workspace, 2, stats.chunks, stats.oldest_created_at, stats.last_updated_at
        )
    ]
    assert stats.owner.memories == sum(w.memories for w in stats.owner.workspaces)
    assert stats.owner.memories >= 2
