"""The purger: deletes expired memories for good, every few seconds, in a background thread.

An expired memory is already hidden from every read (storage checks `expires_at`); the
purger frees its space and sends `memory.expired`. Each worker runs one; they may race
harmlessly, since each purge is one write transaction over what is expired at that moment.
"""

from __future__ import annotations

import logging
import threading

from memory_server.memory_service import MemoryService

log = logging.getLogger(__name__)


class ExpiryPurger:
    """Calls `MemoryService.purge_expired` every `interval` seconds until stopped."""

    def __init__(self, memories: MemoryService, interval: float) -> None:
        self.memories = memories
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start purging in a background thread (after any fork, never before)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._main, name="expiry", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the purge in progress, if any."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _main(self) -> None:
        while not self._stop.is_set():
            try:
                purged = self.memories.purge_expired()
                if purged:
                    log.info("purged %d expired memories", purged)
            except Exception:  # e.g. the database is locked or full: try again next time
                log.exception("expired memories not purged")
            self._stop.wait(self.interval)
