"""`memory-server copy-to`: everything one database holds, into another. No Flask here.

Made for moving a SQLite file into PostgreSQL, and working between any two databases: the
memories go through the import path (ids, texts, metadata, timestamps and their vectors as
they are: nothing is embedded again), then the API keys, webhook endpoints and topics as
they are (so every key and signing secret keeps working) and each memory's earlier
versions. Running it again finishes an interrupted copy and brings over what changed in the
source meanwhile (memories deleted there stay in the target: copy before the switch).
Not copied: idempotency reservations (a day's retries), webhook delivery logs and pending
deliveries, and context vectors (the target's servers compute those again in the background).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from memory_server.services import Services
from memory_server.storage.copy_rows import copy_history, copy_table


@dataclass
class CopyTotals:
    """What a copy wrote: memories by outcome, keys, endpoints and topics, new versions."""

    memories: Counter[str] = field(default_factory=Counter)
    keys: int = 0
    webhooks: int = 0
    topics: int = 0
    versions: int = 0


def copy_everything(
    source: Services, target: Services, progress: Callable[[int], None] = lambda done: None
) -> CopyTotals:
    """Copy the source's memories, keys, webhook endpoints, topics and history into the target.

    Both must use the same embedding model (the target refuses vectors of another one);
    `progress` hears how many memories are done after each batch.
    """
    totals = CopyTotals()
    exported = source.memories.export(None, None, with_embeddings=True)
    target.memories.import_all(exported, totals.memories, progress)  # binds the model, or refuses
    totals.keys = copy_table(source.db, target.db, "api_keys")
    totals.webhooks = copy_table(source.db, target.db, "webhook_endpoints")
    totals.topics = copy_table(source.db, target.db, "topics")
    totals.versions = copy_history(source.db, target.db)
    return totals
