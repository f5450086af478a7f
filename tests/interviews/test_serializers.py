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
    assert interview_data(closed)["completed_at"] == "2026-01-02T08:04:05.678901Z"
    assert interview_data(closed)["started_at"] == "2026-01-02T03:04:05Z"
    assert interview_data(open_one)["completed_at"] is None


def test_message_data_matches_the_serializer(employee):
    interview = InterviewFactory(employee=employee)
    plain, evaluated = add_messages(interview, 2)
    evaluated.evaluation = {"score": 72, "feedback": "Clear.", "strengths": ["tools"], "weaknesses": []}
    for message in (plain, evaluated):
        assert message_data(message) == dict(MessageOutputSerializer(message).data)
    assert message_data(evaluated)["evaluation"]["score"] == 72
