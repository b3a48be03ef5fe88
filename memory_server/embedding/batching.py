"""Encoding what concurrent requests send in one model pass. No Flask here.

Requests whose work fits one turn (a query, a short memory) queue here. The first to find
nobody collecting becomes the collector: it waits for a model turn (embedding/turns.py) and,
once it has it, takes every queued job that fits one turn's worth of text, tokenizes and
encodes them together, and hands each job its vectors. Jobs that arrive while the model is
busy wait for the next collector, so under load a pass encodes many texts at the cost of a
few, and a lone request waits for nobody: there is no timer.

A pass takes its turn as an owner of its own (BATCH_OWNER), so the short work of every owner
together gets one turn in the rotation with each owner's long job, and a pass is filled one
job per owner in rotation: a flood of one owner's requests delays another's by one pass.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from memory_server.embedding.turns import TURN_TOKENS, FairTurns

# At most this many characters of queued text go into one pass (the oldest job goes in
# whatever its size): a character is at most one token, so a pass is at most about one turn.
BATCH_CHARS = TURN_TOKENS
# The owner passes take their turns as: no owner's name (a name is never empty).
BATCH_OWNER = ""


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
                self._collect()
            finally:
                with self._cond:
                    self._collecting = False
                    self._cond.notify_all()
        if job.error is not None:
            raise job.error
        return job.result

    def _collect(self) -> None:
        """Take a turn at the model, then encode the queued jobs that fit one pass."""
        with self.turns.turn(BATCH_OWNER):
            with self._cond:
                batch = self._take()
            results: list[Any] = [None] * len(batch)
            error: BaseException | None = None
            try:
                results = self.run_batch(batch)
                if len(results) != len(batch):
                    raise RuntimeError(f"{len(results)} results for {len(batch)} jobs")
            except BaseException as exc:  # every waiter of the pass hears of it, not just one
                error = exc
            finally:
                with self._cond:
                    for job, result in zip(batch, results, strict=False):
                        job.result, job.error, job.done = result, error, True
                    for job in batch[len(results) :]:
                        job.error, job.done = error or RuntimeError("no result"), True
                    self.passes += 1
                    self.jobs_run += len(batch)

    def _take(self) -> list[Job]:
        """The jobs of one pass: the oldest, then one job per owner in turn, those that fit."""
        first = self._queue.popleft()
        batch, chars = [first], first.chars
        waiting: dict[str, deque[Job]] = {}
        for job in self._queue:
            waiting.setdefault(job.owner, deque()).append(job)
        # The other owners in the order they came, the oldest job's owner last: it has one in.
        rotation = deque(sorted(waiting, key=lambda owner: owner == first.owner))
        while rotation:
            owner = rotation.popleft()
            job = waiting[owner].popleft()
            if chars + job.chars <= self.batch_chars:
                batch.append(job)
                chars += job.chars
            if waiting[owner]:
                rotation.append(owner)
        taken = {id(job) for job in batch}
        self._queue = deque(job for job in self._queue if id(job) not in taken)
        return batch
