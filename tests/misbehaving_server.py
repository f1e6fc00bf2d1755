"""A local OpenAI-compatible HTTP server that misbehaves on cue, for the endpoint fault tests.

Each ``POST /chat/completions`` takes the next step of its script (then answers
normally once the script is used up); ``GET /models`` always answers. Every
request is recorded with its arrival time and headers. Fault injection only: the
real server of the endpoint tests is ``transformers serve``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODELS_ANSWER = {"object": "list", "data": [{"id": "fake-vlm", "object": "model"}]}


def completion(text: str) -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
    }


@dataclass
class Step:
    """What to do with one request: answer ``status`` with ``body``, stall first, or drop;
    or send the body a byte each ``trickle_s``; or, ``endless``, stream a body that never
    ends (no Content-Length) until the client hangs up."""

    status: int = 200
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    stall_s: float = 0.0
    drop: bool = False
    trickle_s: float = 0.0
    endless: bool = False


@dataclass
class Seen:
    at: float
    path: str
    headers: dict[str, str]
    body: Any


class MisbehavingServer:
    """``with MisbehavingServer([Step(429, …), …]) as server: server.base_url``; ``port``: a
    fixed one (a server started again where another was), else any free one."""

    def __init__(self, script: list[Step] | None = None, answer: str = "A", port: int = 0) -> None:
        self.script: deque[Step] = deque(script or [])
        self.answer = answer
        self.seen: list[Seen] = []
        self.gone = False
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> MisbehavingServer:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.go_away()

    def go_away(self) -> None:
        """Stop listening, and drop every request still arriving on an open connection."""
        if not self.gone:
            self.gone = True
            self._httpd.shutdown()
            self._httpd.server_close()

    def completions(self) -> list[Seen]:
        return [s for s in self.seen if s.path.endswith("/chat/completions")]

    def _next(self) -> Step:
        with self._lock:
            if self.script:
                return self.script.popleft()
        return Step(body=json.dumps(completion(self.answer)).encode())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.seen.append(Seen(time.monotonic(), self.path, dict(self.headers), None))
                self._send(200, json.dumps(MODELS_ANSWER).encode(), {})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                server.seen.append(
                    Seen(time.monotonic(), self.path, dict(self.headers), json.loads(raw))
                )
                step = Step(drop=True) if server.gone else server._next()
                if step.stall_s:
                    time.sleep(step.stall_s)
                if step.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                self._send(step.status, step.body or b"", step.headers, step)

            def _send(
                self, status: int, body: bytes, headers: dict[str, str], step: Step | None = None
            ) -> None:
                try:
                    self.send_response(status)
                    for name, value in {"content-type": "application/json", **headers}.items():
                        self.send_header(name, value)
                    if step is not None and step.endless:
                        self.send_header("connection", "close")
                        self.end_headers()
                        self.close_connection = True
                        chunk = b"x" * 65536
                        while not server.gone:
                            self.wfile.write(chunk)
                        return
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    if step is not None and step.trickle_s:
                        for byte in body:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(step.trickle_s)
                        return
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (a stall past its timeout, a body too large)

        return Handler
