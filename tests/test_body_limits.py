"""Request bodies over ``MAX_REQUEST_BODY_BYTES`` are refused while they arrive, not after.

Under a real daphne (interviewsvc/daphne_body_limit.py): 300 MB with a ``Content-Length`` or
chunked get the 413 envelope and daphne's memory stays flat. In process: the ASGI layer in front
of Django (interviewsvc/asgi_limits.py), which holds under any server.
"""

import http.client
import json
import socket
import threading
from urllib.parse import urlsplit

import daphne
import pytest
import twisted
from asgiref.testing import ApplicationCommunicator

from interviewsvc.asgi import application
from interviewsvc.asgi_limits import BodySizeLimit
from tests.factories import PASSWORD, UserFactory
from tests.interviews.realtime_support import daphne_process, shared_database

pytestmark = pytest.mark.django_db(transaction=True)

MiB = 1024 * 1024
LIMIT = MiB  # the default MAX_REQUEST_BODY_BYTES
HUGE = 300 * MiB
TOKEN = "/api/v1/auth/token"


def test_daphne_and_twisted_are_the_versions_the_body_limit_was_checked_with():
    # interviewsvc/daphne_body_limit.py hooks twisted's Request and daphne's WebRequest. After an
    # upgrade, re-read both (twisted.web.http.HTTPChannel, daphne.http_protocol) and check that
    # the hooks are still called as described there, then move these pins.
    assert (daphne.__version__, twisted.__version__) == ("4.2.3", "26.10.0")


# --- under daphne ----------------------------------------------------------------------------


def pieces(total: int, size: int = MiB):
    """``total`` bytes in ``size`` pieces, made as they are sent (never held whole)."""
    block = b"x" * size
    while total > 0:
        yield block[: min(size, total)]
        total -= size


def chunked(parts):
    for part in parts:
        yield b"%x\r\n" % len(part)
        yield part
        yield b"\r\n"
    yield b"0\r\n\r\n"


def raw_post(base: str, headers: dict, body_parts) -> tuple[int, dict, bytes, int]:
    """POST to the token endpoint on a bare socket, sending every part unless the server cuts the
    connection, while a second thread reads the answer as it comes: ``(status, headers, body,
    bytes of body sent)``."""
    url = urlsplit(base)
    sock = socket.create_connection((url.hostname, url.port), timeout=60)
    received = bytearray()

    def read():
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            received.extend(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    head = "".join(f"{name}: {value}\r\n" for name, value in {"Host": url.netloc, **headers}.items())
    sent = 0
    try:
        sock.sendall(f"POST {TOKEN} HTTP/1.1\r\n{head}\r\n".encode())
        for part in body_parts:
            sock.sendall(part)
            sent += len(part)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server closed the connection after answering
    reader.join(timeout=60)
    sock.close()
    status_and_headers, _, body = bytes(received).partition(b"\r\n\r\n")
    lines = status_and_headers.decode("latin-1").split("\r\n")
    answer_headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), answer_headers, body[: int(answer_headers["content-length"])], sent


def post(base: str, body, headers: dict) -> tuple[int, dict]:
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        conn.request("POST", TOKEN, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def memory_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` (resident now) and ``VmHWM`` (the peak so far) of a process, in KiB."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0])
    return fields


def assert_too_large(status: int, headers: dict, body: bytes, request_id: str) -> None:
    envelope = json.loads(body)
    assert status == 413, envelope
    assert (envelope["status"], envelope["code"], envelope["error_code"]) == ("error", 413, "payload_too_large")
    assert envelope["message"] == f"Request body is larger than the limit of {LIMIT} bytes."
    assert headers["x-request-id"] == envelope["meta"]["request_id"] == request_id
    assert headers["content-type"] == "application/json"


def test_300_mb_bodies_get_413_under_daphne_and_its_memory_stays_flat(tmp_path):
    with shared_database(tmp_path) as db_env:
        user = UserFactory()
        login = json.dumps({"username": user.username, "password": PASSWORD}).encode()
        with daphne_process(db_env, tmp_path / "daphne.log") as (base, process):
            # A body of exactly the limit is read and used: the login works.
            at_limit = login + b" " * (LIMIT - len(login))
            status, answer = post(base, at_limit, {"Content-Type": "application/json", "Content-Length": str(LIMIT)})
            assert (status, answer["status"]) == (200, "success"), answer
            assert answer["data"]["access"]
            # A chunked body under the limit reaches the application too (DRF reads a body only
            # by its Content-Length, so the token view sees none and says what is missing).
            status, answer = post(base, pieces(LIMIT - 1, 64 * 1024), {"Content-Type": "application/json"})
            assert (status, answer["error_code"]) == (422, "validation_error"), answer

            before = memory_kib(process.pid)
            for name, headers, parts in [
                ("length", {"Content-Length": str(HUGE)}, pieces(HUGE)),
                ("chunked", {"Transfer-Encoding": "chunked"}, chunked(pieces(HUGE))),
            ]:
                request_id = f"body-limit-{name}"
                status, answer_headers, body, _ = raw_post(
                    base, {"Content-Type": "application/json", "X-Request-ID": request_id, **headers}, parts
                )
                assert_too_large(status, answer_headers, body, request_id)
                assert answer_headers["connection"] == "close"
            # "Expect: 100-continue" with a length over the limit: 413 at once, no "100 Continue".
            status, answer_headers, body, _ = raw_post(
                base,
                {"Content-Length": str(LIMIT + 1), "Expect": "100-continue", "X-Request-ID": "body-limit-expect"},
                [],
            )
            assert_too_large(status, answer_headers, body, "body-limit-expect")
            after = memory_kib(process.pid)

            # Peak and current resident memory: a few MB at most, not the 300 MB sent twice.
            assert after["VmHWM"] - before["VmHWM"] < 20 * 1024, (before, after)
            assert after["VmRSS"] - before["VmRSS"] < 20 * 1024, (before, after)
            # daphne goes on serving.
            status, answer = post(base, login, {"Content-Type": "application/json"})
            assert status == 200, answer


# --- the ASGI layer, in process --------------------------------------------------------------


def http_scope(headers: list[tuple[bytes, bytes]]) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": TOKEN,
        "raw_path": TOKEN.encode(),
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


class Recorder:
    """An inner application that records what reached it, and a connection that counts reads."""

    def __init__(self, messages):
        self.messages = iter(messages)
        self.reads = 0
        self.seen = None

    async def receive(self):
        self.reads += 1
        return next(self.messages)

    async def app(self, scope, receive, send):
        self.seen = [await receive(), await receive()]
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def run(recorder: Recorder, headers) -> list[dict]:
    sent = []

    async def send(message):
        sent.append(message)

    await BodySizeLimit(recorder.app)(http_scope(headers), recorder.receive, send)
    return sent


def endless(size: int = 8192):
    while True:
        yield {"type": "http.request", "body": b"x" * size, "more_body": True}


async def test_a_declared_length_over_the_limit_is_refused_before_reading(settings):
    settings.MAX_REQUEST_BODY_BYTES = 1000
    recorder = Recorder(endless())
    sent = await run(recorder, [(b"content-length", b"1001"), (b"x-request-id", b"asgi-413")])
    assert (sent[0]["status"], recorder.reads, recorder.seen) == (413, 0, None)
    envelope = json.loads(sent[1]["body"])
    assert (envelope["error_code"], envelope["meta"]["request_id"]) == ("payload_too_large", "asgi-413")
    assert (b"x-request-id", b"asgi-413") in sent[0]["headers"]


async def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(settings):
    settings.MAX_REQUEST_BODY_BYTES = 10_000
    recorder = Recorder(endless(1000))
    sent = await run(recorder, [])
    assert (sent[0]["status"], recorder.reads, recorder.seen) == (413, 11, None)
    assert json.loads(sent[1]["body"])["error_code"] == "payload_too_large"


async def test_a_body_within_the_limit_reaches_the_application_whole(settings):
    settings.MAX_REQUEST_BODY_BYTES = 10_000
    parts = [{"type": "http.request", "body": b"x" * 5000, "more_body": True}] * 2
    recorder = Recorder([*parts, {"type": "http.request", "body": b""}, {"type": "http.disconnect"}])
    sent = await run(recorder, [])
    assert sent[0]["status"] == 204
    assert recorder.seen == [
        {"type": "http.request", "body": b"x" * 10_000, "more_body": False},
        {"type": "http.disconnect"},
    ]


async def test_the_project_application_refuses_a_chunked_body_over_the_limit(settings):
    settings.MAX_REQUEST_BODY_BYTES = 1000
    comm = ApplicationCommunicator(application, http_scope([(b"x-request-id", b"asgi-chunked")]))
    for _ in range(3):
        await comm.send_input({"type": "http.request", "body": b" " * 400, "more_body": True})
    start = await comm.receive_output(timeout=10)
    body = await comm.receive_output(timeout=10)
    await comm.wait(timeout=10)
    envelope = json.loads(body["body"])
    assert (start["status"], envelope["error_code"], envelope["meta"]["request_id"]) == (
        413,
        "payload_too_large",
        "asgi-chunked",
    )
