"""The HTTP front: requests are read whole without a thread, then a thread runs the Flask app.

gunicorn's asyncio worker reads every connection in its event loop; a request reaches one of
the `MEMORY_API_THREADS` threads only once its headers and its whole body are in memory. A
client that sends slowly, or opens sockets and sends nothing, costs a socket, never a thread,
and is dropped after `MEMORY_API_CLIENT_TIMEOUT` seconds. (gunicorn's threaded worker waits
only for a connection's first byte, then reads headers and body in a thread with no bound:
eight slow sockets took every thread of the server.)
"""

from __future__ import annotations

import asyncio
import io
import json
import ssl
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote_to_bytes

from gunicorn.arbiter import Arbiter
from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.workers import gasgi

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Message = dict[str, Any]


class WSGIFront:
    """ASGI in front of a WSGI app: read a whole request (bounded in size and time), then a thread.

    The response is collected in the thread and written by the event loop, so a client that
    reads slowly holds no thread either.
    """

    def __init__(
        self,
        wsgi_app: WSGIApp,
        *,
        threads: int,
        max_body_bytes: int,
        client_timeout: float,
        multiprocess: bool = False,
    ) -> None:
        self.wsgi_app = wsgi_app
        self.max_body_bytes = max_body_bytes
        self.client_timeout = client_timeout
        self.multiprocess = multiprocess
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="request")
        # Bodies held in memory at once, each up to max_body_bytes: without a bound, a
        # thousand connections sending 1 MiB each would hold a gigabyte before any thread
        # (or authentication) saw them. Two per thread keeps the threads fed.
        self.body_slots = asyncio.Semaphore(2 * threads)

    async def __call__(self, scope: Message, receive: Callable, send: Callable) -> None:
        """Serve one ASGI connection scope: lifespan or an HTTP request."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        # Anything else (websocket) is not served: returning closes it.

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.executor.shutdown(wait=True)  # requests in threads finish first
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Message, receive: Callable, send: Callable) -> None:
        has_body = _has_body(scope, self.max_body_bytes)
        slot = self.body_slots if has_body else None
        if slot is not None:
            try:
                await asyncio.wait_for(slot.acquire(), self.client_timeout)
            except TimeoutError:
                await _send_error(
                    send, scope, 503, "SERVICE_UNAVAILABLE",
                    "The server is reading as many request bodies as it holds at once; "
                    "retry in a moment", retry_after=1,
                )  # fmt: skip
                return
        try:
            await self._serve_read(scope, receive, send, has_body)
        finally:
            if slot is not None:
                slot.release()

    async def _serve_read(
        self, scope: Message, receive: Callable, send: Callable, has_body: bool
    ) -> None:
        try:
            if has_body:
                async with asyncio.timeout(self.client_timeout):
                    body, length = await self._read_body(scope, receive)
            else:
                # Nothing to read (no body, or one refused unread: its declared length tells
                # the app to answer 413), so no timer either: it cost a bare GET ~0.1 ms.
                body, length = b"", _content_length(scope) or 0
        except TimeoutError:
            await _send_error(
                send, scope, 408, "REQUEST_TIMEOUT",
                f"The request body did not arrive within {self.client_timeout:g} seconds",
            )  # fmt: skip
            return
        except _Disconnected:
            return
        environ = self._environ(scope, body, length)
        loop = asyncio.get_running_loop()
        status, headers, content = await loop.run_in_executor(
            self.executor, _run, self.wsgi_app, environ
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})
        if length > self.max_body_bytes:
            await self._linger(receive)

    async def _linger(self, receive: Callable) -> None:
        """Read and drop the rest of a body too large to keep, for a bounded time.

        Closing a socket with unread data resets the connection, and a client still sending
        its body then fails to send before it reads the 413 it was answered (as nginx's
        lingering close avoids). This costs a socket in the event loop, not a thread.
        """
        try:
            async with asyncio.timeout(min(LINGER_S, self.client_timeout)):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect" or not message.get("more_body"):
                        return
        except TimeoutError:
            return

    async def _read_body(self, scope: Message, receive: Callable) -> tuple[bytes, int]:
        """The body and its length; past the size limit, only what tells the app it is too big.

        Only bodies `_has_body` accepts come here (a declared length over the limit is not read
        at all); a chunked body is read only until it passes the limit: the app then sees a
        length over the limit and answers 413.
        """
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if size > self.max_body_bytes:
                return b"", size
            if not message.get("more_body", False):
                return b"".join(chunks), size

    def _environ(self, scope: Message, body: bytes, length: int) -> dict[str, Any]:
        """The PEP 3333 environ of a request gunicorn parsed, its body already in memory."""
        root = scope.get("root_path", "")
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        path = unquote_to_bytes(raw.split(b"?", 1)[0]).decode("latin-1")
        if root and path.startswith(root):
            path = path[len(root) :]
        server = scope.get("server") or ("localhost", 80)
        client = scope.get("client") or ("", 0)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": scope["method"],
            "SCRIPT_NAME": root,
            "PATH_INFO": path,
            "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
            "SERVER_NAME": str(server[0]),
            "SERVER_PORT": str(server[1]),
            "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
            "REMOTE_ADDR": str(client[0]),
            "REMOTE_PORT": str(client[1]),
            "CONTENT_LENGTH": str(length) if length or _content_length(scope) is not None else "",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scope.get("scheme", "http"),
            "wsgi.input": io.BytesIO(body),
            "wsgi.input_terminated": True,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": self.multiprocess,
            "wsgi.run_once": False,
        }
        for name, value in scope["headers"]:
            key = name.decode("latin-1").upper().replace("-", "_")
            if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
                continue  # the body is whole now: its length is the one set above
            key = key if key == "CONTENT_TYPE" else f"HTTP_{key}"
            text = value.decode("latin-1")
            environ[key] = f"{environ[key]},{text}" if key in environ else text
        return environ


class _Disconnected(Exception):
    """The client went away before its request was complete."""


def _has_body(scope: Message, max_body_bytes: int) -> bool:
    """Whether the request sends a body this front will read (not one it refuses unread)."""
    declared = _content_length(scope)
    if declared is not None:
        return 0 < declared <= max_body_bytes
    return any(name.lower() == b"transfer-encoding" for name, _ in scope["headers"])


def _content_length(scope: Message) -> int | None:
    for name, value in scope["headers"]:
        if name.lower() == b"content-length":
            return int(value)  # gunicorn's parser has checked it is a number
    return None


def _run(app: WSGIApp, environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Call the WSGI app in this thread; return its status, headers and whole body."""
    started: dict[str, Any] = {}
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started["status"], started["headers"] = status, headers
        return written.append  # PEP 3333's legacy write()

    result = app(environ, start_response)
    try:
        written.extend(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    # Names as Flask wrote them (X-RateLimit-Limit): gunicorn sends them as given, and some
    # clients read headers case-sensitively.
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in started["headers"]]
    return int(started["status"].split(" ", 1)[0]), headers, b"".join(written)


# Seconds a too-large body is still read (and dropped) after its 413, at most.
LINGER_S = 5.0


async def _send_error(
    send: Callable,
    scope: Message,
    status: int,
    code: str,
    message: str,
    retry_after: int | None = None,
) -> None:
    """An error answered by the front itself, in the API's JSON shape; the connection closes."""
    from memory_server.api.errors import (
        error_body,  # not at import: gunicorn's master imports this module
    )

    body = json.dumps(error_body(scope["path"], code, message), ensure_ascii=False).encode()
    headers = [
        (b"Content-Type", b"application/json"),
        (b"Content-Length", str(len(body)).encode()),
        (b"Connection", b"close"),
    ]
    if retry_after is not None:
        headers.append((b"Retry-After", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class DeadlineProtocol(ASGIProtocol):
    """gunicorn's HTTP/1 protocol, with a deadline for a new connection's request headers.

    gunicorn closes a kept-alive connection whose next request has not arrived in `keepalive`
    seconds, but gives a new connection's first request no deadline at all.
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the connection's clock; refuse it if the worker holds too many already."""
        super().connection_made(transport)
        self._head_deadline: asyncio.TimerHandle | None = None
        if self.worker.nr_conns > self.worker.worker_connections:
            self._close_transport()
            return
        self._head_deadline = self.worker.loop.call_later(
            self.worker.client_timeout, self._head_timed_out
        )

    def _on_headers_complete(self) -> Any:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        return super()._on_headers_complete()

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        self._close_transport()
        if self._request_ready is not None:
            self._request_ready.set()  # let the connection loop see it is closed

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline with the connection."""
        if getattr(self, "_head_deadline", None) is not None:
            self._head_deadline.cancel()
        super().connection_lost(exc)


def create_front() -> WSGIFront:
    """The server gunicorn runs (`make run`): the Flask app behind the front, from the settings."""
    from memory_server.app import create_app  # here: gunicorn imports this module in the master too

    app = create_app()
    return WSGIFront(
        app,
        threads=app.config["THREADS"],
        max_body_bytes=app.config["MAX_CONTENT_LENGTH"],
        client_timeout=app.config["CLIENT_TIMEOUT"],
        multiprocess=app.config["WORKERS"] > 1,
    )


class FrontWorker(gasgi.ASGIWorker):
    """gunicorn's asyncio worker serving `WSGIFront` apps with `DeadlineProtocol`."""

    @property
    def client_timeout(self) -> float:
        """Seconds a client has for its request head (and, in WSGIFront, for its body)."""
        return self.asgi.client_timeout

    async def _serve(self) -> None:
        # The worker builds its connections with the module's ASGIProtocol; this process runs
        # only this worker, so pointing that name at ours changes nothing else.
        gasgi.ASGIProtocol = DeadlineProtocol
        await super()._serve()

    def _get_ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context, or stop: gunicorn would log the failure and serve plain HTTP."""
        if not self.cfg.is_ssl:
            return None
        from gunicorn import sock

        try:
            return sock.ssl_context(self.cfg)
        except Exception as exc:
            self.log.error("Cannot start: the TLS certificate or key cannot be used: %s", exc)
            raise SystemExit(Arbiter.WORKER_BOOT_ERROR) from exc
