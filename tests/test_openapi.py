"""The OpenAPI schema describes the API, and the API keeps to it under generated input."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.serializers import TokenObtainSerializer
from tests.factories import UserFactory

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())


def test_schema_and_swagger_ui_are_served_without_auth(client):
    spec = client.get("/api/v1/schema/?format=json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in [
        "/api/v1/auth/token/",
        "/api/v1/interviews/start/",
        "/api/v1/interviews/continue/",
        "/api/v1/interviews/",
        "/api/v1/interviews/{interview_id}/",
        "/api/v1/interviews/{interview_id}/messages/",
        "/api/v1/interviews/migrate/",
        "/api/v1/interviews/stats/",
    ]:
        assert path in paths, path
    start = paths["/api/v1/interviews/start/"]["post"]["responses"]
    assert {"201", "401", "422", "503"} <= set(start)
    assert "ErrorEnvelope" in str(start["422"])
    # Start and continue: JSON, or a 200 event stream; errors are JSON whatever was accepted.
    for name, status in (("start", "201"), ("continue", "200")):
        responses = paths[f"/api/v1/interviews/{name}/"]["post"]["responses"]
        assert "ErrorEnvelope" not in str(responses[status]["content"]["application/json"])
        assert responses["200"]["content"]["text/event-stream"]["schema"] == {"type": "string"}
        errors = {code: list(r["content"]) for code, r in responses.items() if code.startswith(("4", "5"))}
        assert errors
        assert set(map(tuple, errors.values())) == {("application/json",)}
    assert list(paths["/api/v1/interviews/start/"]["post"]["responses"]["201"]["content"]) == ["application/json"]
    ui = client.get("/api/v1/docs/")
    assert ui.status_code == 200
    assert b"swagger-ui" in ui.content
    # Swagger UI's assets are served from this service (drf-spectacular-sidecar), not a CDN.
    assert b"cdn" not in ui.content.lower()


@pytest.fixture
def fuzz_headers(db):
    # Like Django's test client: the WSGI app must not close the connection that holds the
    # test's transaction at the end of each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    user = UserFactory()
    yield {"Authorization": f"Bearer {TokenObtainSerializer.get_token(user).access_token}"}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_keeps_to_its_schema(case, fuzz_headers):
    case.call_and_validate(
        headers=fuzz_headers,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )


# --- what random generation may miss: the date bounds and deeply nested JSON, by name --------

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/interviews/", "/api/v1/interviews/stats/", "/api/v1/interviews/export/"])
@pytest.mark.parametrize(
    "query", [{"end_date": "9999-12-31"}, {"start_date": "9999-12-31"}, {"start_date": "0001-01-01"}]
)
def test_dates_out_of_bounds_keep_to_the_schema(fuzz_headers, path, query):
    from accounts.models import Role

    staff = UserFactory(role=Role.STAFF)
    headers = {"Authorization": f"Bearer {TokenObtainSerializer.get_token(staff).access_token}"}
    response = schema[path]["GET"].Case(query=query).call_and_validate(headers=headers, checks=CHECKS)
    assert response.status_code == 422


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/auth/token/", "/api/v1/interviews/start/", "/api/v1/interviews/migrate/"])
@pytest.mark.parametrize("body", ["[" * 100_000, '{"a": ' + "[" * 49 + "]" * 49 + "}"])
def test_deeply_nested_json_keeps_to_the_schema(fuzz_headers, path, body):
    headers = {**fuzz_headers, "Content-Type": "application/json"}
    response = schema[path]["POST"].Case().call_and_validate(headers=headers, checks=CHECKS, data=body)
    assert response.status_code == 400
