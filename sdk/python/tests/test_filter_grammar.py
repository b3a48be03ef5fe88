"""The filter grammar (operators, `or`, `not`) on search and list, against a real server."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from memory_api_client import MemoryAPIError, SearchFilters, ValidationError
from memory_api_client.inputs import filters_json

UTC = timezone.utc  # noqa: UP017 - datetime.UTC is Python 3.11+; the SDK supports 3.10


@pytest.fixture
def tasks(client):
    """Five memories whose `priority` and `due` the operators compare; their ids by name."""
    made = client.create_many(
        [
            {"id": "passport", "text": "Renew the passport",
             "metadata": {"type": "task", "priority": 3, "due": "2026-03-01T09:00:00+01:00"}},
            {"id": "dentist", "text": "Book the dentist",
             "metadata": {"type": "task", "priority": 1, "due": "2026-01-15T10:00:00Z"}},
            {"id": "taxes", "text": "File the taxes",
             "metadata": {"type": "task", "priority": 5, "team": "home"}},
            {"id": "plants", "text": "Water the plants",
             "metadata": {"type": "chore", "priority": True}},
            {"id": "notes", "text": "Notes from the call", "metadata": {"priority": 2.5}},
        ]
    )  # fmt: skip
    assert made.stored == 5
    return client


def matching(client, filters: SearchFilters) -> set[str]:
    """The ids a filtered search finds (more room than there are memories)."""
    results = client.search("things to do", limit=20, filters=filters).results
    return {result.id for result in results}


def listed(client, filters: SearchFilters) -> set[str]:
    """The ids a filtered list holds, checking its total counts exactly them."""
    page = client.list(limit=100, filters=filters)
    assert page.total == len(page.memories)
    return {memory.id for memory in page.memories}


def test_numeric_ranges_match_numbers_only(tasks):
    # 3 and 2.5, not 5 (lt is strict), 1, or true (a boolean is not a number)
    assert matching(tasks, {"metadata": {"priority": {"gte": 2, "lt": 5}}}) == {"passport", "notes"}
    assert matching(tasks, {"metadata": {"priority": {"gt": 3, "lte": 5}}}) == {"taxes"}
    assert matching(tasks, {"metadata": {"priority": {"ne": 1, "lt": 3}}}) == {"notes"}


def test_or_holds_when_one_of_its_filters_does(tasks):
    either = {"or": [{"type": "chore"}, {"metadata": {"priority": {"gte": 5}}}]}
    assert matching(tasks, either) == {"plants", "taxes"}
    both = {"type": "task", "or": [{"metadata": {"team": "home"}}, {"metadata": {"priority": 1}}]}
    assert matching(tasks, both) == {"taxes", "dentist"}


def test_not_holds_for_memories_without_the_key(tasks):
    assert matching(tasks, {"not": {"type": "task"}}) == {"plants", "notes"}  # notes: no type
    # true is no number, so `lt` fails for it and `not` holds
    assert matching(tasks, {"not": {"metadata": {"priority": {"lt": 3}}}}) == {
        "passport",
        "taxes",
        "plants",
    }
    assert matching(tasks, {"metadata": {"team": {"nin": ["home"]}}}) == {
        "passport",
        "dentist",
        "plants",
        "notes",
    }


def test_datetimes_inside_or_and_not_are_sent_as_utc(tasks):
    # The dentist is due before February; plants, taxes and notes have no due date.
    undated_or_early = {
        "or": [
            {"metadata": {"due": {"lt": datetime(2026, 2, 1, tzinfo=UTC)}}},
            {"not": {"metadata": {"due": {"exists": True}}}},
        ]
    }
    assert matching(tasks, undated_or_early) == {"dentist", "taxes", "plants", "notes"}
    # The passport is due at 08:00 UTC; a naive datetime is UTC, another zone the same moment.
    eight_utc = datetime(2026, 3, 1, 8, 0)
    assert matching(tasks, {"or": [{"metadata": {"due": {"gte": eight_utc}}}]}) == {"passport"}
    assert matching(tasks, {"or": [{"metadata": {"due": {"gt": eight_utc}}}]}) == set()
    tokyo = eight_utc.replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=9)))
    # the dentist and the passport are due by then
    assert matching(tasks, {"not": {"metadata": {"due": {"lte": tokyo}}}}) == {
        "taxes",
        "plants",
        "notes",
    }
    assert matching(tasks, {"metadata": {"due": {"lte": tokyo, "gt": "2026-02-01"}}}) == {
        "passport"
    }


def test_time_filters_at_any_depth(tasks):
    cutoff = datetime.fromisoformat(tasks.get("taxes").created_at)  # the batch's one time
    time.sleep(0.02)
    tasks.upsert(text="Call the plumber", id="plumber", metadata={"type": "task"})
    later = {"or": [{"created_after": cutoff}, {"type": "chore"}]}
    assert matching(tasks, later) == {"plumber", "plants"}
    batch = {"not": {"or": [{"not": {"created_before": cutoff + timedelta(milliseconds=1)}}]}}
    assert matching(tasks, batch) == {"passport", "dentist", "taxes", "plants", "notes"}
    naive = cutoff.astimezone(UTC).replace(tzinfo=None)  # naive: UTC, as the server reads it
    assert listed(tasks, {"not": {"created_after": naive}}) == matching(tasks, batch)


def test_filters_json_converts_datetimes_wherever_they_are():
    moment = datetime(2026, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    given: SearchFilters = {
        "type": "task",
        "created_after": moment,
        "metadata": {"due": {"gte": moment, "lt": "2027-01-01", "in": ["a"]}, "n": 1},
        "or": [{"updated_before": moment}, {"not": {"metadata": {"due": {"lte": moment}}}}],
        "not": {"or": [{"created_before": datetime(2026, 3, 1, 8, 0)}]},
    }
    iso = "2026-03-01T08:00:00Z"
    assert filters_json(given) == {
        "type": "task",
        "created_after": iso,
        "metadata": {"due": {"gte": iso, "lt": "2027-01-01", "in": ["a"]}, "n": 1},
        "or": [{"updated_before": iso}, {"not": {"metadata": {"due": {"lte": iso}}}}],
        "not": {"or": [{"created_before": iso}]},
    }


def test_list_filters_count_the_matches_across_pages(tasks):
    first = tasks.list(page=1, limit=2, filters={"type": "task"})
    assert (first.total, first.pages, len(first.memories)) == (3, 2, 2)
    second = tasks.list(page=2, limit=2, filters={"type": "task"})
    assert (second.total, len(second.memories)) == (3, 1)
    pages = {m.id for m in first.memories} | {m.id for m in second.memories}
    assert pages == {"passport", "dentist", "taxes"}
    ranged = {"metadata": {"priority": {"gte": 2, "lt": 5}}}
    iterated = [m.id for m in tasks.iter_memories(page_size=1, filters=ranged)]
    assert sorted(iterated) == ["notes", "passport"]  # one a page, only the matches
    dated = {"or": [{"metadata": {"due": {"lt": datetime(2026, 2, 1)}}}, {"type": "chore"}]}
    assert listed(tasks, dated) == {"dentist", "plants"}
    assert tasks.list(filters={"metadata": {"priority": {"gt": 99}}}).total == 0
    assert tasks.list().total == tasks.list(filters={}).total == 5  # no filter: every memory


def test_invalid_or_oversized_list_filters_are_refused(tasks):
    with pytest.raises(ValidationError) as refused:
        tasks.list(filters={"metadata": {"priority": {"gte": "three"}}})
    assert list(refused.value.details["fields"]["filters"]["metadata"]["priority"]) == ["gte"]
    unknown: Any = {"or": [{"type": "task"}, {"not": {"kind": "x"}}]}
    with pytest.raises(ValidationError) as refused:
        tasks.list(filters=unknown)
    assert list(refused.value.details["fields"]["filters"]["or"]["1"]["not"]) == ["kind"]
    huge = {"metadata": {"label": {"in": ["x" * 40] * 100}}}  # ~4.5 KB of URL
    with pytest.raises(MemoryAPIError) as refused:
        tasks.list(filters=huge)
    assert refused.value.status == 414
    assert {r.id for r in tasks.search("x", filters=huge).results} == set()  # a body has room
