"""Every export format, opened and read back, against the database."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from docx import Document
from pypdf import PdfReader

from interviews.models import InterviewExport, InterviewMessage, InterviewStatus
from tests.factories import InterviewFactory

pytestmark = pytest.mark.django_db

SPANISH = [
    ("assistant", "¿Qué herramientas usas en tu trabajo diario? Cuéntame más, por favor."),
    ("user", "Uso SAP y Excel; también reviso el año fiscal con la señora Muñoz. ¡Es clave!"),
    ("assistant", 'Interesante: ¿y cómo manejas los "cierres" de mes, paso a paso?'),
    ("user", "Primero concilio,\nluego reviso las órdenes, y al final: ¡listo! Ω ж € ✓"),
    ("system", "Entrevista terminada — gracias."),
]
STARTED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def interview(employee):
    employee.first_name, employee.last_name = "José", "Peña"
    employee.save()
    interview = InterviewFactory(
        employee=employee,
        status=InterviewStatus.COMPLETED,
        started_at=STARTED,
        completed_at=STARTED + timedelta(minutes=12, seconds=30),
        question_count=2,
        technical_level="intermediate",
    )
    InterviewMessage.objects.bulk_create(
        InterviewMessage(
            interview=interview,
            role=role,
            content=content,
            sequence_number=n,
            created_at=STARTED + timedelta(minutes=2 * n),
        )
        for n, (role, content) in enumerate(SPANISH, start=1)
    )
    interview.message_count = len(SPANISH)
    interview.save()
    return interview


def download(client, interview, fmt):
    response = client.get(f"/api/v1/interviews/{interview.id}/export", {"format": fmt})
    assert response.status_code == 200, response.content
    assert response["Content-Disposition"] == f'attachment; filename="interview-{interview.id}.{fmt}"'
    return b"".join(response.streaming_content), response


def db_turns(interview):
    return list(
        InterviewMessage.objects.filter(interview=interview)
        .order_by("sequence_number")
        .values_list("sequence_number", "role", "content", "created_at")
    )


def test_json_is_interview_export_data(client_for, staff, interview):
    body, response = download(client_for(staff), interview, "json")
    assert response["Content-Type"] == "application/json; charset=utf-8"
    data = json.loads(body)
    assert list(data) == [
        "interview_id",
        "user_id",
        "user_name",
        "user_role",
        "organization",
        "interview_date",
        "interview_duration_minutes",
        "total_questions",
        "total_user_responses",
        "is_complete",
        "language",
        "technical_level",
        "source",
        "overall_score",
        "report",  # the current report, null while it is made (test_reports_exports.py)
        "review_state",  # for those who may read reviews (test_reviews_exports.py)
        "reviews",
        "conversation_history",
        "exported_at",
        "exported_by",
    ]
    assert data["interview_id"] == str(interview.id)
    assert data["user_id"] == str(interview.employee.employee_id)
    assert data["user_name"] == "José Peña"
    assert data["user_role"] == "employee"
    assert data["organization"] == str(interview.organization_id)
    assert data["interview_date"] == "2026-03-02T09:30:00Z"
    assert data["interview_duration_minutes"] == 12.5
    assert data["total_questions"] == 2
    assert data["total_user_responses"] == 2
    assert data["is_complete"] is True
    assert (data["language"], data["technical_level"], data["source"]) == ("es", "intermediate", "live")
    assert data["exported_by"] == staff.username
    assert datetime.fromisoformat(data["exported_at"]) > STARTED
    assert [
        (t["sequence_number"], t["role"], t["content"], datetime.fromisoformat(t["timestamp"]))
        for t in data["conversation_history"]
    ] == db_turns(interview)
    assert {t["imported"] for t in data["conversation_history"]} == {False}
    # Unicode is written as itself, not as \u escapes.
    assert "¿Qué herramientas".encode() in body


def test_open_interview_duration_runs_to_last_message(client_for, staff, interview):
    interview.status, interview.completed_at = InterviewStatus.IN_PROGRESS, None
    interview.save()
    data = json.loads(download(client_for(staff), interview, "json")[0])
    assert data["is_complete"] is False
    assert data["interview_duration_minutes"] == 10.0  # last message at +10 min


def test_csv_one_row_per_turn_with_bom_and_quoting(client_for, staff, interview):
    body, response = download(client_for(staff), interview, "csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert [
        (int(r["sequence_number"]), r["role"], r["content"], datetime.fromisoformat(r["timestamp"])) for r in rows
    ] == db_turns(interview)
    assert {r["interview_id"] for r in rows} == {str(interview.id)}
    assert [r["speaker"] for r in rows] == ["Interviewer", "José Peña", "Interviewer", "José Peña", "System"]
    assert "\n" in rows[3]["content"]
    assert '"cierres"' in rows[2]["content"]


def test_csv_rows_end_in_crlf_and_only_quoted_content_holds_bare_newlines(client_for, staff, interview):
    # docs/exports.md promises "\r\n" rows (RFC 4180, what Excel expects); csv.reader accepts
    # "\n" as well, so this reads the raw bytes.
    body, _ = download(client_for(staff), interview, "csv")
    text = body.decode("utf-8-sig")
    terminators, quoted, bare_inside = [], False, []
    for i, char in enumerate(text):
        if char == '"':
            quoted = not quoted  # a doubled quote flips twice: still inside
        elif char == "\n" and quoted:
            bare_inside.append(i)
        elif char in "\r\n" and not quoted:
            terminators.append(char)
    assert not quoted
    assert "".join(terminators) == "\r\n" * (1 + len(SPANISH))  # the header and one row per turn
    assert text.endswith('"\r\n')
    # The one answer written on two lines keeps its own line break, inside its quoted field.
    assert [text[i - 9 : i + 6] for i in bare_inside] == ["concilio,\nluego"]


def test_markdown_and_text_have_header_and_every_turn_in_order(client_for, staff, interview):
    for fmt, content_type in (("md", "text/markdown"), ("txt", "text/plain")):
        body, response = download(client_for(staff), interview, fmt)
        assert response["Content-Type"] == f"{content_type}; charset=utf-8"
        text = body.decode()
        for fact in (str(interview.id), "José Peña", "2026-03-02 09:30:00 UTC", "12.5 min", "intermediate"):
            assert fact in text, (fmt, fact)
        positions = [text.index(f"#{n} · ") for n in range(1, len(SPANISH) + 1)]
        assert positions == sorted(positions)
        assert "#2 · José Peña · 2026-03-02 09:34:00 UTC" in text
        for _, content in SPANISH:
            for line in content.split("\n"):
                assert line in text, (fmt, line)


def test_pdf_text_reads_back_with_spanish_characters(client_for, staff, interview):
    body, response = download(client_for(staff), interview, "pdf")
    assert response["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(body))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert reader.metadata.title == f"Interview transcript {interview.id}"
    for fact in ("Interview transcript", str(interview.id), "José Peña", "12.5 min"):
        assert fact in text
    for phrase in ("¿Qué herramientas usas", "señora Muñoz. ¡Es clave!", "¡listo! Ω ж € ✓", "terminada — gracias"):
        assert phrase in text, phrase
    positions = [text.index(f"#{n} · ") for n in range(1, len(SPANISH) + 1)]
    assert positions == sorted(positions)


def test_docx_paragraphs_match_the_database(client_for, staff, interview):
    body, response = download(client_for(staff), interview, "docx")
    assert response["Content-Type"].startswith("application/vnd.openxmlformats-officedocument")
    document = Document(io.BytesIO(body))
    table = {row.cells[0].text: row.cells[1].text for row in document.tables[0].rows}
    assert table["Interview"] == str(interview.id)
    assert table["Employee"] == f"José Peña ({interview.employee.employee_id})"
    paragraphs = [p.text for p in document.paragraphs]
    turns = db_turns(interview)
    titles = [p for p in paragraphs if p.startswith("#")]
    assert titles == [
        f"#{n} · {'José Peña' if role == 'user' else role.replace('assistant', 'Interviewer').title()} · "
        f"{created:%Y-%m-%d %H:%M:%S} UTC"
        for n, role, _, created in turns
    ]
    for _, _, content, _ in turns:
        assert paragraphs[paragraphs.index(content) - 1].startswith("#")


def test_control_characters_do_not_break_pdf_or_docx(client_for, staff, interview):
    InterviewMessage.objects.filter(interview=interview, sequence_number=2).update(content="bad\x01byte\x07 ñ")
    for fmt in ("pdf", "docx"):
        body, _ = download(client_for(staff), interview, fmt)
        text = (
            "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)
            if fmt == "pdf"
            else "\n".join(p.text for p in Document(io.BytesIO(body)).paragraphs)
        )
        assert "bad\ufffdbyte\ufffd ñ" in text, fmt


def test_post_export_is_the_same_file(client_for, staff, interview):
    client = client_for(staff)
    # JSON is the envelope unless the file is asked for with ?download=1 (test_exports_api.py).
    for fmt, query in (("json", "?download=1"), ("json", "?download=true"), ("csv", ""), ("md", "")):
        get_body, _ = download(client, interview, fmt)
        response = client.post("/api/v1/interviews/export" + query, {"interview_id": str(interview.id), "format": fmt})
        assert response.status_code == 200
        assert response["Content-Disposition"] == f'attachment; filename="interview-{interview.id}.{fmt}"'
        post_body = b"".join(response.streaming_content)
        if fmt == "json":  # exported_at differs by a few microseconds
            get_body, post_body = json.loads(get_body), json.loads(post_body)
            get_body.pop("exported_at"), post_body.pop("exported_at")
        assert post_body == get_body
    default = client.post("/api/v1/interviews/export/?download=1", {"interview_id": str(interview.id)})
    assert default["Content-Disposition"].endswith('.json"')
    assert InterviewExport.objects.filter(interview=interview, kind="single").count() == 9


def test_post_json_envelope_holds_the_file_document(client_for, staff, interview):
    """``data`` is, key for key and in order, the document the JSON download writes."""
    client = client_for(staff)
    file_body, _ = download(client, interview, "json")
    response = client.post("/api/v1/interviews/export", {"interview_id": str(interview.id)})
    assert response.status_code == 200
    assert "Content-Disposition" not in response
    body = response.json()
    document, enveloped = json.loads(file_body), body["data"]
    assert list(enveloped) == list(document)
    assert enveloped["conversation_history"] == document["conversation_history"]
    document.pop("exported_at"), enveloped.pop("exported_at")
    assert enveloped == document
    assert [turn["content"] for turn in body["data"]["conversation_history"]] == [c for _, c in SPANISH]
