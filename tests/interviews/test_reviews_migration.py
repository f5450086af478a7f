"""Migration 0007's back-fill of ``Interview.overall_score`` and the services that keep it."""

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection

from interviews.models import Interview, InterviewMessage, InterviewStatus
from interviews.services import interview_overall_score, interview_status_change
from tests.factories import InterviewFactory, add_messages

pytestmark = pytest.mark.django_db
backfill = importlib.import_module("interviews.migrations.0007_interview_reviews").backfill_overall_scores


def evaluate(interview, scores: list) -> None:
    """Evaluations on the interview's answers, in order (None: that answer is not evaluated)."""
    answers = list(InterviewMessage.objects.filter(interview=interview, role="user").order_by("sequence_number"))
    for answer, score in zip(answers, scores, strict=False):
        if score is not None:
            answer.evaluation = {"score": score, "feedback": "", "strengths": [], "weaknesses": []}
            answer.save(update_fields=["evaluation"])


def test_backfill_stores_the_rounded_mean_as_the_services_compute_it(employee, monkeypatch):
    monkeypatch.setattr(importlib.import_module("interviews.migrations.0007_interview_reviews"), "BATCH_SIZE", 2)
    cases = {
        "mean": ([70, 81, 90], 80),
        "half rounds to even": ([50, 51], 50),
        "one": ([33], 33),
        "some unscored": ([None, 60, None], 60),
        "none scored": ([None, None], None),
        "no answers": ([], None),
    }
    interviews = {}
    for name, (scores, _) in cases.items():
        interview = InterviewFactory(employee=employee, status=InterviewStatus.COMPLETED)
        add_messages(interview, 2 * len(scores))
        evaluate(interview, scores)
        interviews[name] = interview
    # An assistant message with an evaluation does not count.
    InterviewMessage.objects.filter(interview=interviews["one"], role="assistant").update(evaluation={"score": 0})
    # A running interview gets its score when it ends, as new ones do.
    running = InterviewFactory(employee=employee, status=InterviewStatus.IN_PROGRESS)
    add_messages(running, 2)
    evaluate(running, [90])

    stored = backfill(apps, SimpleNamespace(connection=connection))

    assert stored == 4
    assert Interview.objects.get(pk=running.pk).overall_score is None
    for name, (_, expected) in cases.items():
        interview = Interview.objects.get(pk=interviews[name].pk)
        assert interview.overall_score == expected, name
        assert interview_overall_score(interview) == expected, name  # the services' rule, same result


def test_completing_stores_the_score(employee):
    interview = InterviewFactory(employee=employee)
    add_messages(interview, 4)
    evaluate(interview, [64, 71])
    assert Interview.objects.get(pk=interview.pk).overall_score is None
    interview_status_change(interview_id=interview.id, status=InterviewStatus.COMPLETED)
    assert Interview.objects.get(pk=interview.pk).overall_score == 68


def test_the_score_is_stored_when_the_interview_ends_not_on_every_turn(client_for, employee):
    # A turn reads only the recent history; the mean of every answer is read once, at the end.
    client = client_for(employee)
    interview_id = client.post("/api/v1/interviews/start", {}, format="json").json()["data"]["interview_id"]
    scores = []
    for answer in ("I prepare payroll: I export hours from Kronos, check them in Excel and upload to SAP.", "No."):
        response = client.post(
            "/api/v1/interviews/continue", {"interview_id": interview_id, "user_response": answer}, format="json"
        )
        assert response.status_code == 200, response.content
        data = response.json()["data"]
        scores.append(data["user_message"]["evaluation"]["score"])
        assert data["interview"]["overall_score"] is None  # still running
    assert Interview.objects.get(pk=interview_id).overall_score is None
    # Employees may cancel their own interview (completing is the interviewer's or staff's).
    response = client.patch(f"/api/v1/interviews/{interview_id}", {"status": "cancelled"}, format="json")
    assert response.status_code == 200, response.content
    expected = round(sum(scores) / len(scores))
    assert response.json()["data"]["overall_score"] == expected
    assert Interview.objects.get(pk=interview_id).overall_score == expected
