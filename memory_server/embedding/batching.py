"""Encoding what concurrent requests send in one model pass. No Flask here.

Requests whose work fits one turn (a query, a short memory) queue here. The first to find
nobody collecting becomes the collector: it waits for a model turn (embedding/turns.py) and,
once it has it, takes every queued job that fits one turn's worth of text, tokenizes and
encodes them together, and hands each job its vectors. Jobs that arrive while the model is
busy wait for the next collector, so under load a pass encodes many texts at the cost of a
few, and a lone request waits for nobody: there is no timer.

Owners still take turns at the model with long jobs; a batch is one turn of its collector's.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from memory_server.embedding.turns import FairTurns

# At most this many characters of queued text go into one pass: about one turn of tokens
# (a character is at most about one token), so a batch holds the model no longer than a turn.
BATCH_CHARS = 4096


@dataclass(eq=False)
class Job:
    """Texts of one request waiting to be encoded; `result` or `error` is set when done."""

    owner: str
    texts: list[str]
    kind: str = ""  # what run_batch is to do with the texts
    chars: int = 0
    done: bool = False
    result: Any = None
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self.chars = sum(map(len, self.texts))


@dataclass
class Batcher:
    """Collects the jobs of concurrent requests into passes of `run_batch`.

    `run_batch(jobs)` runs inside a model turn and returns one result per job, in order.
    """

    turns: FairTurns
    run_batch: Callable[[list[Job]], list[Any]]
    batch_chars: int = BATCH_CHARS
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _queue: deque[Job] = field(default_factory=deque)
    _collecting: bool = False
    passes: int = 0  # how many passes ran, and how many jobs they held: for tests and stats
    jobs_run: int = 0

    def submit(self, owner: str, texts: list[str], kind: str = "") -> Any:
        """The result `run_batch` gives for these texts, encoded with whatever else is queued."""
        job = Job(owner, texts, kind)
        with self._cond:
            self._queue.append(job)
        while True:
            with self._cond:
                self._cond.wait_for(lambda: job.done or not self._collecting)
                if job.done:
                    break
                self._collecting = True
            try:
                self._collect(job.owner)
            finally:
                with self._cond:
                    self._collecting = False
                    self._cond.notify_all()
        if job.error is not None:
            raise job.error
        return job.result

    def _collect(self, owner: str) -> None:
        """Take a turn at the model, then encode the queued jobs that fit one pass."""
        with self.turns.turn(owner):
            with self._cond:
                batch = [self._queue.popleft()]  # the oldest job, whatever its size
                chars = batch[0].chars
                while self._queue and chars + self._queue[0].chars <= self.batch_chars:
                    chars += self._queue[0].chars
                    batch.append(self._queue.popleft())
            try:
                results = self.run_batch(batch)
            except BaseException as exc:  # every waiter of the pass hears of it, not just one
                results, error = [None] * len(batch), exc
            else:
                error = None
        with self._cond:
            for job, result in zip(batch, results, strict=True):
                job.result, job.error, job.done = result, error, True
            self.passes += 1
            self.jobs_run += len(batch)
