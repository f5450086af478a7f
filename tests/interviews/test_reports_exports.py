"""The report in the JSON, PDF and DOCX exports: there, readable, and inert when it quotes
hostile answers; the demo interviews' report read back from the PDF (docs/exports.md)."""

import io
import json
import zipfile
from io import StringIO

import pytest
from django.core.management import call_command
from docx import Document
from pypdf import PdfReader

from accounts.models import User
from interviews.models import Interview, InterviewReport, InterviewStatus
from tests.interviews.test_reports import ANSWERS, complete_by_answering

committed = pytest.mark.django_db(transaction=True)

HOSTILE = [
    'I am the clerk <script>alert(1)</script> and I type =HYPERLINK("http://evil") in cells every day.',
    'First I open <img src=x onerror=alert(2)>, then I run =cmd|"/c calc"!A1 in Excel and finally I upload it to SAP.',
    *ANSWERS[2:],
]


def download(client, interview, fmt) -> bytes:
    response = client.get(f"/api/v1/interviews/{interview.id}/export", {"format": fmt})
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def pdf_text(body: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


def docx_paragraphs(body: bytes) -> list[str]:
    return [p.text for p in Document(io.BytesIO(body)).paragraphs]


@committed
def test_the_json_export_carries_the_current_report(employee, staff, client_for):
    interview = complete_by_answering(employee)
    for user in (staff, employee):  # the employee's own export too (docs/api.md)
        data = json.loads(download(client_for(user), interview, "json"))
        report = data["report"]
        assert (report["version"], report["generated_by"]) == (1, "scripted")
        assert report["process"]["steps"][0]["text"] == "First I export the hours from Kronos"
        assert report["summary"] == InterviewReport.objects.get(interview=interview).document["summary"]


def test_the_json_export_of_an_interview_without_report_says_null(employee, client_for):
    from tests.factories import InterviewFactory

    interview = InterviewFactory(employee=employee, status=InterviewStatus.IN_PROGRESS)
    assert json.loads(download(client_for(employee), interview, "json"))["report"] is None


@committed
def test_the_pdf_and_docx_exports_show_the_report_for_people(employee, staff, client_for):
    interview = complete_by_answering(employee)
    api = client_for(staff)
    text = pdf_text(download(api, interview, "pdf"))
    for heading in ("Report", "Summary", "Findings by topic", "Steps, in order", "Tools and systems", "Strengths"):
        assert heading in text
    assert "1. First I export the hours from Kronos (message #4)" in text
    assert text.index("Report") < text.index("Conversation")
    assert ANSWERS[0][:40] in text[text.index("Conversation") :]  # the transcript follows the report
    assert '"schema_version"' not in text  # no raw JSON
    paragraphs = docx_paragraphs(download(api, interview, "docx"))
    for heading in ("Report", "Summary", "Findings by topic", "Steps, in order", "Improvement ideas", "Weaknesses"):
        assert heading in paragraphs
    assert "First I export the hours from Kronos (message #4)" in paragraphs
    assert any(p.startswith("Steps (") for p in paragraphs)


@committed
def test_hostile_answers_stay_text_in_the_report_of_every_format(employee, staff, client_for, client, superuser):
    interview = complete_by_answering(employee, HOSTILE)
    api = client_for(staff)
    paragraphs = docx_paragraphs(download(api, interview, "docx"))
    assert any("<script>alert(1)</script>" in p for p in paragraphs[: paragraphs.index("Conversation")])
    text = pdf_text(download(api, interview, "pdf"))
    assert "<img src=x onerror=alert(2)>" in text.split("Conversation")[0]
    body = download(api, interview, "docx")
    xml = zipfile.ZipFile(io.BytesIO(body)).read("word/document.xml").decode()
    assert "<script>" not in xml  # escaped as text in the XML, never markup
    assert "=HYPERLINK(" in xml  # the text is there...
    assert "w:fldSimple" not in xml  # ...and never a field Word would run
    assert "w:instrText" not in xml
    client.force_login(superuser)
    page = client.get(f"/admin/interviews/interview/{interview.id}/change/").content.decode()
    report = page[page.index('id="report"') :]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report
    assert "<script>alert(1)" not in page


DEMO_STEPS = {
    "en": [
        "1. I receive the invoice by email (message #4)",
        "2. Match it to the purchase order in Oracle (message #4)",
        "3. Approve payment (message #4)",
    ],
    "es": [
        "1. Recibo la solicitud por correo (message #4)",
        "2. Reviso el stock en SAP (message #4)",
        "3. Pido tres cotizaciones y creo la orden (message #4)",
    ],
}
DEMO_SUMMARY = {"en": "6 answers on 6 of 6 topics", "es": "6 respuestas sobre 6 de 6 temas"}
DEMO_TOOLS = {"en": "Outlook (message #6)", "es": "Excel (message #6)"}


@committed
def test_the_demo_interviews_report_reads_well_in_the_pdf(client_for):
    call_command("seed_demo", "--force", stdout=StringIO())
    completed = list(Interview.objects.filter(status=InterviewStatus.COMPLETED))
    assert sorted(i.language for i in completed) == ["en", "en", "es", "es"]
    staff = User.objects.get(username="demo-staff")
    for interview in completed:
        text = pdf_text(download(client_for(staff), interview, "pdf"))
        assert "Version 1, written by the scripted interviewer (offline)" in text
        report = text[text.index("Report") : text.index("Conversation")]
        # Every section, in reading order, with the employee's own words and where they said them.
        order = [
            "Summary",
            "Findings by topic",
            "The process as the employee described it",
            "Role",
            "Steps, in order",
            *DEMO_STEPS[interview.language],
            "Tools and systems",
            DEMO_TOOLS[interview.language],
            "Inputs and outputs",
            "Problems and workarounds",
            "Improvement ideas",
            "Strengths",
            "Weaknesses",
        ]
        at = 0
        for line in order:  # each found after the one before (ValueError if missing or out of order)
            at = report.index(f"\n{line}", at) + 1
        assert DEMO_SUMMARY[interview.language] in report
        assert "(message #10)" in report  # the problems answer, by its number
        assert '"schema_version"' not in report  # sentences, never raw data
        assert "{'" not in report
