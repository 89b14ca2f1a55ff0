"""A real HTTP server on localhost that speaks OpenAI chat completions and
replays recorded answers, with scripted faults per sentence: an HTTP status
(with headers), a slow answer, or a dropped connection."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field


@dataclass
class FakeLLM:
    answers: dict[str, str]
    faults: dict[str, list[tuple]] = field(default_factory=dict)
    requests: Counter = field(default_factory=Counter)
    hang: set[str] = field(default_factory=set)  # never answered (for interruption tests)
    port: int = 0

    def __post_init__(self) -> None:
        self._faults = defaultdict(list, {k: list(v) for k, v in self.faults.items()})
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *_exc) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _shutdown(self) -> None:
        self._server.close()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _connection(self, reader: asyncio.StreamReader, writer) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                if not await self._respond(request, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _respond(self, body: dict, writer) -> bool:
        sentence = body["messages"][-1]["content"].removeprefix("Input: ")
        self.requests[sentence] += 1
        if sentence in self.hang:
            await asyncio.sleep(3600)
        fault = self._faults[sentence].pop(0) if self._faults[sentence] else None
        if fault and fault[0] == "drop":
            writer.transport.abort()
            return False
        if fault and fault[0] == "slow":
            await asyncio.sleep(fault[1])
        if fault and fault[0] == "status":
            headers = fault[2] if len(fault) > 2 else {}
            _write(writer, fault[1], {"error": {"message": "scripted"}}, headers)
        else:
            answer = self.answers[sentence]
            payload = {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 100, "completion_tokens": len(answer.split())},
            }
            _write(writer, 200, payload, {})
        await writer.drain()
        return True


async def _read_request(reader: asyncio.StreamReader) -> dict | None:
    head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
    if not head:
        return None
    length = 0
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return json.loads(await reader.readexactly(length))


def _write(writer, status: int, payload: dict, headers: dict[str, str]) -> None:
    body = json.dumps(payload).encode()
    reason = {
        200: "OK",
        429: "Too Many Requests",
        500: "Internal Server Error",
        503: "Service Unavailable",
        400: "Bad Request",
    }.get(status, "Status")
    lines = [
        f"HTTP/1.1 {status} {reason}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
