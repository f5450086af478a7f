"""Error monitoring (interviewsvc/monitoring.py): events reach the DSN's ingest endpoint (a local
HTTP server here) with the request id, and without transcript text, tokens or tickets."""

import json
import uuid

import pytest
import sentry_sdk
from channels.db import database_sync_to_async
from structlog.contextvars import bound_contextvars

from interviews.models import InterviewMessage
from interviewsvc.monitoring import before_send, before_send_transaction, project_version, sentry_init
from interviewsvc.tasks import enqueue
from tests.conftest import bearer
from tests.interviews.realtime_support import LONG_ANSWER, start_interview
from tests.sentry_support import SentryIngest
from tests.task_support import broken
from tests.test_asgi import asgi_get

TRANSCRIPT_WORDS = ("payroll", "Kronos", "Excel")  # from LONG_ANSWER, the employee's answer
SECRET_TICKET = "tkt-" + uuid.uuid4().hex
SECRET_COOKIE = "sess-" + uuid.uuid4().hex


def assert_clean(raw: bytes, *secrets: str) -> None:
    text = raw.decode("utf-8", "replace")
    for secret in (*TRANSCRIPT_WORDS, SECRET_TICKET, SECRET_COOKIE, *secrets):
        assert secret not in text, f"{secret!r} was sent to Sentry"


def transcript_fragments(interview) -> list[str]:
    """Every 16 characters of every stored message: none may be sent, not even in part."""
    contents = InterviewMessage.objects.filter(interview=interview).values_list("content", flat=True)
    return [text[i : i + 16] for text in contents for i in range(0, max(1, len(text) - 15), 8)]


@pytest.fixture
def sentry():
    """Sentry on in this process, reporting to a local ingest server; off again afterwards."""
    assert not sentry_sdk.get_client().is_active()  # the test settings have no SENTRY_DSN
    with SentryIngest() as ingest:
        sentry_init(dsn=ingest.dsn, environment="test-env")
        try:
            yield ingest
        finally:
            sentry_sdk.get_client().close(timeout=5)
            sentry_sdk.get_global_scope().set_client(None)


def test_without_a_dsn_nothing_is_set_up():
    sentry_init(dsn="", environment="production")
    assert not sentry_sdk.get_client().is_active()


def interview_with_answer(employee):
    from interviews import services

    interview = start_interview(employee)
    services.turn_answer_store(actor=employee, interview_id=interview.id, answer=LONG_ANSWER, client_message_id="a")
    return interview, bearer(employee).split()[1], transcript_fragments(interview)


# Through the project's ASGI application, as daphne serves it: the integration's ASGI middleware
# attaches the request (method, URL, headers, query string, cookies) that before_send then cuts.
@pytest.mark.django_db(transaction=True)
async def test_an_unhandled_error_in_a_view_arrives_with_the_request_id_and_without_content(
    sentry, employee, monkeypatch
):
    interview, token, fragments = await database_sync_to_async(interview_with_answer)(employee)

    def exploding(message):
        transcript_text = message.content
        raise RuntimeError(f"cannot render message: {transcript_text}")

    monkeypatch.setattr("interviews.views.message_data", exploding)
    status, headers, body = await asgi_get(
        f"/api/v1/interviews/{interview.id}",
        query=f"ticket={SECRET_TICKET}&token={token}",
        headers=[
            (b"authorization", f"Bearer {token}".encode()),
            (b"cookie", f"sessionid={SECRET_COOKIE}; csrftoken={SECRET_COOKIE}".encode()),
            (b"x-request-id", b"req-view-42"),
            (b"x-forwarded-for", b"203.0.113.9"),
        ],
    )
    assert status == 500
    assert json.loads(b"".join(body))["error_code"] == "internal_error"
    assert headers[b"x-request-id"] == b"req-view-42"

    sentry_sdk.flush(timeout=5)
    (event,) = sentry.wait_for_events(1)
    assert event["tags"]["request_id"] == "req-view-42"
    assert event["environment"] == "test-env"
    assert event["release"] == f"interviewsvc@{project_version()}" == "interviewsvc@0.1.0"
    (exc,) = event["exception"]["values"]
    assert exc["type"] == "RuntimeError"
    assert any(f["function"] == "exploding" for f in exc["stacktrace"]["frames"])
    assert all("vars" not in f for f in exc["stacktrace"]["frames"])
    assert event["request"] == {
        "method": "GET",
        "url": f"http://testserver/api/v1/interviews/{interview.id}",
        "headers": {"host": "testserver", "x-request-id": "req-view-42"},
    }
    assert_clean(sentry.raw(), token, "203.0.113.9", *fragments)


@pytest.mark.django_db
def test_an_error_in_an_in_process_task_arrives_with_the_request_id(sentry, django_capture_on_commit_callbacks):
    key = f"broken-{uuid.uuid4()}"
    with bound_contextvars(request_id="req-task-7"), django_capture_on_commit_callbacks(execute=True):
        enqueue(broken, key, LONG_ANSWER)
    sentry_sdk.flush(timeout=5)
    events = sentry.wait_for_events(1)
    assert {e["tags"]["request_id"] for e in events} == {"req-task-7"}
    assert any(v["type"] == "ValueError" for e in events for v in (e.get("exception") or {}).get("values", []))
    assert_clean(sentry.raw())


def test_before_send_keeps_what_finds_the_bug_and_nothing_else():
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoxfQ.c2lnbmF0dXJl"
    event = {
        "level": "error",
        "exception": {
            "values": [
                {
                    "type": "IntegrityError",
                    "value": f"Key (content)=({LONG_ANSWER}) already exists",
                    "stacktrace": {"frames": [{"function": "f", "lineno": 3, "vars": {"answer": LONG_ANSWER}}]},
                }
            ]
        },
        "logentry": {"message": "turn %s failed: %s", "params": ["t1", LONG_ANSWER], "formatted": LONG_ANSWER},
        "request": {
            "method": "POST",
            "url": f"https://example.test/api/v1/interviews/continue?ticket={SECRET_TICKET}",
            "query_string": f"ticket={SECRET_TICKET}",
            "data": {"answer_text": LONG_ANSWER},
            "cookies": {"sessionid": SECRET_COOKIE},
            "headers": {"Authorization": f"Bearer {jwt}", "Cookie": SECRET_COOKIE, "Content-Type": "application/json"},
            "env": {"REMOTE_ADDR": "203.0.113.9"},
        },
        "breadcrumbs": {"values": [{"category": "interviews", "message": LONG_ANSWER, "data": {"a": LONG_ANSWER}}]},
        "extra": {"celery-job": {"task_name": "reports.build", "args": [LONG_ANSWER]}, "answer": LONG_ANSWER},
        "user": {"id": 1, "email": "someone@example.test", "ip_address": "203.0.113.9"},
        "contexts": {"runtime": {"name": "CPython"}, "response": {"body": LONG_ANSWER}},
        "tags": {"url": f"/x?token={jwt}"},
    }
    with bound_contextvars(request_id="req-1", interview_id="i-1", employee_id="E-1"):
        out = before_send(event, {})
    assert out["exception"]["values"][0]["type"] == "IntegrityError"
    assert out["exception"]["values"][0]["stacktrace"]["frames"] == [{"function": "f", "lineno": 3}]
    assert out["logentry"] == {"message": "turn %s failed: %s"}
    assert out["request"] == {
        "method": "POST",
        "url": "https://example.test/api/v1/interviews/continue",
        "headers": {"Content-Type": "application/json"},
    }
    assert out["breadcrumbs"] == {"values": [{"category": "interviews"}]}
    assert out["extra"] == {"celery-job": {"task_name": "reports.build"}}
    assert "user" not in out
    assert out["contexts"] == {"runtime": {"name": "CPython"}}
    assert out["tags"]["request_id"] == "req-1"
    assert out["tags"]["interview_id"] == "i-1"
    assert "employee_id" not in out["tags"]
    assert_clean(repr(out).encode(), jwt, "203.0.113.9", "someone@")


def test_before_send_transaction_drops_span_data_and_query_strings():
    event = {
        "type": "transaction",
        "transaction": "/api/v1/interviews/{interview_id}",
        "request": {"method": "GET", "url": "https://example.test/x", "query_string": f"ticket={SECRET_TICKET}"},
        "spans": [
            {"op": "db", "description": "SELECT 1", "data": {"db.system": "postgresql", "db.params": [LONG_ANSWER]}},
            {"op": "http.client", "description": f"GET https://llm.test/v1?key={SECRET_TICKET}", "data": {}},
        ],
    }
    out = before_send_transaction(event, {})
    assert out["spans"][0] == {"op": "db", "description": "SELECT 1", "data": {"db.system": "postgresql"}}
    assert out["spans"][1]["description"] == "GET https://llm.test/v1"
    assert out["transaction"] == "/api/v1/interviews/{interview_id}"
    assert_clean(repr(out).encode())
