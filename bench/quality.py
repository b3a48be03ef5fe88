"""Which mode finds most: the conversational set and the paraphrase set, over HTTP.

Both sets were written for this project. The conversations (bench/conversation_set.py) are
stored turn by turn, one workspace each, and every question is asked in its own
conversation's workspace; the figure is the share of the turns holding the answer that are
in the top 10 (recall@10), over all questions and per kind. The paraphrase set
(tests/retrieval_set.py) gives recall@1 and @5 for questions worded unlike their memory, and
recall@1 for exact names and codes.
"""

from __future__ import annotations

from collections.abc import Callable

import conversation_set
import numpy as np

from retrieval_set import EXACT_QUERIES, LONG_FACTS, MEMORIES, QUERIES, long_memories

MODES = ("semantic", "keyword", "hybrid")
BATCH = 100
Call = Callable[[str, str, object, str], dict]


def _store(call: Call, workspace: str, items: list[dict]) -> None:
    for first in range(0, len(items), BATCH):
        stored = call("POST", "/api/v1/memory/batch", {"memories": items[first : first + BATCH]},
                      workspace)  # fmt: skip
        if stored["failed"]:
            raise RuntimeError(f"storing into {workspace} failed: {stored['results'][:3]}")


def _found(call: Call, workspace: str, query: str, mode: str, limit: int) -> list[str]:
    body = {"query": query, "mode": mode, "limit": limit}
    return [hit["id"] for hit in call("POST", "/api/v1/memory/search", body, workspace)["results"]]


def measure(call: Call, put: Callable[[str, float], None], settle: Callable[[], None]) -> None:
    """Store both sets through `call` (one HTTP request each) and put recall per mode.

    `settle()` returns once the server has done its background work on what was stored
    (the context vectors hybrid search reads), as it would have by the time users search.
    """
    conversations = conversation_set.load()
    for conversation in conversations:
        _store(call, f"conv-{conversation.id}", [
            # Two turns can say the same ("haha yes!"): each is a memory of its own.
            {"id": turn.id, "text": turn.memory_text, "metadata": turn.metadata,
             "on_duplicate": "allow"}
            for turn in conversation.turns
        ])  # fmt: skip
    settle()
    put("quality.conversations.turns", sum(len(c.turns) for c in conversations))
    put("quality.conversations.questions", sum(len(c.questions) for c in conversations))
    for mode in MODES:
        by_kind: dict[str, list[float]] = {kind: [] for kind in conversation_set.KINDS}
        for conversation in conversations:
            for question in conversation.questions:
                found = _found(call, f"conv-{conversation.id}", question.text, mode, 10)
                by_kind[question.kind].append(
                    conversation_set.recall_at(found, question.evidence, 10)
                )
        every = [value for values in by_kind.values() for value in values]
        put(f"quality.conversations.{mode}", float(np.mean(every)))
        for kind, values in by_kind.items():
            put(f"quality.conversations.{mode}.{kind}", float(np.mean(values)))

    texts = {**MEMORIES, **long_memories()}
    _store(call, "paraphrases", [{"id": i, "text": text} for i, text in texts.items()])
    settle()
    paraphrases = QUERIES + [(query, memory_id) for memory_id, _, query in LONG_FACTS]
    put("quality.paraphrases.questions", len(paraphrases))
    for mode in MODES:
        ranked = [(_found(call, "paraphrases", q, mode, 5), target) for q, target in paraphrases]
        put(f"quality.paraphrases.{mode}.r1", float(np.mean([f[:1] == [t] for f, t in ranked])))
        put(f"quality.paraphrases.{mode}.r5", float(np.mean([t in f for f, t in ranked])))
        exact = [_found(call, "paraphrases", q, mode, 1) == [t] for q, t in EXACT_QUERIES]
        put(f"quality.exact.{mode}.r1", float(np.mean(exact)))
