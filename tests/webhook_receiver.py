"""A real webhook receiver for tests: a uvicorn app on a free loopback port, in a thread.

It records every request (headers and body) and what it answered. Its `mode` says how it
answers: `ok` (204), `fail` (500), or `chaos`: at random 2xx, 500, an answer slower than
the dispatcher's timeout, or a connection closed in the middle of the answer.
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn

SLOW_S = 1.5  # longer than the tests' dispatcher timeout


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int | None  # None: the connection was closed or the answer came too late
    at: float


@dataclass
class Receiver:
    mode: str = "ok"
    seed: int = 1
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def acknowledged(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.status is not None and 200 <= r.status < 300]

    def _choose(self) -> str:
        if self.mode != "chaos":
            return self.mode
        return self._random.choices(["ok", "fail", "slow", "close"], [6, 2, 1, 1])[0]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the sender died mid-request (kill -9): nothing arrived to answer
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        with self.lock:
            choice = self._choose()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        status: int | None = {"ok": 204, "fail": 500}.get(choice)
        if choice == "slow":
            await asyncio.sleep(SLOW_S)
        with self.lock:
            self.received.append(Received(headers, body, status, time.monotonic()))
        if choice == "close":
            start = {"type": "http.response.start", "status": 200}
            await send({**start, "headers": [(b"content-length", b"100")]})
            await send({"type": "http.response.body", "body": b"partial", "more_body": True})
            raise RuntimeError("the receiver drops the connection")
        await send({"type": "http.response.start", "status": status or 503, "headers": []})
        await send({"type": "http.response.body", "body": b"nope" if status == 500 else b""})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve(receiver: Receiver) -> Iterator[Receiver]:
    """Run `receiver` until the generator is closed."""
    receiver.port = free_port()
    config = uvicorn.Config(
        receiver, host="127.0.0.1", port=receiver.port, log_level="critical", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the receiver did not start"
        time.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        thread.join(timeout=10)
