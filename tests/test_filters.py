"""The filter grammar: metadata operators, `or` and `not`, on search and on the list endpoints.

One fixed set of memories with varied metadata; each case names the exact memories a filter
matches, checked on every surface (both search endpoints in every mode, both list endpoints
with their `total`) and checked again negated: `{"not": case}` matches exactly the others.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from urllib.parse import quote

import jsonschema_rs
import pytest

from helpers import headers
from mcp_clients import http_client, run

# Every test runs on a SQLite file and on a real PostgreSQL (`world`'s params; the others by
# tests/conftest.py).
BOTH_BACKENDS = True
MODES = ["semantic", "keyword", "hybrid"]

# name -> metadata; every text shares the words "filter note" so every mode finds them all.
MEMORIES = {
    "int3": {"priority": 3, "team": "api", "type": "task", "tags": ["work"]},
    "int1": {"priority": 1, "team": "web", "done": False},
    "float": {"priority": 2.5, "score": 0.75},
    "bool": {"priority": True, "done": True},  # true is not the number 1
    "strnum": {"priority": "3", "team": "API"},  # a string is not a number
    "null": {"priority": None, "due": None},  # a key holding null exists
    "array": {"priority": [3], "team": ["api"]},  # an array equals no scalar
    "object": {"priority": {"level": 3}},
    "big": {"priority": 2**64},  # past 64 bits
    "bare": {},
    "utc": {"due": "2024-05-01T10:00:00Z"},
    "offset": {"due": "2024-05-01T12:30:00+02:00"},  # 10:30 UTC
    "naive": {"due": "2024-05-01T10:15:00"},  # no offset: UTC
    "day": {"due": "2024-05-02"},  # a date alone: its midnight UTC
    "notdate": {"due": "next Tuesday"},
    "number-due": {"due": 2460000.5},  # a number, not a time (SQLite's julian days)
}
ALL = frozenset(MEMORIES)
DUE = {"null", "utc", "offset", "naive", "day", "notdate", "number-due"}
HAS_PRIORITY = {"int3", "int1", "float", "bool", "strnum", "null", "array", "object", "big"}


def meta(**conditions):
    return {"metadata": conditions}


def nots(depth, inner):
    for _ in range(depth):
        inner = {"not": inner}
    return inner


CASES = [
    # equality, as before: strict JSON types
    (meta(priority=3), {"int3"}),
    (meta(priority=1), {"int1"}),
    (meta(priority="3"), {"strnum"}),
    (meta(priority=True), {"bool"}),
    (meta(done=False), {"int1"}),
    (meta(priority=None), {"null"}),
    (meta(team="api"), {"int3"}),
    (meta(priority=2**64), {"big"}),
    # eq / ne
    (meta(priority={"eq": 3}), {"int3"}),
    (meta(priority={"eq": None}), {"null"}),
    (meta(priority={"eq": 2.5}), {"float"}),
    (meta(priority={"ne": 3}), ALL - {"int3"}),  # a memory without the key: not equal
    (meta(priority={"ne": None}), ALL - {"null"}),
    (meta(team={"ne": "api"}), ALL - {"int3"}),  # ["api"] and "API" are not "api"
    # in / nin
    (meta(priority={"in": [1, 2.5, "3"]}), {"int1", "float", "strnum"}),
    (meta(priority={"in": [None, True]}), {"null", "bool"}),
    (meta(priority={"in": [2**64, 7]}), {"big"}),
    (meta(priority={"nin": [1, 3]}), ALL - {"int1", "int3"}),
    (meta(priority={"nin": [None, "3", True]}), ALL - {"null", "strnum", "bool"}),
    # numeric ranges: numbers only, never true, "3" or [3]
    (meta(priority={"gt": 1}), {"int3", "float", "big"}),
    (meta(priority={"gte": 1}), {"int1", "int3", "float", "big"}),
    (meta(priority={"lt": 3}), {"int1", "float"}),
    (meta(priority={"lte": 3, "gt": 1}), {"int3", "float"}),
    (meta(priority={"gte": 2.5, "lte": 2.5}), {"float"}),
    (meta(priority={"gt": 2**63}), {"big"}),
    (meta(priority={"gte": 4, "lt": 2**63}), set()),
    (meta(score={"lt": 1}, priority={"gt": 2}), {"float"}),
    # ISO date-time ranges: stored ISO date-times compared as instants
    (meta(due={"gte": "2024-05-01T10:00:00Z"}), {"utc", "offset", "naive", "day"}),
    (meta(due={"gt": "2024-05-01T10:00:00Z"}), {"offset", "naive", "day"}),
    (meta(due={"lt": "2024-05-01T10:30:00Z"}), {"utc", "naive"}),
    (meta(due={"lte": "2024-05-01T12:30:00+02:00"}), {"utc", "offset", "naive"}),
    (meta(due={"gte": "2024-05-01T10:20:00", "lt": "2024-05-02T00:00:00+00:00"}), {"offset"}),
    (meta(due={"gte": "2024-05-01T20:00:00-04:00"}), {"day"}),  # 2024-05-02T00:00Z
    (meta(due={"lt": "2000-01-01"}), set()),
    (meta(due={"gt": "0001-01-01T00:00:00+14:00"}), {"utc", "offset", "naive", "day"}),
    (meta(due={"lt": "9999-12-31T23:59:59-14:00"}), {"utc", "offset", "naive", "day"}),
    (meta(due={"gt": "9999-12-31T23:59:59-14:00"}), set()),
    # exists
    (meta(due={"exists": True}), DUE),
    (meta(due={"exists": False}), ALL - DUE),
    (meta(priority={"exists": True, "ne": None}), HAS_PRIORITY - {"null"}),
    # or / not, with the other filter fields too
    ({"or": [meta(priority=3), meta(done=True)]}, {"int3", "bool"}),
    ({"or": [{"type": "task"}, meta(priority={"lt": 2})]}, {"int3", "int1"}),
    ({"or": [meta(team="web")], "metadata": {"done": {"exists": True}}}, {"int1"}),
    ({"not": {"type": "task"}}, ALL - {"int3"}),  # memories without a type are not tasks
    ({"not": {"tags": {"any": ["work"]}}}, ALL - {"int3"}),
    ({"not": meta(priority={"exists": True})}, ALL - HAS_PRIORITY),
    ({"not": {"or": [meta(team="api"), meta(team="web")]}}, ALL - {"int3", "int1"}),
    (
        {"or": [{"not": meta(due={"exists": True})}, meta(due={"gt": "2024-05-01T10:20:00Z"})]},
        (ALL - DUE) | {"offset", "day"},
    ),
    ({"or": [{"or": [meta(priority=1)]}, {"not": {"not": meta(priority=2.5)}}]}, {"int1", "float"}),
    (nots(5, meta(priority=3)), ALL - {"int3"}),  # the deepest nesting allowed
    (nots(4, meta(priority=3)), {"int3"}),
    ({}, ALL),
]


def _ids(case):
    return [json.dumps(filters, sort_keys=True)[:60] for filters, _ in case]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def world(request, make_module_app, tmp_path_factory, embedder):
    """An app holding MEMORIES, an enterprise key (no quota to run out of), names by id.

    Once on a SQLite file, once on a real PostgreSQL: every case on every surface, on both.
    """
    if request.param == "postgres":
        location = request.getfixturevalue("postgres_server").new_database()
    else:
        location = str(tmp_path_factory.mktemp("filters") / "memory.db")
    app = make_module_app({"TESTING": True, "DATABASE": location})
    app.extensions["memory_api"].memories.prepare()
    auth = headers(app.extensions["memory_api"].keys.create("enterprise", "default").plaintext)
    client = app.test_client()
    names = {}
    for name, metadata in MEMORIES.items():
        body = {"text": f"Filter note about {name}", "metadata": metadata}
        response = client.post("/api/v1/memory", json=body, headers=auth)
        assert response.status_code == 201, response.json
        names[response.json["id"]] = name
    return app, client, auth, names


def found_everywhere(client, auth, names, filters) -> dict[str, set[str]]:
    """The names each surface returns for `filters` (and each list's total, checked)."""
    found = {}
    for mode in MODES:
        body = {"query": "filter note", "limit": 100, "mode": mode, "filters": filters}
        response = client.post("/api/v1/memory/search", json=body, headers=auth)
        assert response.status_code == 200, response.json
        found[f"search {mode}"] = {names[r["id"]] for r in response.json["results"]}
        response = client.post("/v1/memories/search", json=body, headers=auth)
        assert response.status_code == 200, response.json
        found[f"v1 search {mode}"] = {names[r["id"]] for r in response.json["data"]}
    query = f"filters={quote(json.dumps(filters))}"
    response = client.get(f"/api/v1/memory?limit=100&{query}", headers=auth)
    assert response.status_code == 200, response.json
    assert response.json["pagination"]["total"] == len(response.json["memories"])
    found["list"] = {names[m["id"]] for m in response.json["memories"]}
    response = client.get(f"/v1/memories?per_page=100&{query}", headers=auth)
    assert response.status_code == 200, response.json
    assert response.json["pagination"]["total"] == len(response.json["data"])
    found["v1 list"] = {names[m["id"]] for m in response.json["data"]}
    return found


def _depth(filters) -> int:
    return 1 + _depth(filters["not"]) if "not" in filters else 0


@pytest.mark.parametrize(("filters", "expected"), CASES, ids=_ids(CASES))
def test_each_filter_matches_exactly_its_memories_on_every_surface(world, filters, expected):
    _, client, auth, names = world
    found = found_everywhere(client, auth, names, filters)
    assert found == {surface: set(expected) for surface in found}
    if filters and _depth(filters) < 5:  # a sixth `not` would nest too deep
        negated = found_everywhere(client, auth, names, {"not": filters})
        assert negated == {surface: ALL - set(expected) for surface in negated}


def test_the_list_total_counts_every_match_not_the_page(world):
    _, client, auth, _ = world
    filters = quote(json.dumps(meta(priority={"exists": True})))
    page = client.get(f"/api/v1/memory?limit=2&page=2&filters={filters}", headers=auth).json
    assert page["pagination"] == {"page": 2, "limit": 2, "total": 9, "pages": 5}
    assert len(page["memories"]) == 2
    v1 = client.get(f"/v1/memories?per_page=4&filters={filters}", headers=auth).json
    assert v1["pagination"] == {"page": 1, "per_page": 4, "total": 9, "total_pages": 3}
    unfiltered = client.get("/v1/memories?per_page=1", headers=auth).json["pagination"]
    assert unfiltered["total"] == len(MEMORIES)


def _at(details, path):
    node = details["fields"]
    for step in path:
        assert isinstance(node, dict) and step in node, (path, details)
        node = node[step]
    return node


FIVE_EACH = {f"k{i}": {"gt": 0, "gte": 0, "lt": 9, "lte": 9, "ne": 5} for i in range(20)}
TOO_BIG = [
    # 100 + 100 + 1 = 201 conditions
    {"metadata": FIVE_EACH, "or": [{"metadata": FIVE_EACH}, {"type": "x"}]},
    # 1 + 5 + 100 = 106 filter objects
    {"or": [{"or": [{"type": "x"}] * 20}] * 5},
]

INVALID = [
    (meta(priority={"gte": "three"}), ["metadata", "priority", "gte"]),
    (meta(priority={"gt": True}), ["metadata", "priority", "gt"]),
    (meta(priority={"lt": [1]}), ["metadata", "priority", "lt"]),
    (meta(priority={"lte": {"a": 1}}), ["metadata", "priority", "lte"]),
    (meta(priority={"lte": None}), ["metadata", "priority", "lte"]),
    (meta(due={"gt": "yesterday"}), ["metadata", "due", "gt"]),
    (meta(due={"gt": "2024-13-01T00:00:00Z"}), ["metadata", "due", "gt"]),
    (meta(priority={"between": [1, 2]}), ["metadata", "priority", "between"]),
    (meta(priority={"$gt": 1}), ["metadata", "priority", "$gt"]),
    (meta(priority={"eq": [3]}), ["metadata", "priority", "eq"]),
    (meta(priority={"ne": {"x": 1}}), ["metadata", "priority", "ne"]),
    (meta(priority={"in": []}), ["metadata", "priority", "in"]),
    (meta(priority={"in": 3}), ["metadata", "priority", "in"]),
    (meta(priority={"in": [[1]]}), ["metadata", "priority", "in"]),
    (meta(priority={"nin": list(range(101))}), ["metadata", "priority", "nin"]),
    (meta(priority={"exists": 1}), ["metadata", "priority", "exists"]),
    (meta(priority={"exists": "yes"}), ["metadata", "priority", "exists"]),
    (meta(priority={}), ["metadata", "priority"]),
    (meta(priority=[1, 2]), ["metadata", "priority"]),
    ({"metadata": {}}, ["metadata"]),
    ({"or": []}, ["or"]),
    ({"or": {"type": "x"}}, ["or"]),
    ({"or": [{"type": "x"}] * 21}, ["or"]),
    ({"or": [{}]}, ["or", "0", "_schema"]),
    ({"or": [{"type": "x"}, "type"]}, ["or", "1"]),
    ({"or": [{"type": "x"}, meta(p={"gte": "x"})]}, ["or", "1", "metadata", "p", "gte"]),
    ({"not": {}}, ["not", "_schema"]),
    ({"not": []}, ["not"]),
    ({"not": {"colour": "red"}}, ["not", "colour"]),
    ({"not": {"not": meta(p={"in": [{}]})}}, ["not", "not", "metadata", "p", "in"]),
    ({"OR": [{"type": "x"}]}, ["OR"]),
    (nots(6, {"type": "x"}), ["not"]),
    ({"or": [nots(5, {"type": "x"})]}, ["or"]),
    *((filters, ["_schema"]) for filters in TOO_BIG),
]


@pytest.mark.parametrize(("filters", "path"), INVALID, ids=_ids(INVALID))
def test_invalid_filters_are_400s_naming_the_key(world, filters, path):
    _, client, auth, _ = world
    for url in ("/api/v1/memory/search", "/v1/memories/search"):
        response = client.post(url, json={"query": "q", "filters": filters}, headers=auth)
        assert response.status_code == 400, response.json
        assert response.json["error"] == "INVALID_REQUEST"
        assert _at(response.json["details"], ["filters", *path])
    for url in ("/api/v1/memory", "/v1/memories"):
        response = client.get(f"{url}?filters={quote(json.dumps(filters))}", headers=auth)
        assert response.status_code == 400, response.json
        assert response.json["message"] == "Invalid query parameter: filters"
        assert _at(response.json["details"], ["filters", *path])


@pytest.mark.parametrize(
    "raw",
    [
        "nope",
        "[1]",
        '"x"',
        "3",
        "null",
        "{",
        '{"type": NaN}',
        '{"p": 1e999}',
        '{"type": "\\ud800"}',
    ],
)
def test_a_filters_parameter_that_is_not_a_json_object_is_a_400(world, raw):
    _, client, auth, _ = world
    for url in ("/api/v1/memory", "/v1/memories"):
        response = client.get(f"{url}?filters={quote(raw)}", headers=auth)
        assert response.status_code == 400, response.json
        assert list(response.json["details"]["fields"]) == ["filters"]


def test_two_hundred_conditions_of_a_hundred_values_and_100_objects_are_fine(world):
    _, client, auth, names = world
    values = [*range(50), *(f"v{i}" for i in range(49)), None]
    # Keys no memory has: nin, ne and exists:false hold, `in` does not. 200 conditions,
    # about 20,000 SQL parameters.
    holds = {f"k{i}": {"nin": values, "ne": "x", "exists": False} for i in range(20)}
    fails = {f"k{i}": {"in": values, "ne": None, "exists": True} for i in range(20)}
    filters = {
        "metadata": holds,
        "or": [{"metadata": fails}, {"metadata": {f"k{i}": {"nin": values} for i in range(20)}}],
        "not": {"metadata": fails},
    }
    found = found_everywhere(client, auth, names, filters)
    assert found == {surface: set(ALL) for surface in found}
    # 1 + 5 + 94 = 100 filter objects
    filters = {"or": [{"or": [{"type": "task"}] * 20}] * 4 + [{"or": [{"type": "task"}] * 14}]}
    found = found_everywhere(client, auth, names, filters)
    assert found == {surface: {"int3"} for surface in found}


@pytest.mark.parametrize("depth", [500, 10_000])
def test_deep_nesting_is_a_400_not_a_crash(world, depth):
    _, client, auth, _ = world
    raw = '{"not": ' * depth + '{"type": "x"}' + "}" * depth
    for url in ("/api/v1/memory/search", "/v1/memories/search"):
        body = f'{{"query": "q", "filters": {raw}}}'
        response = client.post(url, data=body, headers=auth, content_type="application/json")
        assert response.status_code == 400, response.json
    for url in ("/api/v1/memory", "/v1/memories"):
        response = client.get(f"{url}?filters={quote(raw)}", headers=auth)
        assert response.status_code == 400, response.json
        assert list(response.json["details"]["fields"]) == ["filters"]


@pytest.mark.parametrize("mode", MODES)
def test_operators_and_combinators_apply_before_the_top_k_cut(client, auth, mode):
    """30 closer memories fail the filter: limit=1 must still find the one that passes."""
    for i in range(30):
        client.post(
            "/api/v1/memory",
            json={"text": f"Renew the car registration, reminder {i}", "metadata": {"n": i}},
            headers=auth,
        )
    wanted = client.post(
        "/api/v1/memory",
        json={"text": "Registration of the boat, someday", "metadata": {"n": 99.5}},
        headers=auth,
    ).json["id"]
    for filters in (
        meta(n={"gt": 50}),
        {"not": meta(n={"lt": 50})},
        {"or": [meta(n={"gte": 99, "lt": 100}), meta(n="nothing")]},
    ):
        body = {"query": "renew the car registration", "limit": 1, "mode": mode}
        response = client.post(
            "/api/v1/memory/search", json=body | {"filters": filters}, headers=auth
        )
        assert [r["id"] for r in response.json["results"]] == [wanted], filters


# ---- the OpenAPI document and the MCP tools describe the same grammar ----------------------


@pytest.fixture(scope="module")
def document(world):
    return world[1].get("/openapi.json").json


def _lenient(filters) -> bool:
    """Whether a range bound is a naive time or a bare date: ISO 8601, not RFC 3339.

    The server reads those as UTC, as it does `created_after`; the document says
    `format: date-time` (RFC 3339, which wants an offset) so fuzzers send what it takes.
    """
    text = json.dumps(filters)
    bounds = [b for b in re.findall(r'"(?:gt|gte|lt|lte)": "([^"]*)"', text)]
    return any(datetime.fromisoformat(b).tzinfo is None for b in bounds)


AGREEMENT = [
    *((filters, True) for filters, _ in CASES if not _lenient(filters)),
    *((filters, False) for filters, _ in INVALID if filters not in TOO_BIG),
]


@pytest.mark.parametrize(("filters", "accepted"), AGREEMENT, ids=_ids(AGREEMENT))
def test_the_document_and_the_server_agree_on_filters(world, document, filters, accepted):
    _, client, auth, _ = world
    schema = {"$ref": "#/components/schemas/SearchRequest", "components": document["components"]}
    validator = jsonschema_rs.validator_for(schema, validate_formats=True)
    body = {"query": "filter note", "filters": filters}
    assert validator.is_valid(body) == accepted
    response = client.post("/api/v1/memory/search", json=body, headers=auth)
    assert response.status_code == (200 if accepted else 400), response.json


def test_the_document_describes_every_operator_and_the_list_parameter(document):
    schemas = document["components"]["schemas"]
    operators = schemas["MetadataFilter"]["additionalProperties"]["anyOf"][1]["properties"]
    assert list(operators) == ["eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "exists"]
    assert all(spec.get("description") for spec in operators.values())
    assert {"or", "not"} <= set(schemas["Filters"]["properties"])
    assert "or" not in schemas["FiltersLevel5"]["properties"]
    for path in ("/api/v1/memory", "/v1/memories"):
        (param,) = [
            p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "filters"
        ]
        assert param["in"] == "query"
        assert param["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Filters"
        }


def test_the_mcp_list_tool_takes_filters_and_search_takes_operators(world):
    app, _, auth, names = world
    key = auth["Authorization"].removeprefix("Bearer ")

    async def session():
        async with http_client("http://127.0.0.1", key, app=app) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            listed = await client.call_tool(
                "list_memories", {"filters": meta(priority={"gt": 1}), "limit": 100}
            )
            found = await client.call_tool(
                "search_memories",
                {
                    "query": "filter note",
                    "limit": 100,
                    "filters": {"not": meta(due={"exists": True})},
                },
            )
            wrong = await client.call_tool(
                "list_memories", {"filters": meta(priority={"gte": "three"})}
            )
            return tools, listed, found, wrong

    tools, listed, found, wrong = run(session)
    assert "filters" in tools["list_memories"].input_schema["properties"]
    assert "FiltersLevel5" in tools["list_memories"].input_schema["$defs"]
    page = listed.structured_content
    assert {names[m["id"]] for m in page["memories"]} == {"int3", "float", "big"}
    assert page["total"] == 3
    assert {names[r["id"]] for r in found.structured_content["results"]} == ALL - DUE
    assert wrong.is_error and wrong.structured_content["status"] == 400
    details = wrong.structured_content["details"]["fields"]
    assert "gte" in details["filters"]["metadata"]["priority"]
