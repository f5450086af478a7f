import uuid

import pytest

from interviews.models import Interview, InterviewMessage
from tests.factories import InterviewFactory, add_messages

pytestmark = pytest.mark.django_db


def url(interview, suffix=""):
    return f"/api/v1/interviews/{interview.id}{suffix}"


def test_retrieve_includes_messages_in_order(client_for, employee, django_assert_max_num_queries):
    interview = InterviewFactory(employee=employee)
    add_messages(interview, 25)
    client = client_for(employee)
    with django_assert_max_num_queries(3):  # user, interview, messages
        response = client.get(url(interview))
    data = response.json()["data"]
    assert response.status_code == 200
    assert data["id"] == str(interview.id)
    assert [m["sequence_number"] for m in data["messages"]] == list(range(1, 26))
    first_id = str(InterviewMessage.objects.get(interview=interview, sequence_number=1).id)
    assert data["messages"][0] == {
        "id": first_id,
        "id_message": first_id,  # the original service's name (docs/api.md)
        "role": "assistant",
        "content": "message 1",
        "sequence_number": 1,
        "created_at": data["messages"][0]["created_at"],
        "evaluation": None,
    }


def test_trailing_slash_is_optional_without_redirect(client_for, employee):
    interview = InterviewFactory(employee=employee)
    client = client_for(employee)
    assert client.get(url(interview)).status_code == 200
    assert client.get(url(interview, "/")).status_code == 200


def test_malformed_id_is_422_and_unknown_is_404(client_for, employee, django_assert_max_num_queries):
    client = client_for(employee)
    response = client.get("/api/v1/interviews/not-a-uuid")
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "interview_id", "error": "Must be a valid UUID.", "type": "invalid_uuid"}
    ]
    missing = client.get(f"/api/v1/interviews/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "interview_not_found"


def test_messages_after_and_limit(client_for, employee, django_assert_max_num_queries):
    interview = InterviewFactory(employee=employee)
    add_messages(interview, 12)
    client = client_for(employee)
    with django_assert_max_num_queries(3):
        response = client.get(url(interview, "/messages"), {"after": 4, "limit": 5})
    assert [m["sequence_number"] for m in response.json()["data"]] == [5, 6, 7, 8, 9]
    assert [m["sequence_number"] for m in client.get(url(interview, "/messages")).json()["data"]] == list(range(1, 13))
    assert client.get(url(interview, "/messages"), {"limit": 501}).status_code == 422
    assert client.get(url(interview, "/messages"), {"after": -1}).status_code == 422


@pytest.mark.parametrize(
    ("start", "target", "expected"),
    [
        ("in_progress", "paused", 200),
        ("paused", "in_progress", 200),
        ("in_progress", "cancelled", 200),
        ("paused", "cancelled", 200),
        ("completed", "in_progress", 409),
        ("cancelled", "paused", 409),
        ("in_progress", "in_progress", 409),
    ],
)
def test_patch_status_transitions_for_owner(client_for, employee, start, target, expected):
    interview = InterviewFactory(employee=employee, status=start)
    response = client_for(employee).patch(url(interview), {"status": target}, format="json")
    assert response.status_code == expected, response.content
    interview.refresh_from_db()
    if expected == 200:
        assert response.json()["data"]["status"] == target
        assert interview.status == target
    else:
        assert response.json()["error_code"] == "invalid_status_transition"
        assert interview.status == start


def test_patch_completed_sets_completed_at(client_for, admin_user, employee):
    interview = InterviewFactory(employee=employee)
    response = client_for(admin_user).patch(url(interview), {"status": "completed"}, format="json")
    assert response.status_code == 200
    assert response.json()["data"]["completed_at"] is not None


def test_patch_rejects_other_fields_and_bad_status(client_for, employee, django_assert_max_num_queries):
    interview = InterviewFactory(employee=employee)
    client = client_for(employee)
    other = client.patch(url(interview), {"status": "paused", "language": "en"}, format="json")
    assert other.status_code == 422
    assert other.json()["errors"][0] == {"field": "language", "error": "Unknown field.", "type": "unknown_field"}
    bad = client.patch(url(interview), {"status": "finished"}, format="json")
    assert bad.status_code == 422
    assert Interview.objects.get(pk=interview.pk).status == "in_progress"


def test_employee_may_not_complete_own(client_for, employee):
    interview = InterviewFactory(employee=employee)
    response = client_for(employee).patch(url(interview), {"status": "completed"}, format="json")
    assert response.status_code == 403
    assert response.json()["error_code"] == "permission_denied"


def test_patch_query_count(client_for, admin_user, employee, django_assert_max_num_queries):
    interview = InterviewFactory(employee=employee)
    add_messages(interview, 50)
    client = client_for(admin_user)
    # user, interview (access check), lock, update (+ savepoint bookkeeping on some backends)
    with django_assert_max_num_queries(6):
        response = client.patch(url(interview), {"status": "paused"}, format="json")
    assert response.status_code == 200
