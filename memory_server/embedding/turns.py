"""Taking turns at the model: one encode at a time, in rotation across owners. No Flask here.

The model runs one piece of work at a time: two encodes at once would only split the same
cores, and the fast tokenizer refuses to be used by two threads at once. Work is cut into
turns of at most TURN_TOKENS tokens (about 150-190 ms of encoding on this 2-core machine), and
owners waiting for the model take turns in rotation. So a 50,000-character text delays another
owner's embedding by about one turn, not by the 10-20 s the whole text takes.

Long jobs (more than one turn) also hold a request thread for their whole time: an owner may
run at most LONG_JOBS_PER_OWNER of them at once, and the process at most half its threads
(at least one), so with two threads or more short requests always find one. A job over
either limit is refused at once with an estimate of when to retry.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

TURN_TOKENS = 1024
# Background work (context vectors) takes the model only once no request has used it for
# this long, and one short turn at a time: a request arriving meanwhile waits for that
# turn at most.
IDLE_SECONDS = 0.25
LONG_JOBS_PER_OWNER = 2
# Seconds per token before any turn was timed (measured here: ~0.18 ms for 128-token chunks).
INITIAL_SECONDS_PER_TOKEN = 0.0002


class EmbeddingBusy(Exception):
    """A long text cannot be embedded now; `retry_after` seconds is the estimate of when.

    `per_owner`: the caller's own long texts are the reason (else: the whole server's).
    """

    def __init__(self, message: str, retry_after: int, per_owner: bool) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.per_owner = per_owner


@dataclass
class _Job:
    owner: str
    tokens: int
    started: float = field(default_factory=time.monotonic)


class FairTurns:
    """Grants the model to one turn at a time, rotating between the owners that wait."""

    def __init__(self, long_jobs_total: int = 4) -> None:
        self.long_jobs_total = long_jobs_total
        self._cond = threading.Condition()
        self._busy = False
        self._waiting: dict[str, deque[object]] = {}
        self._rotation: deque[str] = deque()
        self._granted: set[object] = set()
        self._jobs: list[_Job] = []
        self._seconds_per_token = INITIAL_SECONDS_PER_TOKEN
        self._last_request_turn = 0.0  # when a request's turn last ended (monotonic)

    def limit_long_jobs(self, threads: int) -> None:
        """Let long jobs take at most half of the process's request threads (at least one)."""
        with self._cond:
            self.long_jobs_total = max(1, threads // 2)

    @contextmanager
    def turn(self, owner: str, tokens: int = 0) -> Iterator[None]:
        """Hold the model for one turn of `owner`'s work (`tokens`: for the time estimate)."""
        ticket = object()
        with self._cond:
            if self._busy or self._rotation:
                self._waiting.setdefault(owner, deque()).append(ticket)
                if owner not in self._rotation:
                    self._rotation.append(owner)
                self._cond.wait_for(lambda: ticket in self._granted)
                self._granted.discard(ticket)
            else:
                self._busy = True
        started = time.perf_counter()
        try:
            yield
        finally:
            took = time.perf_counter() - started
            with self._cond:
                if tokens >= 64:  # short turns are dominated by fixed costs
                    self._seconds_per_token += 0.2 * (took / tokens - self._seconds_per_token)
                self._last_request_turn = time.monotonic()
                self._hand_over()

    @contextmanager
    def idle_turn(self) -> Iterator[bool]:
        """A turn for background work if the model is idle now: yields whether it was taken.

        Idle: nobody holds or waits for the model, and no request used it in the last
        IDLE_SECONDS. Requests that arrive during the turn wait for it like any other.
        """
        with self._cond:
            idle = self._idle()
            if idle:
                self._busy = True
        try:
            yield idle
        finally:
            if idle:
                with self._cond:
                    self._hand_over()

    def idle(self) -> bool:
        """Whether background work could take a turn now (see idle_turn)."""
        with self._cond:
            return self._idle()

    def _idle(self) -> bool:
        return (
            not self._busy
            and not self._rotation
            and time.monotonic() - self._last_request_turn >= IDLE_SECONDS
        )

    def _hand_over(self) -> None:
        """Give the model to the next owner in rotation, or leave it free."""
        if not self._rotation:
            self._busy = False
            return
        owner = self._rotation.popleft()
        tickets = self._waiting[owner]
        self._granted.add(tickets.popleft())
        if tickets:
            self._rotation.append(owner)  # its next turn comes after everyone else's
        else:
            del self._waiting[owner]
        self._cond.notify_all()

    @contextmanager
    def long_job(self, owner: str, tokens: int) -> Iterator[None]:
        """Admit a job of several turns, or raise EmbeddingBusy if too many are running."""
        with self._cond:
            mine = [job for job in self._jobs if job.owner == owner]
            if len(mine) >= LONG_JOBS_PER_OWNER:
                raise EmbeddingBusy(
                    f"This owner already has {len(mine)} long texts being embedded, the most "
                    "at once; retry when one is done",
                    self._retry_after(mine),
                    per_owner=True,
                )
            if len(self._jobs) >= self.long_jobs_total:
                raise EmbeddingBusy(
                    f"The server is embedding {len(self._jobs)} long texts, the most at once; "
                    "retry when one is done",
                    self._retry_after(self._jobs),
                    per_owner=False,
                )
            job = _Job(owner, tokens)
            self._jobs.append(job)
        try:
            yield
        finally:
            with self._cond:
                self._jobs.remove(job)

    def _retry_after(self, jobs: list[_Job]) -> int:
        """Seconds until the first of these jobs is likely done (they share the model)."""
        now, sharing = time.monotonic(), max(1, len({job.owner for job in self._jobs}))
        ends = [job.started + job.tokens * self._seconds_per_token * sharing - now for job in jobs]
        return max(1, math.ceil(min(ends)))


def turns_of(token_counts: list[int], budget: int = TURN_TOKENS) -> list[tuple[int, int]]:
    """Consecutive (start, end) slices of the texts, each at most `budget` tokens (or one text)."""
    slices, start, tokens = [], 0, 0
    for index, count in enumerate(token_counts):
        if index > start and tokens + count > budget:
            slices.append((start, index))
            start, tokens = index, 0
        tokens += count
    if start < len(token_counts):
        slices.append((start, len(token_counts)))
    return slices
