"""What interviews/permissions.py promises that the endpoint tests left unpinned: each test here
kills a mutant that survived them (docs/mutation.md, `./dev mutate interviews/permissions.py`)."""

import pytest
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from accounts.models import Role
from interviews.exceptions import InterviewAccessDenied
from interviews.models import Interview
from interviews.permissions import Action, InterviewAccessPermission, can_delete, is_admin_reviewer
from interviewsvc.errors import PermissionDenied
from tests.factories import ORG_A, ORG_B, InterviewFactory, UserFactory

pytestmark = pytest.mark.django_db

OWNER_MAY_NOT_COMPLETE = "You may pause, resume or cancel your interview, not complete it."
ROLE_MAY_NOT_CHANGE = "Your role may read this interview but not change its status."
ONLY_INTERVIEWEE = "Only the interviewee may answer; you may observe this interview."


class StatusView:
    """A view that names its action per request, as ``interview_action`` may (a callable)."""

    def __init__(self):
        self.seen = []

    def interview_action(self, request):
        self.seen.append(request)
        return Action.CHANGE_STATUS


def patch(user, data) -> Request:
    """A PATCH as the permission sees it inside a view: DRF's Request, the JSON body parsed."""
    request = Request(APIRequestFactory().patch("/", data, format="json"), parsers=[JSONParser()])
    request.user = user
    return request


def test_a_view_naming_change_status_passes_the_requested_status_to_the_check(employee):
    interview = InterviewFactory(employee=employee)
    permission, view = InterviewAccessPermission(), StatusView()

    assert permission.has_object_permission(patch(employee, {"status": "paused"}), view, interview) is True
    assert len(view.seen) == 1
    assert isinstance(view.seen[0], Request)  # the view decides from the request itself
    with pytest.raises(PermissionDenied, match="not complete it"):
        permission.has_object_permission(patch(employee, {"status": "completed"}), view, interview)


def test_a_view_naming_change_status_denies_another_employee_without_revealing_the_interview(employee, other_employee):
    interview = InterviewFactory(employee=employee)
    with pytest.raises(InterviewAccessDenied):
        InterviewAccessPermission().has_object_permission(
            patch(other_employee, {"status": "paused"}), StatusView(), interview
        )


def test_staff_list_includes_their_own_interview_filed_under_another_organization(client_for, staff):
    # can_view lets an owner see their interview wherever it is filed; the list agrees.
    own = InterviewFactory(employee=staff, organization_id=ORG_B)
    foreign = InterviewFactory(organization_id=ORG_B)

    ids = {row["id"] for row in client_for(staff).get("/api/v1/interviews").json()["data"]}

    assert str(own.id) in ids
    assert str(foreign.id) not in ids


def test_bulk_export_tells_an_employee_who_may_use_it(client_for, employee):
    response = client_for(employee).get("/api/v1/interviews/export")
    assert response.status_code == 403
    assert response.json()["error_code"] == "permission_denied"
    assert response.json()["message"] == "Only staff and admins may do this."


def test_a_change_status_body_that_is_not_an_object_is_no_status_at_all(employee):
    # A JSON list has no "status": the owner's request goes on to the serializer, not to a 500.
    interview = InterviewFactory(employee=employee)
    assert InterviewAccessPermission().has_object_permission(patch(employee, ["completed"]), StatusView(), interview)


@pytest.mark.parametrize(
    ("caller", "method", "path", "body", "message"),
    [
        ("employee", "patch", "", {"status": "completed"}, OWNER_MAY_NOT_COMPLETE),
        ("staff", "patch", "", {"status": "paused"}, ROLE_MAY_NOT_CHANGE),
        ("staff", "post", "continue", {"user_response": "An answer long enough to count."}, ONLY_INTERVIEWEE),
    ],
)
def test_each_refusal_says_why(request, client_for, employee, caller, method, path, body, message):
    interview = InterviewFactory(employee=employee)
    client = client_for(request.getfixturevalue(caller))
    if path:
        response = client.post(f"/api/v1/interviews/{path}", {"interview_id": str(interview.id), **body}, format="json")
    else:
        response = getattr(client, method)(f"/api/v1/interviews/{interview.id}", body, format="json")

    assert response.status_code == 403, response.json()
    assert (response.json()["error_code"], response.json()["message"]) == ("permission_denied", message)


# --- the role rules added since the first run (reviews, soft delete, Django admin) ---------------


def test_reviewing_and_deleting_refusals_say_who_may(client_for, employee, staff):
    interview = InterviewFactory(employee=employee)

    review = client_for(employee).post(
        f"/api/v1/interviews/{interview.id}/reviews", {"decision": "approved"}, format="json"
    )
    delete = client_for(staff).delete(f"/api/v1/interviews/{interview.id}")

    assert (review.status_code, review.json()["error_code"], review.json()["message"]) == (
        403,
        "permission_denied",
        "Only staff and admins of the interview's organization review it.",
    )
    assert (delete.status_code, delete.json()["error_code"], delete.json()["message"]) == (
        403,
        "permission_denied",
        "Only admins of the interview's organization delete it.",
    )


def test_an_admin_may_not_delete_their_own_interview_filed_under_another_organization(client_for, admin_user):
    """They see it (their own), but deleting is for the admins of the organization it is filed
    under: having an organization is not having that one."""
    own_elsewhere = InterviewFactory(employee=admin_user, organization_id=ORG_B)

    assert can_delete(admin_user, own_elsewhere) is False
    response = client_for(admin_user).delete(f"/api/v1/interviews/{own_elsewhere.id}")

    assert response.status_code == 403, response.content
    assert response.json()["message"] == "Only admins of the interview's organization delete it."
    assert Interview.objects.filter(pk=own_elsewhere.id).exists()


def test_a_staff_flagged_account_without_a_reviewing_role_gets_no_interview_admin(client):
    """``is_staff`` is only Django's gate to the admin site; an employee given it by mistake
    still may not open interviews (an inactive reviewer is refused by Django's gate first)."""
    employee_with_admin_flag = UserFactory(role=Role.EMPLOYEE, organization_id=ORG_A, is_staff=True)
    reviewer_without_flag = UserFactory(role=Role.STAFF, organization_id=ORG_A, is_staff=False)

    assert is_admin_reviewer(employee_with_admin_flag) is False
    assert is_admin_reviewer(reviewer_without_flag) is False
    client.force_login(employee_with_admin_flag)
    assert client.get("/admin/interviews/interview/").status_code == 403
