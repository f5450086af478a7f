"""Every response format the original service documents for its client, against our real responses.

One test per format (start, continue, continue 422 for an empty answer and for a bad UUID,
export, export 404 and 403, list, empty list, get, get 404, PATCH, PATCH 404): the original
keys and their types, and the original client's envelope rules on every response.
"""

import uuid

import pytest

from interviews.models import Interview, InterviewExport, InterviewStatus
from interviews.realtime import frames
from tests.compat.envelope import (
    EXPORT_DATA,
    EXPORT_META,
    FIELD_ERROR,
    INTERVIEW,
    LIST_META,
    MESSAGE,
    TURN_META,
    check_envelope,
    check_types,
    envelope_of,
    string,
    uuid_text,
)
from tests.factories import InterviewFactory, add_messages

pytestmark = pytest.mark.django_db

ANSWER = "I prepare the weekly payroll: I export hours from Kronos, check them in Excel and upload to SAP."


def start(client, **body) -> dict:
    return envelope_of(client.post("/api/v1/interviews/start", body, format="json"))


def post_continue(client, body: dict):
    return client.post("/api/v1/interviews/continue", body, format="json")


def assert_interview(data: dict, interview_id: str | None = None) -> None:
    """The original names, next to ours and equal to them."""
    check_types(data, INTERVIEW)
    assert data["id_interview"] == data["id"]
    assert data["total_messages"] == data["message_count"]
    if interview_id is not None:
        assert data["id_interview"] == interview_id


def assert_message(data: dict) -> None:
    check_types(data, MESSAGE)
    assert data["id_message"] == data["id"]


def assert_error(response, status: int, error_code: str) -> dict:
    body = envelope_of(response)
    assert response.status_code == status
    assert body["error_code"] == error_code
    for item in body["errors"]:
        check_types(item, FIELD_ERROR)
    return body


# --- start / continue ------------------------------------------------------------------------


def test_start(client_for, employee):
    response = client_for(employee).post(
        "/api/v1/interviews/start", {"language": "en", "technical_level": "intermediate"}, format="json"
    )
    body = envelope_of(response)
    assert response.status_code == 201
    data, meta = body["data"], body["meta"]
    check_types(data, {"interview_id": uuid_text, "question": string})
    assert (data["question_number"], data["is_final"]) == (1, False)
    assert_interview(data["interview"], data["interview_id"])
    assert data["interview"]["total_messages"] == 1
    assert_message(data["message"])
    check_types(meta, TURN_META)
    interview = Interview.objects.get(pk=data["interview_id"])
    # An interview started here has no browser session: it is known by its own id.
    assert (meta["interview_id"], meta["session_id"]) == (str(interview.id), str(interview.id))
    assert (meta["question_count"], meta["language"]) == (1, "en")


def test_continue(client_for, employee):
    client = client_for(employee)
    first = start(client, language="es")["data"]
    response = post_continue(client, {"interview_id": first["interview_id"], "user_response": ANSWER})
    body = envelope_of(response)
    assert response.status_code == 200
    data, meta = body["data"], body["meta"]
    check_types(data, {"question": string})
    assert data["question"]
    assert (data["question_number"], data["is_final"]) == (2, False)
    assert_interview(data["interview"], first["interview_id"])
    assert data["interview"]["total_messages"] == 3
    assert_message(data["user_message"])
    assert_message(data["assistant_message"])
    assert data["user_message"]["content"] == ANSWER
    check_types(meta, TURN_META)
    assert (meta["interview_id"], meta["question_count"], meta["language"]) == (first["interview_id"], 2, "es")


def test_continue_empty_answer_is_422(client_for, employee):
    client = client_for(employee)
    interview_id = start(client)["data"]["interview_id"]
    body = assert_error(
        post_continue(client, {"interview_id": interview_id, "user_response": "   "}), 422, "validation_error"
    )
    assert [(e["field"], e["type"]) for e in body["errors"]] == [("user_response", "blank")]
    assert Interview.objects.get(pk=interview_id).message_count == 1


def test_continue_bad_uuid_is_422(client_for, employee):
    body = assert_error(
        post_continue(client_for(employee), {"interview_id": "not-a-uuid", "user_response": ANSWER}),
        422,
        "validation_error",
    )
    assert [(e["field"], e["type"]) for e in body["errors"]] == [("interview_id", "invalid_uuid")]


# --- export ----------------------------------------------------------------------------------


@pytest.fixture
def finished(employee):
    interview = InterviewFactory(employee=employee, status=InterviewStatus.COMPLETED, question_count=2)
    add_messages(interview, 4)
    return interview


def post_export(client, interview_id):
    return client.post("/api/v1/interviews/export", {"interview_id": str(interview_id)}, format="json")


def test_export(client_for, employee, finished):
    response = post_export(client_for(employee), finished.id)
    body = envelope_of(response)
    assert response.status_code == 200
    check_types(body["data"], EXPORT_DATA)
    check_types(body["meta"], EXPORT_META)
    data, meta = body["data"], body["meta"]
    assert data["interview_id"] == meta["interview_id"] == str(finished.id)
    assert [t["sequence_number"] for t in data["conversation_history"]] == [1, 2, 3, 4]
    assert (data["total_questions"], data["total_user_responses"], data["is_complete"]) == (2, 2, True)
    assert (meta["language"], meta["technical_level"]) == (finished.language, finished.technical_level)
    assert meta["export_date"] == data["exported_at"]
    assert InterviewExport.objects.filter(interview=finished, format="json").count() == 1


def test_export_unknown_interview_is_404(client_for, employee):
    assert_error(post_export(client_for(employee), uuid.uuid4()), 404, "interview_not_found")
    assert not InterviewExport.objects.exists()


def test_export_of_someone_elses_interview_is_403(client_for, other_employee, finished):
    assert_error(post_export(client_for(other_employee), finished.id), 403, "interview_access_denied")
    assert not InterviewExport.objects.exists()


# --- list / get ------------------------------------------------------------------------------


def test_list(client_for, employee, other_employee, django_assert_max_num_queries):
    mine = [InterviewFactory(employee=employee), InterviewFactory(employee=employee, session_id="browser-1")]
    add_messages(mine[0], 3)
    InterviewFactory(employee=other_employee)
    client = client_for(employee)
    with django_assert_max_num_queries(3):  # the caller, the count, the page
        response = client.get("/api/v1/interviews", {"page_size": 1})
    body = envelope_of(response)
    assert response.status_code == 200
    assert len(body["data"]) == 1
    for item in body["data"]:
        assert_interview(item)
        assert "messages" not in item
    check_types(body["meta"], LIST_META)
    assert body["meta"]["employee_id"] == str(employee.employee_id)
    assert body["meta"]["scope"] == "own"
    assert body["meta"]["pagination"] == {
        "total_items": 2,
        "total_pages": 2,
        "current_page": 1,
        "page_size": 1,
        "has_next": True,
        "has_previous": False,
    }
    second = envelope_of(client.get("/api/v1/interviews", {"page_size": 1, "page": 2}))["data"]
    assert {row["id_interview"] for row in [*body["data"], *second]} == {str(i.id) for i in mine}
    assert {row["id_interview"]: row["total_messages"] for row in [*body["data"], *second]} == {
        str(mine[0].id): 3,
        str(mine[1].id): 0,
    }


def test_empty_list(client_for, employee, other_employee):
    InterviewFactory(employee=other_employee)
    response = client_for(employee).get("/api/v1/interviews")
    body = envelope_of(response)
    assert response.status_code == 200
    assert body["data"] == []
    check_types(body["meta"], LIST_META)
    assert body["meta"]["employee_id"] == str(employee.employee_id)
    assert (body["meta"]["pagination"]["total_items"], body["meta"]["pagination"]["total_pages"]) == (0, 0)


def test_get(client_for, staff, employee, django_assert_max_num_queries):
    interview = InterviewFactory(employee=employee)
    add_messages(interview, 5)
    client = client_for(staff)  # a reader other than the interviewee: meta.employee_id is the interviewee's
    with django_assert_max_num_queries(3):  # the caller, the interview, its messages
        response = client.get(f"/api/v1/interviews/{interview.id}")
    body = envelope_of(response)
    assert response.status_code == 200
    assert_interview(body["data"], str(interview.id))
    assert body["data"]["total_messages"] == 5
    for message in body["data"]["messages"]:
        assert_message(message)
    assert [m["sequence_number"] for m in body["data"]["messages"]] == [1, 2, 3, 4, 5]
    assert body["meta"]["interview_id"] == str(interview.id)
    assert body["meta"]["employee_id"] == str(employee.employee_id)


def test_get_unknown_interview_is_404(client_for, employee):
    assert_error(client_for(employee).get(f"/api/v1/interviews/{uuid.uuid4()}"), 404, "interview_not_found")


# --- PATCH -----------------------------------------------------------------------------------


def test_patch(client_for, employee):
    interview = InterviewFactory(employee=employee)
    response = client_for(employee).patch(f"/api/v1/interviews/{interview.id}", {"status": "paused"}, format="json")
    body = envelope_of(response)
    assert response.status_code == 200
    assert_interview(body["data"], str(interview.id))
    assert body["data"]["status"] == "paused"
    assert body["meta"]["updated_fields"] == ["status"]
    assert Interview.objects.get(pk=interview.pk).status == InterviewStatus.PAUSED


def test_patch_unknown_interview_is_404(client_for, employee):
    response = client_for(employee).patch(f"/api/v1/interviews/{uuid.uuid4()}", {"status": "paused"}, format="json")
    assert_error(response, 404, "interview_not_found")


# --- the rules themselves --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"status": "success", "code": 200, "message": "", "data": {}, "errors": [], "meta": {}}, 200),
        ({"status": "success", "code": 302, "message": "", "data": {}, "errors": None, "meta": {}}, 302),
        ({"status": "success", "code": 200, "message": "", "data": {}, "errors": None, "meta": {}}, 201),
        ({"status": "error", "code": 404, "message": "", "data": {}, "errors": [], "meta": {}}, 404),
        ({"status": "error", "code": 404, "message": "", "data": None, "errors": None, "meta": {}}, 404),
        ({"status": "success", "code": 200, "message": "", "data": {}, "errors": None}, 200),
        ({"interview_id": "…", "conversation_history": []}, 200),
    ],
)
def test_the_envelope_rules_refuse_what_the_original_client_cannot_parse(body, status):
    with pytest.raises(AssertionError):
        check_envelope(body, status)


def test_realtime_frames_carry_the_original_names(employee):
    """The socket's frames are built from the same Interview and Message as REST."""
    interview = InterviewFactory(employee=employee)
    (message,) = add_messages(interview, 1)
    assert_message(frames.message(message)["message"])
    assert_interview(frames.status_changed(interview)["interview"], str(interview.id))
