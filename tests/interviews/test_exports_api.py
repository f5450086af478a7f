"""Export endpoints: validation before queries, access rules, errors, query counts, audit records."""

import json
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from interviews.models import InterviewExport
from tests.factories import ORG_B, InterviewFactory, UserFactory, add_messages

pytestmark = pytest.mark.django_db


@pytest.fixture
def interview(employee):
    interview = InterviewFactory(employee=employee)
    add_messages(interview, 6)
    return interview


def url(interview_id, fmt=None):
    return f"/api/v1/interviews/{interview_id}/export" + (f"?format={fmt}" if fmt else "")


def interview_queries(queries) -> list[str]:
    return [q["sql"] for q in queries if "interviews_" in q["sql"]]


@pytest.mark.parametrize(
    ("path", "field", "error_type"),
    [
        ("/api/v1/interviews/{id}/export?format=exe", "format", "invalid_choice"),
        ("/api/v1/interviews/{id}/export?format=", "format", "invalid_choice"),
        ("/api/v1/interviews/not-a-uuid/export?format=pdf", "interview_id", "invalid_uuid"),
    ],
)
def test_bad_input_is_422_before_any_interview_query(client_for, staff, interview, path, field, error_type):
    client = client_for(staff)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path.format(id=interview.id))
    assert response.status_code == 422
    body = response.json()
    assert body["error_code"] == "validation_error"
    assert body["errors"][0]["field"] == field
    assert body["errors"][0]["type"] == error_type
    assert interview_queries(queries) == []
    assert not InterviewExport.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"interview_id": "nope"}, "interview_id"),
        ({"interview_id": str(uuid.uuid4()), "format": "xls"}, "format"),
        ({}, "interview_id"),
        ({"interview_id": str(uuid.uuid4()), "extra": 1}, "extra"),
    ],
)
def test_post_validation(client_for, staff, payload, field):
    client = client_for(staff)
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/v1/interviews/export", payload, format="json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
    assert interview_queries(queries) == []


def test_post_malformed_json_is_400(client_for, staff):
    response = client_for(staff).post("/api/v1/interviews/export", "{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error_code"] == "malformed_request"


def test_unknown_interview_is_404(client_for, staff):
    for response in (
        client_for(staff).get(url(uuid.uuid4(), "pdf")),
        client_for(staff).post("/api/v1/interviews/export", {"interview_id": str(uuid.uuid4())}, format="json"),
    ):
        assert response.status_code == 404
        assert response.json()["error_code"] == "interview_not_found"
    assert not InterviewExport.objects.exists()


def test_unauthenticated_is_401(client_for, interview):
    response = client_for().get(url(interview.id))
    assert response.status_code == 401
    assert response.json()["error_code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("owner", 200),
        ("other_employee", 403),
        ("staff", 200),
        ("admin_user", 200),
        ("foreign_admin", 403),
        ("superuser", 200),
    ],
)
def test_access_matches_read_access(request, client_for, interview, who, status):
    user = interview.employee if who == "owner" else request.getfixturevalue(who)
    for response in (
        client_for(user).get(url(interview.id, "txt")),
        client_for(user).post("/api/v1/interviews/export", {"interview_id": str(interview.id)}, format="json"),
    ):
        assert response.status_code == status
        if status == 403:
            assert response.json()["error_code"] == "interview_access_denied"
    assert InterviewExport.objects.count() == (2 if status == 200 else 0)


def test_format_parameter_and_accept_header_do_not_trigger_drf_negotiation(client_for, staff, interview):
    client = client_for(staff)
    # ?format=pdf is ours (DRF would read it as a renderer and answer 404).
    response = client.get(url(interview.id, "pdf"), HTTP_ACCEPT="application/pdf")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    # An error under Accept: application/pdf is still the JSON envelope, not a 406.
    error = client.get(url(uuid.uuid4(), "pdf"), HTTP_ACCEPT="application/pdf")
    assert error.status_code == 404
    assert error["Content-Type"] == "application/json"
    assert json.loads(error.content)["error_code"] == "interview_not_found"


def test_trailing_slash_and_default_format(client_for, staff, interview):
    response = client_for(staff).get(f"/api/v1/interviews/{interview.id}/export/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="interview-{interview.id}.json"'
    assert response["Cache-Control"] == "private, no-store"
    assert json.loads(b"".join(response.streaming_content))["interview_id"] == str(interview.id)


@pytest.mark.parametrize("fmt", ["json", "md", "txt", "csv", "pdf", "docx"])
def test_single_export_query_count_does_not_grow_with_the_transcript(
    client_for, staff, interview, fmt, django_assert_max_num_queries
):
    add_messages(interview, 1200)
    client = client_for(staff)
    # The caller, the interview with its employee and counts, its reviews (staff see them),
    # the audit insert, and the message cursor (a server-side cursor on PostgreSQL, one
    # fetchmany'd SELECT on SQLite).
    with django_assert_max_num_queries(5):
        response = client.get(url(interview.id, fmt))
        body = b"".join(response.streaming_content)
    assert response.status_code == 200
    assert len(body) > 20_000


def test_every_export_is_recorded(client_for, staff, interview):
    client = client_for(staff)
    b"".join(client.get(url(interview.id, "pdf")).streaming_content)
    b"".join(
        client.post(
            "/api/v1/interviews/export", {"interview_id": str(interview.id), "format": "csv"}, format="json"
        ).streaming_content
    )
    records = list(InterviewExport.objects.order_by("created_at"))
    assert [(r.kind, r.format, r.interview_id, r.exported_by_id, r.interview_count) for r in records] == [
        ("single", "pdf", interview.id, staff.id, 1),
        ("single", "csv", interview.id, staff.id, 1),
    ]
    assert records[0].interview_ids == [str(interview.id)]
    assert records[0].organization_id == interview.organization_id


def test_foreign_organization_staff_sees_interview_access_denied_not_404(client_for, interview):
    foreign_staff = UserFactory(role="staff", organization_id=ORG_B)
    response = client_for(foreign_staff).get(url(interview.id))
    assert response.status_code == 403
    assert response.json()["error_code"] == "interview_access_denied"


# --- POST as JSON: the original service's envelope, or the file on request --------------------


def post_export(client, interview, query="", **extra):
    return client.post("/api/v1/interviews/export" + query, {"interview_id": str(interview.id)}, format="json", **extra)


def test_post_json_is_the_envelope_with_the_original_meta(client_for, staff, interview, django_assert_max_num_queries):
    client = client_for(staff)
    # The caller, the interview with its employee and counts, its reviews, the audit insert,
    # the messages.
    with django_assert_max_num_queries(5):
        response = post_export(client, interview)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "private, no-store"
    assert "Content-Disposition" not in response
    body = response.json()
    assert (body["status"], body["code"], body["message"], body["errors"]) == (
        "success",
        200,
        "Interview exported",
        None,
    )
    data, meta = body["data"], body["meta"]
    assert data["interview_id"] == str(interview.id)
    assert [turn["sequence_number"] for turn in data["conversation_history"]] == [1, 2, 3, 4, 5, 6]
    assert data["exported_by"] == staff.username
    assert meta["request_id"] == response["X-Request-ID"]
    assert {key: meta[key] for key in ("interview_id", "export_date", "language", "technical_level")} == {
        "interview_id": str(interview.id),
        "export_date": data["exported_at"],
        "language": interview.language,
        "technical_level": interview.technical_level,
    }
    assert meta["data_source"] == "database"
    record = InterviewExport.objects.get()
    assert (record.kind, record.format, record.interview_id, record.exported_by_id) == (
        "single",
        "json",
        interview.id,
        staff.id,
    )


@pytest.mark.parametrize(
    ("query", "accept", "enveloped"),
    [
        ("", None, True),
        ("", "application/json", True),
        ("", "*/*", True),
        ("", "application/json, text/plain, */*", True),  # what the original SPA's HTTP client sends
        ("?download=0", None, True),
        ("?download=false", "application/json", True),
        ("?download=1", None, False),
        ("?download=true", "application/json", False),
        ("", "application/octet-stream", False),
        ("", "application/json;q=0, application/octet-stream", False),
    ],
)
def test_post_json_download_or_envelope(client_for, staff, interview, query, accept, enveloped):
    extra = {"HTTP_ACCEPT": accept} if accept is not None else {}
    response = post_export(client_for(staff), interview, query, **extra)
    assert response.status_code == 200
    if enveloped:
        assert response.json()["data"]["interview_id"] == str(interview.id)
    else:
        assert response["Content-Disposition"] == f'attachment; filename="interview-{interview.id}.json"'
        assert json.loads(b"".join(response.streaming_content))["interview_id"] == str(interview.id)


def test_post_other_formats_stay_files_whatever_is_accepted(client_for, staff, interview):
    response = client_for(staff).post(
        "/api/v1/interviews/export",
        {"interview_id": str(interview.id), "format": "csv"},
        format="json",
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="interview-{interview.id}.csv"'


@pytest.mark.parametrize("value", ["", "maybe", "2"])
def test_post_bad_download_is_422_before_any_interview_query(client_for, staff, interview, value):
    with CaptureQueriesContext(connection) as queries:
        response = post_export(client_for(staff), interview, f"?download={value}")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "download"
    assert interview_queries(queries) == []
    assert not InterviewExport.objects.exists()
