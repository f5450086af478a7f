"""The hand-written output functions render exactly what the schema's serializers render."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from interviews.models import InterviewStatus
from interviews.serializers import InterviewOutputSerializer, MessageOutputSerializer, interview_data, message_data
from tests.factories import InterviewFactory, add_messages

pytestmark = pytest.mark.django_db


def test_interview_data_matches_the_serializer(employee):
    open_one = InterviewFactory(employee=employee)
    closed = InterviewFactory(
        employee=employee,
        status=InterviewStatus.COMPLETED,
        session_id="legacy-7",
        completed_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=-5))),
    )
    closed.started_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # whole seconds: no fraction
    for interview in (open_one, closed):
        assert interview_data(interview) == dict(InterviewOutputSerializer(interview).data)
        assert list(interview_data(interview)) == list(InterviewOutputSerializer(interview).data)  # key order too
        # The original service's names, next to ours.
        assert interview_data(interview)["id_interview"] == str(interview.id)
        assert interview_data(interview)["total_messages"] == interview.message_count
    assert interview_data(closed)["completed_at"] == "2026-01-02T08:04:05.678901Z"
    assert interview_data(closed)["started_at"] == "2026-01-02T03:04:05Z"
    assert interview_data(open_one)["completed_at"] is None


def test_message_data_matches_the_serializer(employee):
    interview = InterviewFactory(employee=employee)
    plain, evaluated = add_messages(interview, 2)
    evaluated.evaluation = {"score": 72, "feedback": "Clear.", "strengths": ["tools"], "weaknesses": []}
    for message in (plain, evaluated):
        assert message_data(message) == dict(MessageOutputSerializer(message).data)
        assert list(message_data(message)) == list(MessageOutputSerializer(message).data)
        assert message_data(message)["id_message"] == str(message.id)
    assert message_data(evaluated)["evaluation"]["score"] == 72


def test_list_item_data_matches_the_serializer(employee):
    from interviews.serializers import InterviewListItemSerializer, interview_list_item_data

    interview = InterviewFactory(employee=employee)
    # Not searched: exactly an Interview, no snippet key.
    assert interview_list_item_data(interview) == dict(InterviewListItemSerializer(interview).data)
    assert "search_snippet" not in interview_list_item_data(interview)
    # Searched: the snippet comes last.
    interview.search_snippet = "Uso <mark>SAP</mark> a diario"
    rendered = InterviewListItemSerializer(interview).data
    data = interview_list_item_data(interview, interview.search_snippet)
    assert data == dict(rendered)
    assert list(data) == list(rendered)
    assert list(data)[-1] == "search_snippet"
