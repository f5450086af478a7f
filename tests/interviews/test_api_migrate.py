from datetime import UTC, datetime, timedelta

import pytest

from interviews.models import Interview, InterviewMessage

pytestmark = pytest.mark.django_db
URL = "/api/v1/interviews/migrate"
START = datetime(2026, 5, 1, 10, tzinfo=UTC)


def history(n=4):
    return [
        {
            "role": "assistant" if i % 2 == 0 else "user",
            "content": f"turno {i} ¿ñ?",
            "timestamp": (START + timedelta(minutes=i)).isoformat(),
        }
        for i in range(n)
    ]


def test_migrate_imports_in_order(client_for, employee):
    response = client_for(employee).post(
        URL, {"session_id": "s-1", "conversation_history": history(6), "language": "es"}, format="json"
    )
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["message_count"] == 6
    interview = Interview.objects.get(pk=data["interview_id"])
    assert (interview.source, interview.session_id, interview.status) == ("migrated", "s-1", "completed")
    assert interview.started_at.isoformat() == "2026-05-01T10:00:00+00:00"
    assert interview.question_count == 3
    stored = list(InterviewMessage.objects.filter(interview=interview).values_list("sequence_number", "content"))
    assert stored == [(i + 1, f"turno {i} ¿ñ?") for i in range(6)]


def test_migrate_same_session_twice_is_409(client_for, employee):
    client = client_for(employee)
    body = {"session_id": "s-1", "conversation_history": history(), "language": "en"}
    assert client.post(URL, body, format="json").status_code == 201
    again = client.post(URL, body, format="json")
    assert again.status_code == 409
    assert again.json()["error_code"] == "interview_already_exists"
    assert Interview.objects.count() == 1


def test_same_session_id_for_another_employee_is_fine(client_for, employee, other_employee):
    body = {"session_id": "s-1", "conversation_history": history(), "language": "en"}
    assert client_for(employee).post(URL, body, format="json").status_code == 201
    assert client_for(other_employee).post(URL, body, format="json").status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"session_id": "s", "conversation_history": [], "language": "es"}, "conversation_history"),
        (
            {"session_id": "s", "conversation_history": [{"role": "robot", "content": "x"}], "language": "es"},
            "conversation_history[0].role",
        ),
        (
            {"session_id": "s", "conversation_history": [{"role": "user", "content": ""}], "language": "es"},
            "conversation_history[0].content",
        ),
        ({"session_id": "s", "conversation_history": [{"role": "user", "content": "x"}]}, "language"),
    ],
)
def test_migrate_validation(client_for, employee, body, field):
    response = client_for(employee).post(URL, body, format="json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
    assert Interview.objects.count() == 0


def test_migrate_over_message_cap_is_422(client_for, employee, settings):
    body = {"session_id": "s", "conversation_history": history(2001), "language": "es"}
    response = client_for(employee).post(URL, body, format="json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "conversation_history"
    assert Interview.objects.count() == 0
