"""Serving an ASGI app (the MCP SDK's) from inside a Flask request, in the request's thread.

The SDK speaks ASGI and needs a long-lived event loop (its session manager's task group);
this WSGI server runs each request in a thread. The bridge keeps one event loop in a
background thread per process and hands it each /mcp request, already authenticated and
counted by Flask. Work the SDK's handlers ask for (`run_in_request`) comes back to the
waiting request thread and runs there, inside the Flask request: the same services,
scope and error handlers as a REST call, and no second pool of threads.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

Message = dict[str, Any]
ASGIApp = Callable[[Message, Callable, Callable], Awaitable[None]]
Reply = tuple[int, list[tuple[str, str]], bytes]

# The key of the ASGI scope's `state` under which handlers find `run_in_request`.
RUN_IN_REQUEST = "memory_api.run_in_request"
# A request whose MCP handling has not finished in this long is answered 504: nothing
# in it waits on a client, so only a bug could hold a request thread this long.
DEADLINE_S = 600.0


class BridgeTimeout(Exception):
    """The MCP app did not finish a request within DEADLINE_S; it was cancelled."""


class Bridge:
    """One event loop thread running an ASGI app and its lifespan; requests come from threads."""

    def __init__(self, app: ASGIApp, lifespan: Callable[[], AbstractAsyncContextManager]) -> None:
        self.app = app
        self.lifespan = lifespan
        self._loop: asyncio.AbstractEventLoop | None = None
        self._start_lock = threading.Lock()
        self._stopped: asyncio.Event | None = None
        self._failed: BaseException | None = None

    def handle(self, scope: Message, body: bytes) -> Reply:
        """Serve one HTTP request whose body is read; runs handlers' work in this thread."""
        loop = self._started()
        jobs: queue.SimpleQueue[tuple[Callable[[], Any], asyncio.Future] | None] = (
            queue.SimpleQueue()
        )

        async def run_in_request(work: Callable[[], Any]) -> Any:
            future = loop.create_future()
            jobs.put((work, future))
            return await future

        scope = {**scope, "state": {**scope.get("state", {}), RUN_IN_REQUEST: run_in_request}}
        served = asyncio.run_coroutine_threadsafe(_call(self.app, scope, body), loop)
        served.add_done_callback(lambda _: jobs.put(None))
        while True:
            try:
                job = jobs.get(timeout=DEADLINE_S)
            except queue.Empty:
                served.cancel()
                raise BridgeTimeout(f"no answer within {DEADLINE_S:g} s") from None
            if job is None:
                break
            work, future = job
            try:
                value = work()
            except BaseException as exc:  # handed back: the handler decides what it means
                loop.call_soon_threadsafe(_settle, future, None, exc)
            else:
                loop.call_soon_threadsafe(_settle, future, value, None)
        return served.result()

    def close(self) -> None:
        """Leave the app's lifespan and stop the loop (tests; a worker just exits)."""
        loop = self._loop
        if loop is None:
            return
        self._loop = None
        loop.call_soon_threadsafe(self._stopped.set)  # type: ignore[union-attr]

    def _started(self) -> asyncio.AbstractEventLoop:
        """The loop, started on first use: after gunicorn forks, never before."""
        if self._loop is not None:
            return self._loop
        with self._start_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=self._run, args=(loop, ready), name="mcp-loop", daemon=True
                )
                thread.start()
                ready.wait()
                if self._failed is not None:  # the app could not start: say why, every time
                    raise RuntimeError(f"the MCP server did not start: {self._failed}")
                self._loop = loop
        return self._loop

    def _run(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)

        async def live() -> None:
            self._stopped = asyncio.Event()
            async with self.lifespan():
                ready.set()
                await self._stopped.wait()

        try:
            loop.run_until_complete(live())
        except BaseException as exc:  # a lifespan that fails: never leave a request waiting
            self._failed = exc
        finally:
            ready.set()
            loop.close()


def _settle(future: asyncio.Future, value: Any, exc: BaseException | None) -> None:
    if future.done():  # the handler was cancelled meanwhile
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(value)


async def _call(app: ASGIApp, scope: Message, body: bytes) -> Reply:
    """Run the ASGI app on one request with a body in memory; collect its whole answer."""
    sent = False
    finished = asyncio.Event()
    reply: dict[str, Any] = {"status": 500, "headers": [], "body": []}

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()  # the client is gone only once the answer is complete
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            reply["status"] = message["status"]
            reply["headers"] = [
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])
            ]
        elif message["type"] == "http.response.body":
            reply["body"].append(message.get("body", b""))
            if not message.get("more_body", False):
                finished.set()

    try:
        await app(scope, receive, send)
    finally:
        finished.set()
    return reply["status"], reply["headers"], b"".join(reply["body"])
