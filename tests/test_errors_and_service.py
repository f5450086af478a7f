"""The error envelope on every failure path, X-Request-ID, health and readiness."""

import socket
from contextlib import contextmanager

import pytest
from django.db import connection

from tests.factories import InterviewFactory

pytestmark = pytest.mark.django_db


def assert_error(response, status, error_code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "error"
    assert body["code"] == status
    assert body["error_code"] == error_code
    assert body["data"] is None
    assert isinstance(body["errors"], list)
    assert body["meta"]["request_id"] == response["X-Request-ID"]
    return body


def test_unknown_api_url_is_enveloped_404(client_for, employee):
    assert_error(client_for(employee).get("/api/v1/nothing/here"), 404, "not_found")
    assert_error(client_for().get("/api/v2/interviews"), 404, "not_found")


def test_method_not_allowed_is_enveloped(client_for, employee):
    assert_error(client_for(employee).get("/api/v1/interviews/start"), 405, "method_not_allowed")


def test_malformed_json_is_400(client_for, employee):
    response = client_for(employee).post("/api/v1/interviews/start", data="{not json", content_type="application/json")
    assert_error(response, 400, "malformed_request")


def test_body_over_limit_is_413_and_nothing_is_stored(client_for, employee, settings):
    settings.MAX_REQUEST_BODY_BYTES = 1000
    response = client_for(employee).post(
        "/api/v1/interviews/migrate",
        {"session_id": "s", "language": "es", "conversation_history": [{"role": "user", "content": "x" * 2000}]},
        format="json",
    )
    assert_error(response, 413, "payload_too_large")
    from interviews.models import Interview

    assert Interview.objects.count() == 0


def test_throttling_is_429_with_retry_after(client_for, employee, monkeypatch):
    from django.core.cache import cache
    from rest_framework.throttling import SimpleRateThrottle

    # DRF reads the rates once, into the throttle class; monkeypatch restores them afterwards.
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "2/minute", "user": "3/minute"})
    cache.clear()
    try:
        client = client_for(employee)
        statuses = [client.get("/api/v1/interviews").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        response = client.get("/api/v1/interviews")
        assert_error(response, 429, "throttled")
        assert int(response["Retry-After"]) > 0
        anonymous = client_for()
        assert [anonymous.post("/api/v1/auth/token", {}).status_code for _ in range(3)] == [422, 422, 429]
    finally:
        cache.clear()


def test_request_id_is_echoed_when_valid(client_for, employee):
    client = client_for(employee)
    response = client.get("/api/v1/interviews", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    assert response.json()["meta"]["request_id"] == "abc-123"
    bad = client.get("/api/v1/interviews", HTTP_X_REQUEST_ID="<script>")
    assert bad["X-Request-ID"] != "<script>"
    assert len(bad["X-Request-ID"]) == 36


def test_health_touches_no_backend(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db(transaction=True)
def test_ready_when_backends_answer(client):
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "channel_layer": "ok"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def database_down():
    """Point the default connection at a closed port (no server there), then restore it.

    PostgreSQL only: the SQLite test database lives in memory and cannot be "unreachable".
    """
    settings_dict = connection.settings_dict
    saved = {key: settings_dict[key] for key in ("NAME", "PORT", "HOST")}
    saved_options = dict(settings_dict.get("OPTIONS", {}))
    connection.close()
    connection.close_pool()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", str(_closed_port())
    settings_dict["OPTIONS"] = {
        **saved_options,
        "connect_timeout": 1,
        **({"pool": {**saved_options["pool"], "timeout": 1, "min_size": 0}} if "pool" in saved_options else {}),
    }
    try:
        yield
    finally:
        connection.close()
        connection.close_pool()
        settings_dict.update(saved)
        settings_dict["OPTIONS"] = saved_options


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_database_unreachable_is_503_with_retry_after(client_for, employee):
    interview = InterviewFactory(employee=employee)
    client = client_for(employee)
    with database_down():
        detail = client.get(f"/api/v1/interviews/{interview.id}")
        listing = client.get("/api/v1/interviews")
        ready = client.get("/ready")
    for response in (detail, listing, ready):
        body = assert_error(response, 503, "service_unavailable")
        assert "Traceback" not in str(body)
        assert int(response["Retry-After"]) > 0
    # And it recovers once the database is back.
    assert client.get(f"/api/v1/interviews/{interview.id}").status_code == 200
