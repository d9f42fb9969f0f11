"""A real HTTP server on loopback that receives webhooks, scriptable per test.

``WebhookReceiver(fail_first=3)`` answers 500 to the first three deliveries then 200;
``status_sequence=[429, 503]`` scripts exact answers (then ``default_status``);
``retry_after="1"`` adds that header to failures. Every request is kept (headers, raw body,
answer) so tests can verify signatures with the receiver-side helper.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int


@dataclass
class WebhookReceiver:
    fail_first: int = 0
    fail_status: int = 500
    default_status: int = 200
    status_sequence: list[int] = field(default_factory=list)
    retry_after: str | None = None
    requests: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _answer(self) -> int:
        count = len(self.requests)
        if count < len(self.status_sequence):
            return self.status_sequence[count]
        if count < self.fail_first:
            return self.fail_status
        return self.default_status

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    status = receiver._answer()
                    receiver.requests.append(
                        Received(self.path, dict(self.headers.items()), body, status)
                    )
                self.send_response(status)
                if status >= 400 and receiver.retry_after is not None:
                    self.send_header("Retry-After", receiver.retry_after)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def successes(self) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if 200 <= r.answered < 300]


@contextmanager
def webhook_receiver(**options: object) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(**options).start()  # type: ignore[arg-type]
    try:
        yield receiver
    finally:
        receiver.stop()
