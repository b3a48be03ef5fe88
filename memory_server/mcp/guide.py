"""What an agent is told about using its memory well: the server's instructions and a prompt."""

from __future__ import annotations

import mcp_types as types

GUIDE = """\
This server is your long-term memory: what you store here is there in later conversations,
for you and for other agents using the same workspace.

When to search: at the start of a task, and before answering anything that may depend on
what you were told before (the user's preferences, projects, people, decisions). Search in
plain words for what you need ("what editor does the user prefer"); the default mode
(hybrid) finds by meaning and lifts memories sharing the query's names, ids and codes. A
score is a similarity: above ~0.3 is usually relevant and below ~0.2 usually not.

What to store: durable facts, preferences, decisions and their reasons, each as one short
self-contained statement that makes sense on its own months later ("The user's daughter
Ana was born in 2019", not "she was born then"). Add metadata when it helps to filter later:
{"type": "preference" | "fact" | "decision" | "task", "tags": [...], "source": "..."}.
Do not store secrets (passwords, keys), or what is only true for this conversation. A fact
that stops being true at a known time ("in a meeting until 3", a one-week door code) gets
`ttl_seconds`: it is forgotten then.

Keep it clean: search before adding, and update_memory a memory that has changed instead of
adding a contradicting one (memory_history keeps what it said before); delete_memory what is
wrong or what the user asks you to forget. Storing the same text and metadata again stores
nothing (status "duplicate"); add `duplicate_threshold: 0.95` to also skip rewordings.
"""

GUIDE_PROMPT = types.Prompt(
    name="use_memory",
    title="How to use this memory",
    description="When to search, what to store, and how to keep memories clean.",
)
