"""The front's own rules, in-process: ASGI messages in, WSGI environ out, bounded memory."""

from __future__ import annotations

import asyncio
import json

from memory_server.serving.front import WSGIFront


def echo_app(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/json"), ("X-Echo", "yes")])
    seen = {k: environ[k] for k in ("PATH_INFO", "QUERY_STRING", "CONTENT_LENGTH")}
    return [json.dumps({**seen, "body": body.decode(), "host": environ["HTTP_HOST"]}).encode()]


def scope(path: str = "/p", body: bytes = b"", raw: bytes | None = None) -> dict:
    return {
        "type": "http", "method": "POST", "path": path, "raw_path": raw or path.encode(),
        "query_string": b"a=1&b=%C3%A9", "http_version": "1.1", "scheme": "http",
        "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5000),
        "headers": [(b"host", b"x"), (b"content-length", str(len(body)).encode())],
    }  # fmt: skip


async def call(front: WSGIFront, request: dict, chunks: list[bytes]) -> list[dict]:
    sent: list[dict] = []
    pending = list(chunks)

    async def receive() -> dict:
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: dict) -> None:
        sent.append(message)

    await front(request, receive, send)
    return sent


def test_the_environ_is_pep_3333_and_the_body_is_whole():
    front = WSGIFront(echo_app, threads=1, max_body_bytes=100, client_timeout=5)
    sent = asyncio.run(
        call(front, scope("/caf\u00e9", b"hello", raw=b"/caf%C3%A9"), [b"hel", b"lo"])
    )
    start, body = sent
    assert start["status"] == 200 and (b"X-Echo", b"yes") in start["headers"]
    answer = json.loads(body["body"])
    # PATH_INFO: the percent-decoded bytes as latin-1, as PEP 3333 has it.
    assert answer == {
        "PATH_INFO": "/caf\u00c3\u00a9", "QUERY_STRING": "a=1&b=%C3%A9",
        "CONTENT_LENGTH": "5", "body": "hello", "host": "x",
    }  # fmt: skip


def test_a_body_past_the_limit_is_not_kept_and_the_app_sees_its_size():
    front = WSGIFront(echo_app, threads=1, max_body_bytes=4, client_timeout=5)
    sent = asyncio.run(call(front, scope(body=b"123456"), [b"12", b"34", b"56"]))
    answer = json.loads(sent[1]["body"])
    assert answer["CONTENT_LENGTH"] == "6" and answer["body"] == ""  # Flask then answers 413


def test_bodies_held_at_once_are_bounded_by_the_threads():
    """Two bodies per thread may be in memory; the next request is not even read till then."""

    async def scenario() -> tuple[bool, bool]:
        front = WSGIFront(echo_app, threads=1, max_body_bytes=100, client_timeout=5)
        gates = [asyncio.Event(), asyncio.Event()]
        read_third = asyncio.Event()

        def slow(gate: asyncio.Event):
            async def receive() -> dict:
                await gate.wait()
                return {"type": "http.request", "body": b"x", "more_body": False}

            return receive

        async def third_receive() -> dict:
            read_third.set()
            return {"type": "http.request", "body": b"x", "more_body": False}

        async def send(message: dict) -> None:
            pass

        held = [asyncio.create_task(front(scope(body=b"x"), slow(g), send)) for g in gates]
        third = asyncio.create_task(front(scope(body=b"x"), third_receive, send))
        await asyncio.sleep(0.2)
        read_early = read_third.is_set()
        gates[0].set()  # one body arrives: its slot frees once its answer is out
        await asyncio.wait_for(read_third.wait(), 2)
        gates[1].set()
        await asyncio.gather(*held, third)
        return read_early, read_third.is_set()

    read_early, read_later = asyncio.run(scenario())
    assert not read_early and read_later
