"""Reviews: the service's rules (states, overrides, append-only) and the REST endpoints.

Runs on SQLite and PostgreSQL (``./dev test`` does both passes); permissions are checked
through the same service on both.
"""

import threading
import uuid

import pytest
from django.db import IntegrityError, connections, transaction

from interviews.exceptions import InterviewAccessDenied
from interviews.models import Interview, InterviewReview, InterviewStatus, ReviewState
from interviews.services.reviews import interview_review_claim, interview_review_create
from interviewsvc.errors import PermissionDenied, ValidationFailed
from tests.factories import ORG_B, InterviewFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def done(employee):
    return InterviewFactory(employee=employee, status=InterviewStatus.COMPLETED)


def url(interview_id) -> str:
    return f"/api/v1/interviews/{interview_id}/reviews"


# --- service -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "state"),
    [("approved", "reviewed"), ("needs_follow_up", "flagged"), ("rejected", "flagged")],
)
def test_a_decision_sets_the_review_state(staff, done, decision, state):
    interview_review_create(interview_id=done.id, reviewer=staff, decision=decision, notes="ok")
    done.refresh_from_db()
    assert done.review_state == state


def test_the_latest_review_decides_and_the_history_stays(staff, admin_user, done):
    first = interview_review_create(interview_id=done.id, reviewer=staff, decision="rejected", notes="thin")
    interview_review_create(
        interview_id=done.id, reviewer=admin_user, decision="approved", score_override=80, override_reason="retaken"
    )
    done.refresh_from_db()
    assert done.review_state == ReviewState.REVIEWED
    rows = list(InterviewReview.objects.filter(interview=done).order_by("created_at", "id"))
    assert [r.decision for r in rows] == ["rejected", "approved"]
    assert rows[0].pk == first.pk
    assert rows[0].notes == "thin"
    assert rows[1].score_override == 80
    assert rows[1].override_reason == "retaken"


def test_claiming_moves_only_an_unreviewed_interview(staff, done):
    assert interview_review_claim(interview_id=done.id, reviewer=staff) == ReviewState.IN_REVIEW
    interview_review_create(interview_id=done.id, reviewer=staff, decision="needs_follow_up")
    # A claim never takes a decided interview back to in_review.
    assert interview_review_claim(interview_id=done.id, reviewer=staff) == ReviewState.FLAGGED
    done.refresh_from_db()
    assert done.review_state == ReviewState.FLAGGED


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"decision": "maybe"}, "decision"),
        ({"decision": "approved", "score_override": 101, "override_reason": "x"}, "score_override"),
        ({"decision": "approved", "score_override": -1, "override_reason": "x"}, "score_override"),
        ({"decision": "approved", "score_override": True, "override_reason": "x"}, "score_override"),
        ({"decision": "approved", "score_override": 50}, "override_reason"),
        ({"decision": "approved", "score_override": 50, "override_reason": "   "}, "override_reason"),
        ({"decision": "approved", "override_reason": "no score"}, "override_reason"),
        ({"decision": "approved", "notes": "x" * 10_001}, "notes"),
    ],
)
def test_bad_reviews_are_refused_and_nothing_is_stored(staff, done, fields, field):
    with pytest.raises(ValidationFailed) as caught:
        interview_review_create(interview_id=done.id, reviewer=staff, **fields)
    assert caught.value.errors[0]["field"] == field
    assert not InterviewReview.objects.exists()
    done.refresh_from_db()
    assert done.review_state == ReviewState.UNREVIEWED


def test_the_database_refuses_an_override_without_a_reason(staff, done):
    with pytest.raises(IntegrityError), transaction.atomic():
        InterviewReview.objects.create(interview=done, reviewer=staff, decision="approved", score_override=40)
    with pytest.raises(IntegrityError), transaction.atomic():
        InterviewReview.objects.create(
            interview=done, reviewer=staff, decision="approved", score_override=140, override_reason="x"
        )


def test_employees_and_other_organizations_cannot_review(employee, foreign_admin, done):
    with pytest.raises(PermissionDenied):
        interview_review_create(interview_id=done.id, reviewer=employee, decision="approved")
    with pytest.raises(InterviewAccessDenied):
        interview_review_create(interview_id=done.id, reviewer=foreign_admin, decision="approved")
    assert not InterviewReview.objects.exists()


def test_staff_without_an_organization_cannot_review_even_their_own_interview():
    lone = UserFactory(role="staff", organization_id=None)
    interview = InterviewFactory(employee=lone, organization_id=None, status=InterviewStatus.COMPLETED)
    with pytest.raises(PermissionDenied):
        interview_review_create(interview_id=interview.id, reviewer=lone, decision="approved")


# --- REST ------------------------------------------------------------------------------------


def test_post_records_a_review(client_for, staff, done):
    body = {"decision": "approved", "notes": "Solid.", "score_override": 75, "override_reason": "Re-scored Q3"}
    response = client_for(staff).post(url(done.id), body, format="json")
    assert response.status_code == 201, response.json()
    payload = response.json()
    assert payload["status"] == "success"
    assert payload["code"] == 201
    data = payload["data"]
    assert data["decision"] == "approved"
    assert data["notes"] == "Solid."
    assert data["score_override"] == 75
    assert data["override_reason"] == "Re-scored Q3"
    assert data["interview_id"] == str(done.id)
    assert data["reviewer_id"] == str(staff.employee_id)
    assert data["reviewer_name"] == staff.username
    assert payload["meta"]["review_state"] == "reviewed"
    detail = client_for(staff).get(f"/api/v1/interviews/{done.id}").json()["data"]
    assert detail["review_state"] == "reviewed"


def test_get_lists_the_history_in_order(client_for, staff, admin_user, done, django_assert_max_num_queries):
    for reviewer, decision in ((staff, "needs_follow_up"), (admin_user, "approved"), (staff, "rejected")):
        interview_review_create(interview_id=done.id, reviewer=reviewer, decision=decision)
    client = client_for(admin_user)
    # auth user, interview, reviews with their reviewers.
    with django_assert_max_num_queries(3):
        response = client.get(url(done.id))
    assert response.status_code == 200
    data = response.json()["data"]
    assert [r["decision"] for r in data] == ["needs_follow_up", "approved", "rejected"]
    assert [r["reviewer_name"] for r in data] == [staff.username, admin_user.username, staff.username]


def test_the_list_query_count_does_not_grow_with_reviews(client_for, staff, done, django_assert_max_num_queries):
    reviewers = [UserFactory(role="staff") for _ in range(6)]
    for reviewer in reviewers:
        interview_review_create(interview_id=done.id, reviewer=reviewer, decision="approved")
    client = client_for(staff)
    with django_assert_max_num_queries(3):
        assert len(client.get(url(done.id)).json()["data"]) == 6


def test_employees_never_see_reviews(client_for, employee, staff, done):
    interview_review_create(interview_id=done.id, reviewer=staff, decision="rejected", notes="private")
    for method in ("get", "post"):
        response = getattr(client_for(employee), method)(url(done.id), {"decision": "approved"}, format="json")
        assert response.status_code == 403
        body = response.json()
        assert body["status"] == "error"
        assert body["error_code"] == "permission_denied"
        assert "private" not in response.content.decode()
    assert InterviewReview.objects.count() == 1


def test_another_organization_gets_403_and_an_unknown_interview_404(client_for, foreign_admin, staff, done):
    response = client_for(foreign_admin).get(url(done.id))
    assert response.status_code == 403
    assert response.json()["error_code"] == "interview_access_denied"
    response = client_for(foreign_admin).post(url(done.id), {"decision": "approved"}, format="json")
    assert response.status_code == 403
    for method in ("get", "post"):
        response = getattr(client_for(staff), method)(url(uuid.uuid4()), {"decision": "approved"}, format="json")
        assert response.status_code == 404
        assert response.json()["error_code"] == "interview_not_found"
    assert client_for(staff).get(url("not-a-uuid")).status_code == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decision": "great"}, "decision"),
        ({}, "decision"),
        ({"decision": "approved", "score_override": 120, "override_reason": "x"}, "score_override"),
        ({"decision": "approved", "score_override": "70", "override_reason": "x"}, "score_override"),
        ({"decision": "approved", "score_override": 70}, "override_reason"),
        ({"decision": "approved", "reviewer": "someone"}, "reviewer"),
    ],
)
def test_bad_input_is_422_with_the_field(client_for, staff, done, body, field):
    response = client_for(staff).post(url(done.id), body, format="json")
    assert response.status_code == 422
    payload = response.json()
    assert payload["error_code"] == "validation_error"
    assert field in [e["field"] for e in payload["errors"]]
    assert not InterviewReview.objects.exists()


def test_reviews_cannot_be_changed_or_deleted_through_the_api(client_for, admin_user, done):
    interview_review_create(interview_id=done.id, reviewer=admin_user, decision="approved")
    client = client_for(admin_user)
    assert client.put(url(done.id), {"decision": "rejected"}, format="json").status_code == 405
    assert client.patch(url(done.id), {"decision": "rejected"}, format="json").status_code == 405
    assert client.delete(url(done.id)).status_code == 405
    assert list(InterviewReview.objects.values_list("decision", flat=True)) == ["approved"]


def test_review_state_filters_the_list(client_for, staff, employee, django_assert_max_num_queries):
    flagged = InterviewFactory(employee=employee, status=InterviewStatus.COMPLETED)
    InterviewFactory(employee=employee, status=InterviewStatus.COMPLETED)
    interview_review_create(interview_id=flagged.id, reviewer=staff, decision="needs_follow_up")
    client = client_for(staff)
    with django_assert_max_num_queries(4):
        response = client.get("/api/v1/interviews", {"review_state": "flagged"})
    assert response.status_code == 200
    data = response.json()["data"]
    assert [i["id"] for i in data] == [str(flagged.id)]
    assert data[0]["review_state"] == "flagged"
    assert response.json()["meta"]["filters"]["review_state"] == "flagged"
    assert len(client.get("/api/v1/interviews", {"review_state": "unreviewed"}).json()["data"]) == 1
    assert client.get("/api/v1/interviews", {"review_state": "lost"}).status_code == 422


def test_a_foreign_organization_interview_keeps_its_state(foreign_admin):
    other = InterviewFactory(employee=UserFactory(organization_id=ORG_B), status=InterviewStatus.COMPLETED)
    interview_review_create(interview_id=other.id, reviewer=foreign_admin, decision="approved")
    assert Interview.objects.get(pk=other.pk).review_state == ReviewState.REVIEWED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_reviewers_are_serialised_and_the_state_follows_the_last_stored():
    interview = InterviewFactory(status=InterviewStatus.COMPLETED)
    reviewers = [UserFactory(role="staff") for _ in range(8)]
    decisions = ["approved", "rejected"] * 4
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(reviewers))

    def review(n: int) -> None:
        try:
            barrier.wait()
            interview_review_create(interview_id=interview.id, reviewer=reviewers[n], decision=decisions[n])
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=review, args=(n,)) for n in range(len(reviewers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    rows = list(InterviewReview.objects.filter(interview=interview).order_by("created_at", "id"))
    assert len(rows) == 8  # every review kept: none overwrote another
    expected = "reviewed" if rows[-1].decision == "approved" else "flagged"
    assert Interview.objects.get(pk=interview.pk).review_state == expected
