"""What interviews/services/reviews.py promises that the other tests left unpinned: each test here
kills mutants that survived them (docs/mutation.md, `./dev mutate interviews/services/reviews.py`).

The REST serializer (and the admin form) refuse most bad input before the service sees it; what
still reaches the service through the API is an override without a reason and a reason without
an override, and the boundaries the serializer lets through (0, 100, exactly the maximum length).
The service's own refusals of the rest are checked on the service: a caller that skips the
serializer (a command, a shell) is told them, and the API's handler copies ``message`` and
``errors`` into the envelope as they are.
"""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from interviews.models import Interview, InterviewReview, InterviewStatus, ReviewState
from interviews.services.reviews import NOTES_MAX_CHARS, REASON_MAX_CHARS, interview_review_create
from interviewsvc.errors import ValidationFailed
from tests.factories import InterviewFactory

pytestmark = pytest.mark.django_db
EARLIER = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def done(employee):
    return InterviewFactory(employee=employee, status=InterviewStatus.COMPLETED)


def url(interview_id) -> str:
    return f"/api/v1/interviews/{interview_id}/reviews"


def refusal(field: str, error: str, kind: str) -> tuple[str, list[dict]]:
    """The message and the ``errors`` of a refusal, as the envelope carries them."""
    return f"{field}: {error}", [{"field": field, "error": error, "type": kind}]


def refused(interview, reviewer, **fields) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        interview_review_create(interview_id=interview.id, reviewer=reviewer, **fields)
    assert not InterviewReview.objects.exists()
    interview.refresh_from_db()
    assert interview.review_state == ReviewState.UNREVIEWED
    return caught.value


def assert_envelope(response, message: str, errors: list[dict]) -> None:
    assert response.status_code == 422, response.content
    body = response.json()
    assert (body["status"], body["code"], body["error_code"]) == ("error", 422, "validation_error")
    assert body["message"] == message
    assert body["errors"] == errors
    assert not InterviewReview.objects.exists()


# --- refusals the API's clients see in the service's words ------------------------------------------


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_an_override_without_a_reason_is_422_asking_for_one(client_for, staff, done, reason):
    body = {"decision": "approved", "score_override": 70}
    if reason is not None:
        body["override_reason"] = reason
    response = client_for(staff).post(url(done.id), body, format="json")
    assert_envelope(response, *refusal("override_reason", "Give a reason when you override the score.", "required"))


@pytest.mark.parametrize("score", [None, "absent"])
def test_a_reason_without_an_override_is_422_asking_for_the_score(client_for, staff, done, score):
    body = {"decision": "rejected", "override_reason": "Copied answers"}
    if score != "absent":
        body["score_override"] = score
    response = client_for(staff).post(url(done.id), body, format="json")
    assert_envelope(
        response,
        *refusal("override_reason", "A reason goes with a score override; give the score too.", "unexpected"),
    )


# --- boundaries the API lets through --------------------------------------------------------------


@pytest.mark.parametrize("score", [0, 100])
def test_an_override_of_exactly_0_or_100_is_recorded(client_for, staff, done, score):
    body = {"decision": "approved", "score_override": score, "override_reason": "Re-scored"}
    response = client_for(staff).post(url(done.id), body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["data"]["score_override"] == score
    assert InterviewReview.objects.get().score_override == score


def test_notes_and_reason_of_exactly_the_maximum_are_recorded(client_for, staff, done):
    notes, reason = "n" * NOTES_MAX_CHARS, "r" * REASON_MAX_CHARS
    body = {"decision": "approved", "notes": notes, "score_override": 50, "override_reason": reason}
    response = client_for(staff).post(url(done.id), body, format="json")
    assert response.status_code == 201, response.content
    review = InterviewReview.objects.get()
    assert (review.notes, review.override_reason) == (notes, reason)


def test_a_review_without_notes_stores_empty_notes(client_for, staff, done, employee):
    response = client_for(staff).post(url(done.id), {"decision": "approved"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["data"]["notes"] == ""
    # The service called without notes (a command, a shell) stores none either.
    other = InterviewFactory(employee=employee, status=InterviewStatus.COMPLETED)
    interview_review_create(interview_id=other.id, reviewer=staff, decision="rejected")
    assert sorted(InterviewReview.objects.values_list("notes", "override_reason")) == [("", ""), ("", "")]


# --- a review is not activity of the interview -------------------------------------------------------


def test_reviewing_and_claiming_leave_updated_at_alone(client, client_for, staff, done):
    """docs/api.md: "A review does not touch the interview's updated_at" (the list's order and the
    abandonment rule read it)."""
    Interview.objects.filter(pk=done.pk).update(updated_at=EARLIER)
    detail = f"/api/v1/interviews/{done.id}"

    client.force_login(staff)
    claim = client.post(reverse("admin:interviews_interview_review", args=[done.id]), {"action": "claim"})
    assert claim.status_code == 302
    data = client_for(staff).get(detail).json()["data"]
    assert (data["review_state"], data["updated_at"]) == ("in_review", "2026-05-01T09:30:00Z")

    response = client_for(staff).post(url(done.id), {"decision": "approved"}, format="json")
    assert response.status_code == 201, response.content
    data = client_for(staff).get(detail).json()["data"]
    assert (data["review_state"], data["updated_at"]) == ("reviewed", "2026-05-01T09:30:00Z")
    assert Interview.objects.get(pk=done.pk).updated_at == EARLIER


# --- the service's own refusals (the serializer and the form refuse these first) --------------------


def test_the_service_names_the_decisions_it_takes(staff, done):
    error = refused(done, staff, decision="maybe")
    assert (error.message, error.errors) == refusal(
        "decision", "Must be one of: approved, needs_follow_up, rejected.", "invalid_choice"
    )


def test_the_service_refuses_notes_one_over_the_maximum(staff, done):
    error = refused(done, staff, decision="approved", notes="n" * (NOTES_MAX_CHARS + 1))
    assert (error.message, error.errors) == refusal("notes", "At most 10000 characters.", "max_length")


def test_the_service_refuses_a_reason_one_over_the_maximum(staff, done):
    error = refused(done, staff, decision="approved", score_override=50, override_reason="r" * (REASON_MAX_CHARS + 1))
    assert (error.message, error.errors) == refusal("override_reason", "At most 2000 characters.", "max_length")


@pytest.mark.parametrize("score", ["70", 70.0, True])
def test_the_service_refuses_a_score_that_is_not_a_whole_number(staff, done, score):
    error = refused(done, staff, decision="approved", score_override=score, override_reason="x")
    assert (error.message, error.errors) == refusal(
        "score_override", "Must be a whole number from 0 to 100.", "invalid"
    )


@pytest.mark.parametrize("score", [-1, 101])
def test_the_service_refuses_a_score_just_out_of_range(staff, done, score):
    error = refused(done, staff, decision="approved", score_override=score, override_reason="x")
    assert (error.message, error.errors) == refusal(
        "score_override", "Must be a whole number from 0 to 100.", "out_of_range"
    )
