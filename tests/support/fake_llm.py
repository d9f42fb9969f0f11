"""A real HTTP server that speaks the OpenAI protocol, with scripted answers.

The only test double octollm allows: it sits at a true external boundary (the LLM endpoint), so
everything of ours (client, error mapping, arms) runs for real against it.

    with FakeLLM(["hello", {"steps": [...]}, HTTPError(429, headers={"Retry-After": "1"})]) as llm:
        client = OpenAIChatClient(llm.base_url, model="fake")
        ...
        assert llm.chat_requests[0]["messages"][0]["role"] == "system"

A reply is text (sent as the message content), a dict or list (sent as its JSON text), a
``Reply`` (content plus a delay or finish reason), or an ``HTTPError`` (status, headers, body).
The script is a list of replies consumed in order, or a callable ``(request_json) -> reply``.
When a list runs out, the server answers 500 ``fake LLM script exhausted`` so the test sees it.
Usage counts are ``len(text) // 4`` for the prompt and the reply. ``GET /v1/models`` and
``POST /v1/embeddings`` (deterministic unit vectors from a hash of each text) are served too,
and ``GET /openapi.json`` when the server is given an ``openapi`` document.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass(frozen=True)
class Reply:
    """A chat answer with knobs: ``delay`` seconds before answering, a ``finish_reason``."""

    content: str | dict[str, Any] | list[Any]
    delay: float = 0.0
    finish_reason: str = "stop"


@dataclass(frozen=True)
class HTTPError:
    """An HTTP error answer, e.g. ``HTTPError(429, headers={"Retry-After": "1"})``."""

    status: int
    body: str | dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


ScriptItem = str | dict[str, Any] | list[Any] | Reply | HTTPError
Responder = Callable[[dict[str, Any]], ScriptItem]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    json: Any


class FakeLLM:
    """An OpenAI-compatible server on 127.0.0.1 in a background thread."""

    def __init__(
        self,
        script: Iterable[ScriptItem] | Responder = (),
        *,
        model: str = "fake-model",
        embedding_dim: int = 8,
        openapi: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.openapi = openapi  # served at GET /openapi.json when set (as FastAPI servers do)
        self.embedding_dim = embedding_dim
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._queue: deque[ScriptItem] = deque()
        self._responder: Responder | None = None
        self.script(script)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting ------------------------------------------------------------------------

    def script(self, script: Iterable[ScriptItem] | Responder) -> FakeLLM:
        """Replace the script with a list of replies or a responder callable."""
        with self._lock:
            self._queue.clear()
            if callable(script):
                self._responder = script
            else:
                self._responder = None
                self._queue.extend(script)
        return self

    def enqueue(self, *replies: ScriptItem) -> FakeLLM:
        with self._lock:
            self._queue.extend(replies)
        return self

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of every ``POST /v1/chat/completions`` so far."""
        return [r.json for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeLLM is not running; use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeLLM:
        handler = type("FakeLLMHandler", (_Handler,), {"fake": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # shutdown() waits up to one poll interval
            name="fake-llm",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- answering (called from the server's threads) -------------------------------------

    def _next(self, body: dict[str, Any]) -> ScriptItem:
        with self._lock:
            responder = self._responder
            if responder is None:
                if not self._queue:
                    return HTTPError(500, {"error": {"message": "fake LLM script exhausted"}})
                return self._queue.popleft()
        return responder(body)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def chat_answer(self, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        item = self._next(body)
        if isinstance(item, HTTPError):
            payload = item.body if item.body is not None else {"error": {"message": "error"}}
            return item.status, item.headers, payload
        reply = item if isinstance(item, Reply) else Reply(item)
        if reply.delay:
            time.sleep(reply.delay)
        content = reply.content
        text = content if isinstance(content, str) else json.dumps(content)
        prompt = "".join(str(m.get("content", "")) for m in body.get("messages", []))
        answer = {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": len(prompt) // 4,
                "completion_tokens": len(text) // 4,
                "total_tokens": len(prompt) // 4 + len(text) // 4,
            },
        }
        return 200, {}, answer

    def embeddings_answer(self, body: dict[str, Any]) -> dict[str, Any]:
        texts = body.get("input", [])
        if isinstance(texts, str):
            texts = [texts]
        data = [
            {"object": "embedding", "index": i, "embedding": fake_vector(t, self.embedding_dim)}
            for i, t in enumerate(texts)
        ]
        tokens = sum(len(t) // 4 for t in texts)
        return {
            "object": "list",
            "data": data,
            "model": body.get("model") or self.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


def fake_vector(text: str, dim: int) -> list[float]:
    """A deterministic unit vector for ``text``."""
    raw: list[float] = []
    counter = 0
    while len(raw) < dim:
        block = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        raw.extend((b - 127.5) / 127.5 for b in block)
        counter += 1
    vector = raw[:dim]
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a timeout test) is expected; anything else is printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeLLM  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``FakeLLM.requests`` instead of a log."""

    def do_GET(self) -> None:
        self._record(None)
        if self.path.rstrip("/") == "/v1/models":
            models = {"object": "list", "data": [{"id": self.fake.model, "object": "model"}]}
            self._send(200, {}, models)
        elif self.path == "/openapi.json" and self.fake.openapi is not None:
            self._send(200, {}, self.fake.openapi)
        else:
            self._send(404, {}, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._record(raw.decode(errors="replace"))
            self._send(400, {}, {"error": {"message": "request body is not JSON"}})
            return
        self._record(body)
        if self.path == "/v1/chat/completions":
            self._send(*self.fake.chat_answer(body))
        elif self.path == "/v1/embeddings":
            self._send(200, {}, self.fake.embeddings_answer(body))
        else:
            self._send(404, {}, {"error": {"message": f"no route {self.path}"}})

    def _record(self, body: Any) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.fake._record(RecordedRequest(self.command, self.path, headers, body))

    def _send(self, status: int, headers: dict[str, str], payload: Any) -> None:
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        content_type = "text/plain" if isinstance(payload, str) else "application/json"
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    """A running ``FakeLLM`` with an empty script; call ``.script([...])`` in the test."""
    with FakeLLM() as server:
        yield server
