"""HTTP through the project's ASGI application, as daphne serves it (interviewsvc/asgi_handler.py)."""

import asyncio
import csv
import io
import json

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async

from interviewsvc.asgi import application, django_asgi_app
from tests.conftest import bearer
from tests.factories import InterviewFactory, add_messages

pytestmark = pytest.mark.django_db(transaction=True)


async def asgi_get(path: str, query: str = "", headers: list[tuple[bytes, bytes]] | None = None):
    """``(status, headers, body chunks)`` of one GET through the whole ASGI application."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"testserver"), *(headers or [])],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    comm = ApplicationCommunicator(application, scope)
    await comm.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await comm.receive_output(timeout=10)
    chunks = []
    while True:
        message = await comm.receive_output(timeout=10)
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    await comm.wait(timeout=10)
    return start["status"], {name.lower(): value for name, value in start["headers"]}, chunks


def test_the_middleware_chain_runs_in_sync_mode():
    # One hop to the request's thread instead of two per MiddlewareMixin hook (the benchmark's
    # reason for the handler); an async chain would be a coroutine function here.
    assert not asyncio.iscoroutinefunction(django_asgi_app._middleware_chain)


async def test_health_list_and_errors_through_asgi(employee):
    interview = await database_sync_to_async(InterviewFactory)(employee=employee)
    auth = (b"authorization", (await database_sync_to_async(bearer)(employee)).encode())

    status, headers, body = await asgi_get("/health")
    assert (status, json.loads(b"".join(body))) == (200, {"status": "ok"})

    status, headers, body = await asgi_get("/api/v1/interviews", headers=[auth, (b"x-request-id", b"asgi-1")])
    listing = json.loads(b"".join(body))
    assert status == 200
    assert headers[b"x-request-id"] == b"asgi-1"
    assert [row["id"] for row in listing["data"]] == [str(interview.id)]
    assert listing["meta"]["request_id"] == "asgi-1"

    status, _, body = await asgi_get("/api/v1/interviews")
    assert (status, json.loads(b"".join(body))["error_code"]) == (401, "not_authenticated")
    status, _, body = await asgi_get("/api/v1/nothing/here", headers=[auth])
    assert (status, json.loads(b"".join(body))["error_code"]) == (404, "not_found")


async def test_an_export_streams_in_many_body_messages(staff, employee):
    interview = await database_sync_to_async(InterviewFactory)(employee=employee)
    await database_sync_to_async(add_messages)(interview, 3000)
    auth = (b"authorization", (await database_sync_to_async(bearer)(staff)).encode())
    status, headers, chunks = await asgi_get(f"/api/v1/interviews/{interview.id}/export", "format=csv", [auth])
    assert status == 200
    assert headers[b"content-type"].startswith(b"text/csv")
    assert len(chunks) > 2  # sent as it is read, not buffered into one body
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode("utf-8-sig"), newline="")))
    assert [int(r["sequence_number"]) for r in rows] == list(range(1, 3001))
