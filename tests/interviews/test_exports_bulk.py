"""Bulk export (GET interviews/export): streamed ZIPs, filters, access, audit; the admin action's
form and the audit log (the action itself runs an export job: test_export_jobs_admin.py)."""

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse
from docx import Document
from pypdf import PdfReader

from interviews.models import InterviewExport, InterviewMessage
from tests.conftest import ON_POSTGRES
from tests.factories import ORG_B, InterviewFactory, UserFactory, add_messages

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 5, 10, 8, 0, tzinfo=UTC)


@pytest.fixture
def interviews(employee, other_employee):
    made = []
    for n, (owner, language, status) in enumerate(
        [(employee, "es", "completed"), (other_employee, "en", "in_progress"), (employee, "es", "paused")]
    ):
        interview = InterviewFactory(
            employee=owner, language=language, status=status, started_at=DAY + timedelta(days=n)
        )
        add_messages(interview, 3 + n)
        InterviewMessage.objects.filter(interview=interview, sequence_number=1).update(
            content=f"¿Pregunta número {n}? Señal ñ"
        )
        made.append(interview)
    foreign = InterviewFactory(employee=UserFactory(organization_id=ORG_B), started_at=DAY)
    add_messages(foreign, 2)
    return made


def read_zip(response) -> zipfile.ZipFile:
    assert response.status_code == 200, getattr(response, "content", b"")
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="interviews-')
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.testzip() is None
    return archive


def names(interviews) -> list[str]:
    return [f"interview-{i.id}.json" for i in interviews]


def test_staff_gets_every_interview_of_the_organization_newest_first(client_for, staff, interviews):
    archive = read_zip(client_for(staff).get("/api/v1/interviews/export"))
    assert archive.namelist() == names(reversed(interviews))
    for interview in interviews:
        data = json.loads(archive.read(f"interview-{interview.id}.json"))
        db = list(
            InterviewMessage.objects.filter(interview=interview)
            .order_by("sequence_number")
            .values_list("sequence_number", "content")
        )
        assert [(t["sequence_number"], t["content"]) for t in data["conversation_history"]] == db
        assert data["exported_by"] == staff.username


def test_filters_narrow_the_archive(client_for, admin_user, interviews, employee):
    client = client_for(admin_user)
    es = read_zip(client.get("/api/v1/interviews/export", {"language": "es", "format": "json"}))
    assert es.namelist() == names([interviews[2], interviews[0]])
    mine = read_zip(client.get("/api/v1/interviews/export", {"employee_id": str(employee.employee_id)}))
    assert sorted(mine.namelist()) == sorted(names([interviews[0], interviews[2]]))
    dated = read_zip(client.get("/api/v1/interviews/export", {"start_date": "2026-05-11", "end_date": "2026-05-11"}))
    assert dated.namelist() == names([interviews[1]])
    # A phrase on PostgreSQL: there the words of a search may be in different messages of an
    # interview (docs/api.md, "Search"), and every interview here has a "2" somewhere. SQLite: a substring.
    phrase = '"número 2"' if ON_POSTGRES else "número 2"
    searched = read_zip(client.get("/api/v1/interviews/export", {"search": phrase}))
    assert searched.namelist() == names([interviews[2]])
    ordered = read_zip(client.get("/api/v1/interviews/export", {"ordering": "started_at"}))
    assert ordered.namelist() == names(interviews)
    empty = read_zip(client.get("/api/v1/interviews/export", {"status": "cancelled"}))
    assert empty.namelist() == []


@pytest.mark.parametrize("fmt", ["csv", "md", "txt", "pdf", "docx"])
def test_every_format_in_a_zip(client_for, staff, interviews, fmt):
    archive = read_zip(client_for(staff).get("/api/v1/interviews/export", {"format": fmt, "language": "es"}))
    assert archive.namelist() == [f"interview-{i.id}.{fmt}" for i in (interviews[2], interviews[0])]
    member = archive.read(f"interview-{interviews[0].id}.{fmt}")
    if fmt == "pdf":
        text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(member)).pages)
    elif fmt == "docx":
        text = "\n".join(p.text for p in Document(io.BytesIO(member)).paragraphs)
    else:
        text = member.decode("utf-8-sig")
    assert "¿Pregunta número 0? Señal ñ" in text
    assert "message 3" in text


def test_superuser_exports_across_organizations(client_for, superuser, interviews):
    assert len(read_zip(client_for(superuser).get("/api/v1/interviews/export")).namelist()) == 4


def test_employee_is_forbidden(client_for, employee, interviews):
    response = client_for(employee).get("/api/v1/interviews/export")
    assert response.status_code == 403
    assert response.json()["error_code"] == "permission_denied"
    assert not InterviewExport.objects.exists()


@pytest.mark.parametrize(
    ("query", "field"),
    [({"format": "zip"}, "format"), ({"status": "nope"}, "status"), ({"start_date": "x"}, "start_date")],
)
def test_bad_filters_are_422(client_for, staff, interviews, query, field):
    response = client_for(staff).get("/api/v1/interviews/export", query)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


def test_too_many_interviews_is_422(client_for, staff, interviews, settings):
    settings.EXPORT_BULK_MAX_INTERVIEWS = 2
    response = client_for(staff).get("/api/v1/interviews/export")
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "too_many"
    assert read_zip(client_for(staff).get("/api/v1/interviews/export", {"language": "es"})).namelist()


def test_bulk_export_is_recorded(client_for, staff, interviews):
    read_zip(client_for(staff).get("/api/v1/interviews/export", {"language": "es", "format": "csv"}))
    record = InterviewExport.objects.get()
    assert (record.kind, record.format, record.interview_id, record.exported_by_id) == ("bulk", "csv", None, staff.id)
    assert record.interview_ids == [str(interviews[2].id), str(interviews[0].id)]
    assert record.interview_count == 2
    assert record.filters == {"language": "es", "format": "csv"}
    assert record.organization_id == staff.organization_id


def test_bulk_query_count_is_per_batch_not_per_interview(client_for, staff, employee, django_assert_max_num_queries):
    for _ in range(12):
        add_messages(InterviewFactory(employee=employee), 3)
    client = client_for(staff)
    # auth, ids, audit insert, one batch of interviews, one of their reviews and one of their
    # reports, then one message cursor per interview.
    with django_assert_max_num_queries(6 + 12):
        archive = read_zip(client.get("/api/v1/interviews/export", {"format": "txt"}))
    assert len(archive.namelist()) == 12


# --- admin -----------------------------------------------------------------------------------


def test_admin_action_offers_the_formats(client, staff, interviews):
    client.force_login(staff)
    html = client.get(reverse("admin:interviews_interview_changelist")).content.decode()
    assert "Export selected interviews (ZIP)" in html
    for label in ("JSON", "Markdown", "CSV", "PDF", "Word (DOCX)"):
        assert label in html


def test_audit_log_is_read_only_and_scoped_in_the_admin(client, client_for, staff, admin_user, interviews, superuser):
    b"".join(client_for(admin_user).get(f"/api/v1/interviews/{interviews[0].id}/export?format=md").streaming_content)
    foreign = InterviewFactory(employee=UserFactory(organization_id=ORG_B))
    b"".join(client_for(superuser).get(f"/api/v1/interviews/{foreign.id}/export").streaming_content)
    mine, theirs = (
        InterviewExport.objects.get(interview=interviews[0]),
        InterviewExport.objects.get(interview=foreign),
    )
    client.force_login(staff)
    changelist = client.get(reverse("admin:interviews_interviewexport_changelist"))
    assert changelist.status_code == 200
    html = changelist.content.decode()
    assert str(interviews[0].id) in html
    assert admin_user.username in html
    assert str(foreign.id) not in html
    detail = client.get(reverse("admin:interviews_interviewexport_change", args=[mine.id]))
    assert detail.status_code == 200
    assert 'name="format"' not in detail.content.decode()  # read-only, no form field
    assert client.get(reverse("admin:interviews_interviewexport_change", args=[theirs.id])).status_code == 302
    assert client.get(reverse("admin:interviews_interviewexport_add")).status_code == 403
    assert (
        client.post(reverse("admin:interviews_interviewexport_delete", args=[mine.id]), {"post": "yes"}).status_code
        == 403
    )
    assert InterviewExport.objects.count() == 2
    client.force_login(superuser)
    assert str(foreign.id) in client.get(reverse("admin:interviews_interviewexport_changelist")).content.decode()
