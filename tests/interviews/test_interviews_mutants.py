"""What interviews/services/interviews.py promises that the other tests left unpinned: each test
here kills mutants that survived them (docs/mutation.md, `./dev mutate interviews/services/interviews.py`)."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import IntegrityError
from django.utils import timezone

from interviews.events import group_name
from interviews.models import Interview, InterviewMessage, MessageRole
from interviews.services import interview_migrate, interview_status_change
from interviewsvc.errors import ValidationFailed
from tests.factories import InterviewFactory, UserFactory

MIGRATE = "/api/v1/interviews/migrate"
START = datetime(2026, 5, 1, 10, tzinfo=UTC)


def _body(session_id="s-1", **overrides) -> dict:
    history = [{"role": "user", "content": "Hola"}, {"role": "assistant", "content": "¿Qué haces?"}]
    return {"session_id": session_id, "conversation_history": history, "language": "es", **overrides}


# --- interview_migrate -------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_import_keeps_its_language_level_timestamps_and_questions(client_for, employee):
    history = [
        {"role": "assistant", "content": "What do you do?", "timestamp": START.isoformat()},
        {"role": "user", "content": "Purchasing.", "timestamp": (START + timedelta(minutes=1)).isoformat()},
        {"role": "assistant", "content": "Which tool?", "timestamp": (START + timedelta(minutes=2)).isoformat()},
    ]
    client = client_for(employee)
    body = {"session_id": "s-1", "conversation_history": history, "language": "en", "technical_level": "advanced"}
    response = client.post(MIGRATE, body, format="json")
    assert response.status_code == 201, response.content

    detail = client.get(f"/api/v1/interviews/{response.json()['data']['interview_id']}").json()["data"]
    assert (detail["language"], detail["technical_level"]) == ("en", "advanced")
    # Two of the three turns are the interviewer's questions (not the one answer).
    assert detail["question_count"] == 2
    stamps = [datetime.fromisoformat(m["created_at"]) for m in detail["messages"]]
    assert stamps == [START, START + timedelta(minutes=1), START + timedelta(minutes=2)]


@pytest.mark.django_db
def test_one_employee_imports_several_sessions(client_for, employee):
    client = client_for(employee)
    assert client.post(MIGRATE, _body("s-1"), format="json").status_code == 201
    second = client.post(MIGRATE, _body("s-2"), format="json")
    assert second.status_code == 201, second.content
    assert sorted(Interview.objects.filter(employee=employee).values_list("session_id", flat=True)) == ["s-1", "s-2"]


@pytest.mark.django_db
def test_a_second_import_names_the_session(client_for, employee):
    client = client_for(employee)
    assert client.post(MIGRATE, _body("s-1"), format="json").status_code == 201
    again = client.post(MIGRATE, _body("s-1"), format="json")
    assert again.status_code == 409
    assert again.json()["message"] == 'Session "s-1" was already imported.'


@pytest.mark.django_db
def test_an_import_that_loses_the_race_to_a_concurrent_one_is_409(client_for, employee, monkeypatch):
    """The concurrent import commits between this one's check and its insert (on SQLite the
    race is staged: the competitor is inserted while the messages are built)."""
    from interviews.services import interviews as module

    build = module.messages_build

    def competitor_commits_first(interview, drafts):
        InterviewFactory(employee=employee, session_id="s-1", status="completed", source="migrated")
        return build(interview, drafts)

    monkeypatch.setattr(module, "messages_build", competitor_commits_first)
    response = client_for(employee).post(MIGRATE, _body("s-1"), format="json")
    assert response.status_code == 409, response.content
    envelope = response.json()
    assert (envelope["error_code"], envelope["message"]) == (
        "interview_already_exists",
        'Session "s-1" was already imported.',
    )
    assert Interview.objects.filter(employee=employee).count() == 1
    assert not InterviewMessage.objects.exists()


@pytest.mark.django_db
def test_an_integrity_error_that_is_not_this_sessions_duplicate_is_not_called_one(employee, monkeypatch):
    """The employee imported another session and someone else imported this one: neither makes a
    failed insert of this session a duplicate (a 409 would tell the browser to stop retrying)."""
    InterviewFactory(employee=employee, session_id="s-other", status="completed", source="migrated")
    InterviewFactory(employee=UserFactory(), session_id="s-1", status="completed", source="migrated")

    def fail(*args, **kwargs):
        raise IntegrityError("a constraint that is not the session's")

    monkeypatch.setattr(InterviewMessage.objects, "bulk_create", fail)
    with pytest.raises(IntegrityError):
        interview_migrate(
            user=employee, session_id="s-1", history=[{"role": "user", "content": "x"}], language="es",
            technical_level="basic",
        )  # fmt: skip
    assert not Interview.objects.filter(employee=employee, session_id="s-1").exists()


@pytest.mark.django_db
def test_the_service_refuses_an_unfinished_import_in_the_apis_words(client_for, employee):
    """A caller that skips the view's serializer (a command, the admin) is told the same."""
    api = client_for(employee).post(MIGRATE, _body(status="paused"), format="json")
    assert api.status_code == 422
    with pytest.raises(ValidationFailed) as refused:
        interview_migrate(
            user=employee, session_id="s-1", history=[{"role": "user", "content": "x"}], language="es",
            technical_level="basic", status="paused",
        )  # fmt: skip
    assert refused.value.message == api.json()["message"]
    # The same field and type; the detail is shorter than the serializer's (which repeats the message).
    assert [(e["field"], e["type"]) for e in api.json()["errors"]] == [("status", "invalid_choice")]
    detail = {"field": "status", "error": "Must be completed or cancelled.", "type": "invalid_choice"}
    assert refused.value.errors == [detail]
    assert Interview.objects.count() == 0


# --- interview_status_change ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_refused_transition_says_from_what_to_what(client_for, employee):
    interview = InterviewFactory(employee=employee, status="completed")
    response = client_for(employee).patch(f"/api/v1/interviews/{interview.id}", {"status": "paused"}, format="json")
    assert response.status_code == 409
    assert response.json()["message"] == "An interview cannot go from completed to paused."


@pytest.mark.django_db
def test_ending_an_interview_drops_its_pending_turn(client_for, employee):
    interview = InterviewFactory(employee=employee, pending_turn={"turn_id": "t-1", "answer_id": None, "since": "x"})
    response = client_for(employee).patch(f"/api/v1/interviews/{interview.id}", {"status": "cancelled"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["data"]["pending_turn"] is None
    interview.refresh_from_db()
    assert (interview.status, interview.pending_turn) == ("cancelled", None)


def _scored_interview() -> Interview:
    """Answers scored 2 and 5 (overall 4: 3.5 rounded to even); what must not count: the
    interviewer's own scored turn, an answer without evaluation or with a score that is not a
    number, and another interview's answer."""
    interview = InterviewFactory()
    rows = [
        (MessageRole.ASSISTANT, {"score": 1}),
        (MessageRole.USER, {"score": 2}),
        (MessageRole.USER, None),
        (MessageRole.USER, {"score": "n/a"}),
        (MessageRole.USER, {"score": 5}),
    ]
    for n, (role, evaluation) in enumerate(rows, start=1):
        InterviewMessage.objects.create(
            interview=interview, role=role, content=f"m{n}", sequence_number=n, evaluation=evaluation,
            created_at=timezone.now(),
        )  # fmt: skip
    Interview.objects.filter(pk=interview.pk).update(message_count=len(rows), question_count=1)
    other = InterviewFactory(employee=interview.employee)
    InterviewMessage.objects.create(
        interview=other, role=MessageRole.USER, content="x", sequence_number=1, evaluation={"score": 1},
        created_at=timezone.now(),
    )  # fmt: skip
    return interview


@pytest.mark.django_db(transaction=True)
async def test_pausing_and_completing_announce_status_and_the_overall_score():
    interview = await database_sync_to_async(_scored_interview)()
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group_name(interview.id), channel)
    change = database_sync_to_async(interview_status_change)
    try:
        await change(interview_id=interview.id, status="paused")
        paused = await asyncio.wait_for(layer.receive(channel), timeout=10)
        await change(interview_id=interview.id, status="completed")  # as the engine does
        completed = await asyncio.wait_for(layer.receive(channel), timeout=10)
    finally:
        await layer.group_discard(group_name(interview.id), channel)

    assert [(f["type"], f["status"]) for f in paused["frames"]] == [("status_changed", "paused")]
    status, complete = completed["frames"]
    assert (status["type"], status["status"]) == ("status_changed", "completed")
    assert complete == {
        "type": "interview_complete",
        "interview_id": str(interview.id),
        "overall_score": 4,
        "total_questions": 1,
        "status": "completed",
        "report_url": f"/api/v1/interviews/{interview.id}/report",
    }
