"""Keyword scores depend on the caller's workspace alone: nothing another tenant stores shows."""

from __future__ import annotations

import random

import pytest

from helpers import assert_keyword_index_matches_the_texts, headers
from memory_server.search import keyword_terms

BOTH_BACKENDS = True


def keyword_scores(client, auth, query: str) -> dict[str, float]:
    response = client.post(
        "/api/v1/memory/search", json={"query": query, "mode": "keyword"}, headers=auth
    )
    assert response.status_code == 200, response.json
    return {r["text"]: r["score"] for r in response.json["results"]}


def store(client, auth, text: str) -> str:
    # Copies allowed: the random texts repeat, and each copy has postings of its own.
    body = {"text": text, "on_duplicate": "allow"}
    response = client.post("/api/v1/memory", json=body, headers=auth)
    assert response.status_code == 201, response.json
    return response.json["id"]


def test_another_owners_words_do_not_show_in_my_scores(client, make_key):
    """The red team's probe: only bluefalcon is in another owner's memory too."""
    bob, alice = headers(make_key("pro", "bob")), headers(make_key("pro", "alice"))
    store(client, alice, "the password hint is bluefalcon")
    for word in ("bluefalcon", "qzxwvkplm", "purplehaze"):
        store(client, bob, f"guess {word}")
    scores = [keyword_scores(client, bob, word)[f"guess {word}"] for word in
              ("bluefalcon", "qzxwvkplm", "purplehaze")]  # fmt: skip
    assert scores[0] == scores[1] == scores[2]


def test_my_scores_do_not_move_when_others_store_or_delete(client, make_key):
    bob = headers(make_key("pro", "bob"), "notes")
    for text in ("dentist on tuesday at ten", "renew the car registration", "dentist bill paid"):
        store(client, bob, text)
    queries = ["dentist", "car registration", "tuesday dentist bill"]
    before = {query: keyword_scores(client, bob, query) for query in queries}
    # Other owners, and Bob's own other workspace: more memories with the same words, longer
    # ones, then some deleted again. Every statistic of the shared file changes.
    others = [headers(make_key("pro", "eve")), headers(make_key("free", "carol"), "x"),
              headers(make_key("pro", "bob"), "elsewhere")]  # fmt: skip
    rng = random.Random(7)
    ids = []
    for i in range(40):
        who = others[i % 3]
        text = " ".join(rng.choice(["dentist", "car", "tuesday", "bill", "word"]) for _ in range(i))
        ids.append((who, store(client, who, f"dentist {text}")))
    for who, memory_id in ids[::3]:
        assert client.delete(f"/api/v1/memory/{memory_id}", headers=who).status_code == 200
    after = {query: keyword_scores(client, bob, query) for query in queries}
    assert after == before


@pytest.mark.sqlite_only
def test_bm25_within_a_workspace(client, auth):
    store(client, auth, "pizza")
    store(client, auth, "pizza pizza pizza on friday")
    store(client, auth, "pizza with a very long list of other toppings and words around it")
    store(client, auth, "saffron risotto")
    scores = keyword_scores(client, auth, "pizza")
    # More occurrences rank higher; at one occurrence each, the shorter text ranks higher.
    assert list(scores) == [
        "pizza pizza pizza on friday",
        "pizza",
        "pizza with a very long list of other toppings and words around it",
    ]
    both = keyword_scores(client, auth, "pizza saffron")
    # The rarer word weighs more: one memory has saffron, three have pizza.
    assert max(both, key=both.get) == "saffron risotto"


@pytest.mark.postgres_only
def test_full_text_ranking_on_postgres(client, make_key):
    """ts_rank: more of the query's words, and more occurrences, rank higher."""
    auth = headers(make_key("pro", "ann"))
    for text in ("pizza", "pizza pizza pizza on friday", "pizza with saffron", "saffron risotto",
                 "Renovations of the CAFÉ"):  # fmt: skip
        store(client, auth, text)
    scores = keyword_scores(client, auth, "pizza")
    assert max(scores, key=scores.get) == "pizza pizza pizza on friday"
    assert set(scores) == {"pizza", "pizza pizza pizza on friday", "pizza with saffron"}
    both = keyword_scores(client, auth, "pizza saffron")
    assert max(both, key=both.get) == "pizza with saffron"
    assert set(both) == {"pizza", "pizza pizza pizza on friday", "pizza with saffron",
                         "saffron risotto"}  # fmt: skip
    # The same terms as SQLite's: folded and stemmed, so "renovating the cafe" matches.
    assert list(keyword_scores(client, auth, "renovating cafe")) == ["Renovations of the CAFÉ"]
    # Text that would be tsquery syntax is words like any other.
    for query in ("pizza & !saffron", "'pizza' | (", "<-> :* pizza", "\\ ' \" pizza"):
        assert "pizza" in keyword_scores(client, auth, query)


def test_terms_fold_case_accents_and_stems_and_cap_their_length():
    assert keyword_terms.terms("Café MÜLLER renovations, running!") == [
        "cafe", "muller", "renov", "run",
    ]  # fmt: skip
    assert keyword_terms.terms("foo_bar e-mail 4312 x2") == [
        "foo",
        "bar",
        "e",
        "mail",
        "4312",
        "x2",
    ]
    assert keyword_terms.terms("記憶検索" * 20) == ["記憶検索" * 16]
    assert keyword_terms.terms("") == []


@pytest.mark.parametrize("seed", [1, 2])
def test_the_index_follows_every_change(app, client, auth, seed):
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "Ünïcode", "running", "runs"]
    ids: list[str] = []
    for _ in range(60):
        op = rng.choice(["create", "create", "update", "delete", "batch"])
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 12)))
        if op == "create" or not ids:
            ids.append(store(client, auth, text))
        elif op == "update":
            memory_id = rng.choice(ids)
            client.put(f"/api/v1/memory/{memory_id}", json={"text": text}, headers=auth)
        elif op == "delete":
            client.delete(f"/api/v1/memory/{ids.pop(rng.randrange(len(ids)))}", headers=auth)
        else:
            response = client.post(
                "/api/v1/memory/batch",
                json={
                    "memories": [{"text": text}, {"text": text + " extra"}],
                    "on_duplicate": "allow",
                },
                headers=auth,
            )
            ids += [r["id"] for r in response.json["results"]]
    assert_keyword_index_matches_the_texts(app.extensions["memory_api"].db.connection())
    client.delete("/v1/memories?confirm=true", headers=auth)
    assert_keyword_index_matches_the_texts(app.extensions["memory_api"].db.connection())
