"""A real local HTTP server speaking the OpenAI protocol, for the engine and speech tests.

Each request takes the next queued behaviour (status, body, delay); with the queue empty the
``default`` answers. Every request is recorded (path, headers, raw body, parsed JSON, the
client's address). HTTP/1.1 with keep-alive, like the real API, so a reused client connection
shows as one ``peer``.

Streamed replies (``stream: true``) are Server-Sent Events sent as HTTP chunks, as OpenAI sends
them: ``data: {chat.completion.chunk}\n\n`` per event, a last chunk with ``finish_reason``,
then ``data: [DONE]\n\n``; with a time-to-first-chunk delay, a per-chunk delay, and a mode that
closes the socket halfway (no ``[DONE]``, no end of the chunked body).
"""

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SENTINEL = "<<<TURN>>>"  # the reply format's separator (interviews.engine.openai_chat), spelled out


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay: float = 0.0  # before the status line
    # Streamed: the SSE events, each sent as one HTTP chunk (``body`` is then unused).
    events: list[bytes] | None = None
    first_chunk_delay: float = 0.0  # after the headers, before the first event
    chunk_delay: float = 0.0  # between events
    break_after: int | None = None  # close the socket after this many events


@dataclass
class Recorded:
    path: str
    headers: dict
    body: bytes
    peer: tuple = ()

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


def chunk_event(content: str | None = None, *, role: str | None = None, finish_reason: str | None = None) -> bytes:
    """One ``chat.completion.chunk`` Server-Sent Event."""
    delta = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    data = {
        "id": "chatcmpl-stream",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "fake-model",
        "system_fingerprint": "fp_test",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    return b"data: " + json.dumps(data).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


def streamed(
    text_chunks: list[str],
    *,
    first_chunk_delay: float = 0.0,
    chunk_delay: float = 0.0,
    delay: float = 0.0,
    break_after: int | None = None,
) -> Reply:
    """A streamed reply whose assistant message is ``text_chunks``, one chunk event each.

    ``break_after``: the socket is closed after that many content chunks (the role chunk
    before them is always sent).
    """
    events = [chunk_event("", role="assistant")]
    events += [chunk_event(text) for text in text_chunks]
    events += [chunk_event(finish_reason="stop"), DONE]
    return Reply(
        events=events,
        content_type="text/event-stream; charset=utf-8",
        first_chunk_delay=first_chunk_delay,
        chunk_delay=chunk_delay,
        delay=delay,
        break_after=None if break_after is None else break_after + 1,
    )


def split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def turn_text(question: str, *, is_final: bool = False, topic: int | None = None, evaluation=None, **extra) -> str:
    """A reply in the streaming format: the question, the sentinel line, the JSON fields."""
    data = {"is_final": is_final, "evaluation": evaluation, **extra}
    if topic is not None:
        data["topic"] = topic
    return f"{question}\n{SENTINEL}\n{json.dumps(data, ensure_ascii=False)}"


def streamed_turn(
    question: str,
    *,
    is_final: bool = False,
    topic: int | None = None,
    evaluation=None,
    chunk_size: int = 7,
    **options,
) -> Reply:
    """A well-formed streamed turn, cut into ``chunk_size``-character chunks."""
    text = turn_text(question, is_final=is_final, topic=topic, evaluation=evaluation)
    return streamed(split(text, chunk_size), **options)


def broken_stream(text_chunks: list[str], *, after: int | None = None, **options) -> Reply:
    """A stream cut after ``after`` of ``text_chunks`` (default: half of them)."""
    return streamed(text_chunks, break_after=len(text_chunks) // 2 if after is None else after, **options)


def error(status: int, message: str = "boom") -> Reply:
    return Reply(status=status, body=json.dumps({"error": {"message": message, "type": "server_error"}}).encode())


@dataclass
class FakeOpenAI:
    server: ThreadingHTTPServer
    queue: deque = field(default_factory=deque)
    requests: list = field(default_factory=list)
    default: Reply | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopped: threading.Event = field(default_factory=threading.Event)

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
        protocol_version = "HTTP/1.1"  # keep-alive, chunked streams

        def do_POST(self):
            fake = fake_ref[0]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = fake.take(Recorded(self.path, headers, body, tuple(self.client_address)))
            try:
                if reply.delay and fake.stopped.wait(reply.delay):
                    return
                if reply.events is not None:
                    self._stream(fake, reply)
                    return
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (timeout tests)

        def _stream(self, fake: "FakeOpenAI", reply: Reply) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.flush()
            for i, event in enumerate(reply.events):
                if reply.break_after is not None and i >= reply.break_after:
                    self.close_connection = True  # the socket closes mid-body: no [DONE], no last chunk
                    return
                pause = reply.first_chunk_delay if i == 0 else reply.chunk_delay
                if pause and fake.stopped.wait(pause):
                    self.close_connection = True
                    return
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

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
        fake.stopped.set()
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
