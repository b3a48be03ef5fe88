"""The contextualizer: computes due context vectors in a background thread, when the model is idle.

Each memory's context vector (storage/contexts.py) is the memory embedded with the one stored
before it. Nothing on a request's path waits for it: until a memory has one, hybrid search
scores it by its own vector. The thread takes the model only after no request has used it for
a moment (embedding/turns.py, idle turns), two short texts at a time. Each worker runs one;
leases keep two from doing the same memory.
"""

from __future__ import annotations

import logging
import threading

from memory_server.memory_service import MemoryService

log = logging.getLogger(__name__)

# How long the thread sleeps when nothing is due, and when the model was busy.
IDLE_POLL_SECONDS = 1.0
BUSY_POLL_SECONDS = 0.05


class Contextualizer:
    """Calls `MemoryService.contextualize` whenever work is due and the model idle."""

    def __init__(self, memories: MemoryService, enabled: bool = True) -> None:
        self.memories = memories
        self.enabled = enabled
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start in a background thread (after any fork, never before); no-op when disabled."""
        if self.enabled and (self._thread is None or not self._thread.is_alive()):
            self._stop.clear()
            self._thread = threading.Thread(target=self._main, name="contexts", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """New memories may be due: look now instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the batch in progress, if any."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _main(self) -> None:
        while not self._stop.is_set():
            try:
                done = self.memories.contextualize()
            except Exception:  # e.g. the database is locked or full: try again later
                log.exception("context vectors not computed")
                done = 0
            if done is None:
                self._stop.wait(BUSY_POLL_SECONDS)
            elif done == 0:
                self._wake.wait(IDLE_POLL_SECONDS)
                self._wake.clear()
