"""Reviews and score overrides in the JSON, PDF and DOCX exports, read back; never for employees."""

import io
import json
import zipfile

import pytest
from docx import Document
from pypdf import PdfReader

from interviews.models import Interview, InterviewStatus
from interviews.services.reviews import interview_review_create
from tests.factories import InterviewFactory, add_messages

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewed(employee, staff, admin_user):
    interview = InterviewFactory(employee=employee, status=InterviewStatus.COMPLETED, question_count=2)
    add_messages(interview, 4)
    Interview.objects.filter(pk=interview.pk).update(overall_score=64)
    staff.first_name, staff.last_name = "Ana", "Ruiz"
    staff.save()
    interview_review_create(
        interview_id=interview.id, reviewer=staff, decision="needs_follow_up", notes="Ask about SAP."
    )
    interview_review_create(
        interview_id=interview.id,
        reviewer=admin_user,
        decision="approved",
        notes="Followed up by phone.",
        score_override=78,
        override_reason="Answer 2 was scored too low",
    )
    return interview


def download(client, interview, fmt) -> bytes:
    response = client.get(f"/api/v1/interviews/{interview.id}/export", {"format": fmt})
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)


def test_json_export_carries_the_reviews(client_for, staff, admin_user, reviewed):
    client = client_for(staff)
    document = json.loads(download(client, reviewed, "json"))
    assert document["overall_score"] == 64
    assert document["review_state"] == "reviewed"
    assert [(r["reviewer"], r["decision"], r["notes"]) for r in document["reviews"]] == [
        ("Ana Ruiz", "needs_follow_up", "Ask about SAP."),
        (admin_user.username, "approved", "Followed up by phone."),
    ]
    assert document["reviews"][1]["score_override"] == 78
    assert document["reviews"][1]["override_reason"] == "Answer 2 was scored too low"
    assert document["reviews"][0]["score_override"] is None
    # The POST envelope is built by the same code: the same document, key for key.
    enveloped = client.post("/api/v1/interviews/export", {"interview_id": str(reviewed.id)}).json()["data"]
    assert list(enveloped) == list(document)
    enveloped.pop("exported_at"), document.pop("exported_at")
    assert enveloped == document


def test_employees_export_their_interview_without_reviews(client_for, employee, reviewed):
    client = client_for(employee)
    body = download(client, reviewed, "json")
    document = json.loads(body)
    assert "reviews" not in document
    assert "review_state" not in document
    assert document["overall_score"] == 64
    assert b"SAP." not in body
    assert b"too low" not in body
    enveloped = client.post("/api/v1/interviews/export", {"interview_id": str(reviewed.id)}).json()["data"]
    assert "reviews" not in enveloped
    for fmt in ("pdf", "docx"):
        raw = download(client, reviewed, fmt)
        text = pdf_text(raw) if fmt == "pdf" else docx_text(raw)
        assert "Reviews" not in text, fmt
        assert "too low" not in text, fmt


def pdf_text(body: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


def docx_text(body: bytes) -> str:
    document = Document(io.BytesIO(body))
    cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    return "\n".join([p.text for p in document.paragraphs] + cells)


@pytest.mark.parametrize("fmt", ["pdf", "docx"])
def test_pdf_and_docx_show_reviews_and_the_override(client_for, staff, reviewed, fmt):
    raw = download(client_for(staff), reviewed, fmt)
    text = pdf_text(raw) if fmt == "pdf" else docx_text(raw)
    assert "Overall score" in text
    assert "64 / 100" in text
    assert "Reviews" in text
    for phrase in (
        "Needs follow-up · Ana Ruiz",
        "Notes: Ask about SAP.",
        "Approved · ",
        "Score overridden to 78 / 100: Answer 2 was scored too low",
    ):
        assert phrase in text, phrase
    # Oldest first, before the conversation.
    assert text.index("Needs follow-up") < text.index("Approved · ") < text.index("#1 · ")


def test_a_bulk_export_carries_each_interviews_reviews(client_for, staff, employee, reviewed):
    other = InterviewFactory(employee=employee, status=InterviewStatus.COMPLETED)
    response = client_for(staff).get("/api/v1/interviews/export", {"format": "json"})
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    documents = {json.loads(archive.read(n))["interview_id"]: json.loads(archive.read(n)) for n in archive.namelist()}
    assert [r["decision"] for r in documents[str(reviewed.id)]["reviews"]] == ["needs_follow_up", "approved"]
    assert documents[str(other.id)]["reviews"] == []
