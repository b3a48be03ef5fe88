"""The section of bench/results.md for issue 19: the same server on PostgreSQL beside SQLite."""

from __future__ import annotations

from target import Target

SIZE = 100_000
MODES = ("semantic", "keyword", "hybrid")

POSTGRES_TARGETS = (
    Target(
        "PostgreSQL: semantic recall@10 at 100k >= 0.99 against exact search",
        lambda f: f[f"pg.search.semantic.{SIZE}.recall_at_10"],
        lambda f: 0.99,
        False,
        "",
        digits=4,
    ),
    Target(
        "PostgreSQL: hybrid recall@10 on the conversations >= SQLite's",
        lambda f: f["pg.quality.conversations.hybrid"],
        lambda f: f["quality.conversations.hybrid"],
        False,
        "",
        digits=3,
    ),
)

# (label, figure name without the backend's prefix, decimals)
ROWS = (
    ("create p50 / p95, ms", ("http.create.p50", "http.create.p95"), 1),
    ("get p50 / p95, ms", ("http.get.p50", "http.get.p95"), 1),
    ("update p50 / p95, ms", ("http.update.p50", "http.update.p95"), 1),
    ("delete p50 / p95, ms", ("http.delete.p50", "http.delete.p95"), 1),
    ("16 clients: creates/s", ("concurrent.create.16.per_s",), 0),
    ("16 clients: create p50 / p95, ms",
     ("concurrent.create.16.p50", "concurrent.create.16.p95"), 1),
    ("16 clients: searches/s", ("concurrent.search.16.per_s",), 0),
    ("16 clients: search p50 / p95, ms",
     ("concurrent.search.16.p50", "concurrent.search.16.p95"), 1),
    *(
        (f"search at 100k, {mode}: p50 / p95, ms",
         (f"search.{mode}.{SIZE}.p50", f"search.{mode}.{SIZE}.p95"), 1)
        for mode in MODES
    ),
    ("semantic recall@10 at 100k vs exact", (f"search.semantic.{SIZE}.recall_at_10",), 4),
    *(
        (f"conversations recall@10, {mode}", (f"quality.conversations.{mode}",), 3)
        for mode in MODES
    ),
    ("paraphrases recall@1, hybrid", ("quality.paraphrases.hybrid.r1",), 3),
    ("exact names recall@1, keyword", ("quality.exact.keyword.r1",), 3),
    ("loading 100k with their vectors (batch API), memories/s",
     ("http.batch_load_vectors_per_s",), 0),
)  # fmt: skip


def _cells(f: dict[str, float], prefix: str, names: tuple[str, ...], digits: int) -> str:
    return " / ".join(f"{f[prefix + name]:,.{digits}f}" for name in names)


def postgres_lines(f: dict[str, float]) -> list[str]:
    """The table of both backends' figures, or nothing when the run skipped PostgreSQL."""
    if "pg.http.create.p50" not in f:
        return []
    lines = [
        "## PostgreSQL + pgvector beside SQLite (the same server, one worker)",
        "",
        "| figure | SQLite | PostgreSQL |",
        "|---|---|---|",
    ]
    for label, names, digits in ROWS:
        lines.append(
            f"| {label} | {_cells(f, '', names, digits)} | {_cells(f, 'pg.', names, digits)} |"
        )
    return [
        *lines,
        "",
        "PostgreSQL 16 with pgvector 0.6.2 from the `pgserver` wheel (as `make test-postgres` "
        "runs it), on a Unix socket on the same machine, default settings. Semantic search "
        "at 100k uses pgvector's HNSW (ef_search 400); keyword search is PostgreSQL's "
        "full-text search ranked by ts_rank (SQLite: BM25). Database size on disk: "
        f"{f['pg.storage.bytes_per_memory']:,.0f} bytes per memory over the 100k workspace "
        "and the rest of the run (SQLite: "
        f"{f['storage.bytes_per_memory']:,.0f} over 111k).",
        "",
    ]
