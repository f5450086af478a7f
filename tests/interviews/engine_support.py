"""A real local HTTP server speaking the OpenAI protocol, for the engine and speech tests.

Each request takes the next queued behaviour (status, body, delay); with the queue empty the
``default`` answers. Every request is recorded (path, headers, raw body, parsed JSON).
"""

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay: float = 0.0


@dataclass
class Recorded:
    path: str
    headers: dict
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)


def completion(content: str | None) -> Reply:
    """A Chat Completions reply whose assistant message is ``content``."""
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "fake-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"},
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    return Reply(body=json.dumps(body).encode())


def turn(question: str, *, is_final: bool = False, topic: int | None = None, evaluation=None, **extra) -> Reply:
    data = {"question": question, "is_final": is_final, "evaluation": evaluation, **extra}
    if topic is not None:
        data["topic"] = topic
    return completion(json.dumps(data))


def error(status: int, message: str = "boom") -> Reply:
    return Reply(status=status, body=json.dumps({"error": {"message": message, "type": "server_error"}}).encode())


@dataclass
class FakeOpenAI:
    server: ThreadingHTTPServer
    queue: deque = field(default_factory=deque)
    requests: list = field(default_factory=list)
    default: Reply | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def push(self, *replies: Reply) -> None:
        with self.lock:
            self.queue.extend(replies)

    def take(self, recorded: Recorded) -> Reply:
        with self.lock:
            self.requests.append(recorded)
            if self.queue:
                return self.queue.popleft()
        return self.default or error(500, "no reply queued")

    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]


def _handler(fake_ref: list):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            reply = fake_ref[0].take(Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            if reply.delay:
                time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

        def log_message(self, format, *args):
            pass

    return Handler


@pytest.fixture
def fake_openai():
    ref: list = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(ref))
    server.daemon_threads = True
    fake = FakeOpenAI(server=server)
    ref.append(fake)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def llm(settings, fake_openai):
    """The interviewer chain ``openai,scripted`` pointed at the fake server."""
    settings.INTERVIEWER_PROVIDERS = ["openai", "scripted"]
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.OPENAI_API_KEY = "sk-test-key"
    settings.OPENAI_MODEL = "fake-model"
    settings.OPENAI_TIMEOUT_SECONDS = 2.0
    return fake_openai
