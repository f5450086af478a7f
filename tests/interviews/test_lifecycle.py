"""Soft delete and restore (docs/operations.md, "Data lifecycle"): ``DELETE /api/v1/interviews/{id}``,
the admin's delete and "Deleted interviews", and that a deleted interview is 404 on every surface,
exactly as one that never existed."""

import uuid

import pytest
from django.urls import reverse

from interviews.models import DeletedInterview, Interview, InterviewReview
from interviews.services import lifecycle
from tests.factories import ORG_B, InterviewFactory, UserFactory, add_messages
from tests.interviews.test_exports_bulk import read_zip

pytestmark = pytest.mark.django_db


@pytest.fixture
def live(employee):
    interview = InterviewFactory(employee=employee, status="completed", language="en")
    add_messages(interview, 4)
    return interview


@pytest.fixture
def deleted(employee, admin_user):
    interview = InterviewFactory(employee=employee, status="in_progress", language="en")
    add_messages(interview, 4)  # "message 1" … "message 4": what the search below looks for
    lifecycle.interview_soft_delete(interview_id=interview.id, actor=admin_user)
    return interview


def outcome(response) -> tuple[int, str | None]:
    """The status and error code a client sees."""
    body = response.json() if response.get("Content-Type", "").startswith("application/json") else {}
    return response.status_code, body.get("error_code") or body.get("code") or (body.get("error") or {}).get("code")


SURFACES = {
    "detail": lambda c, i: c.get(f"/api/v1/interviews/{i}"),
    "patch": lambda c, i: c.patch(f"/api/v1/interviews/{i}", {"status": "paused"}, format="json"),
    "delete": lambda c, i: c.delete(f"/api/v1/interviews/{i}"),
    "messages": lambda c, i: c.get(f"/api/v1/interviews/{i}/messages"),
    "continue": lambda c, i: c.post(
        "/api/v1/interviews/continue", {"interview_id": str(i), "user_response": "An answer."}, format="json"
    ),
    "continue_sse": lambda c, i: c.post(
        "/api/v1/interviews/continue",
        {"interview_id": str(i), "user_response": "An answer."},
        format="json",
        HTTP_ACCEPT="text/event-stream",
    ),
    "ws_ticket": lambda c, i: c.post(f"/api/v1/interviews/{i}/ws-ticket"),
    "reviews": lambda c, i: c.get(f"/api/v1/interviews/{i}/reviews"),
    "review_add": lambda c, i: c.post(f"/api/v1/interviews/{i}/reviews", {"decision": "approved"}, format="json"),
    "export": lambda c, i: c.get(f"/api/v1/interviews/{i}/export?format=json"),
    "export_post": lambda c, i: c.post("/api/v1/interviews/export", {"interview_id": str(i)}, format="json"),
}


@pytest.mark.parametrize("surface", SURFACES)
def test_a_deleted_interview_is_404_everywhere_like_one_that_never_existed(
    client_for, employee, admin_user, deleted, surface
):
    for user in (employee, admin_user):
        call = SURFACES[surface]
        never = outcome(call(client_for(user), uuid.uuid4()))
        assert never[0] == 404
        assert outcome(call(client_for(user), deleted.id)) == never, (surface, user.role)


def test_lists_stats_search_and_bulk_export_leave_it_out(client_for, staff, employee, live, deleted):
    for user in (employee, staff):
        client = client_for(user)
        listed = client.get("/api/v1/interviews").json()
        assert [row["id"] for row in listed["data"]] == [str(live.id)]
        assert listed["meta"]["pagination"]["total_items"] == 1
        searched = client.get("/api/v1/interviews", {"search": "message"}).json()["data"]
        assert [row["id"] for row in searched] == [str(live.id)]
        stats = client.get("/api/v1/interviews/stats").json()["data"]
        assert stats["total"] == 1
        assert stats["by_status"]["in_progress"] == 0  # the deleted one was in progress
    archive = read_zip(client_for(staff).get("/api/v1/interviews/export"))
    assert len(archive.namelist()) == 1
    assert str(live.id) in archive.namelist()[0]
    assert str(live.id) in "".join(archive.namelist())
    by_employee = read_zip(client_for(staff).get("/api/v1/interviews/export", {"employee_id": employee.employee_id}))
    assert len(by_employee.namelist()) == 1
    # Related managers are the default manager too.
    assert list(employee.interviews.values_list("id", flat=True)) == [live.id]


def test_admin_lists_dashboard_and_pages_leave_it_out(client, admin_user, live, deleted):
    client.force_login(admin_user)
    changelist = client.get(reverse("admin:interviews_interview_changelist")).content.decode()
    assert str(live.id) in changelist
    assert str(deleted.id) not in changelist
    for missing in (uuid.uuid4(), deleted.id):
        change = client.get(reverse("admin:interviews_interview_change", args=[missing]))
        assert change.status_code == 302  # Django admin: "doesn't exist. Perhaps it was deleted?"
    dashboard = client.get("/admin/dashboard/")
    assert dashboard.status_code == 200
    assert 'id="total-interviews">1<' in dashboard.content.decode()
    for page in ("/interviews/{}/", "/interviews/{}/watch/"):
        assert client.get(page.format(deleted.id)).status_code == 404


# --- DELETE /api/v1/interviews/{id} ------------------------------------------------------------


def test_an_admin_of_the_organization_deletes_with_204_and_it_is_restorable(
    client_for, admin_user, live, django_assert_max_num_queries
):
    client = client_for(admin_user)
    # The user; in one transaction (a savepoint in the test's): the locked read and the update.
    with django_assert_max_num_queries(5):
        response = client.delete(f"/api/v1/interviews/{live.id}")
    assert response.status_code == 204
    assert response.content == b""
    row = Interview.all_objects.get(pk=live.id)
    assert row.deleted_at is not None
    assert row.deleted_by == admin_user
    assert not Interview.objects.filter(pk=live.id).exists()
    assert row.messages.count() == 4  # nothing removed yet
    # Twice: the second is a 404, as for any interview that does not exist.
    assert client_for(admin_user).delete(f"/api/v1/interviews/{live.id}").status_code == 404

    lifecycle.interview_restore(interview_id=live.id)
    detail = client_for(admin_user).get(f"/api/v1/interviews/{live.id}")
    assert detail.status_code == 200
    assert len(detail.json()["data"]["messages"]) == 4


def test_superuser_deletes_across_organizations(client_for, superuser, live):
    assert client_for(superuser).delete(f"/api/v1/interviews/{live.id}").status_code == 204


@pytest.mark.parametrize("who", ["employee", "staff"])
def test_employees_even_their_own_and_staff_get_403(client_for, employee, staff, live, who):
    user = {"employee": employee, "staff": staff}[who]
    response = client_for(user).delete(f"/api/v1/interviews/{live.id}")
    assert response.status_code == 403
    assert response.json()["error_code"] == "permission_denied"
    assert Interview.objects.filter(pk=live.id).exists()


def test_an_admin_of_another_organization_gets_403_access_denied(client_for, foreign_admin, live):
    response = client_for(foreign_admin).delete(f"/api/v1/interviews/{live.id}")
    assert response.status_code == 403
    assert response.json()["error_code"] == "interview_access_denied"
    assert Interview.objects.filter(pk=live.id).exists()


def test_delete_needs_a_token_and_a_valid_id(client_for, admin_user):
    assert client_for().delete(f"/api/v1/interviews/{uuid.uuid4()}").status_code == 401
    bad = client_for(admin_user).delete("/api/v1/interviews/not-a-uuid")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "interview_id"


def test_a_deleted_session_cannot_be_imported_again(client_for, employee, admin_user):
    body = {"session_id": "s-1", "conversation_history": [{"role": "user", "content": "hola"}], "language": "es"}
    first = client_for(employee).post("/api/v1/interviews/migrate", body, format="json")
    assert first.status_code == 201, first.content
    lifecycle.interview_soft_delete(interview_id=first.json()["data"]["interview_id"], actor=admin_user)
    again = client_for(employee).post("/api/v1/interviews/migrate", body, format="json")
    assert again.status_code == 409
    assert again.json()["error_code"] == "interview_already_exists"


# --- admin: delete, deleted interviews, restore ----------------------------------------------------


def test_admin_delete_is_a_soft_delete_and_deleted_interviews_restores(client, admin_user, staff, live):
    client.force_login(staff)
    url = reverse("admin:interviews_interview_delete", args=[live.id])
    assert client.post(url, {"post": "yes"}).status_code == 403
    client.force_login(admin_user)
    confirm = client.get(url).content.decode()
    assert "message 1" not in confirm  # no cascade of messages listed: nothing cascades
    assert client.post(url, {"post": "yes"}).status_code == 302
    row = Interview.all_objects.get(pk=live.id)
    assert row.deleted_by == admin_user
    assert row.messages.count() == 4

    deleted_list = client.get(reverse("admin:interviews_deletedinterview_changelist")).content.decode()
    assert str(live.id) in deleted_list
    page = client.get(reverse("admin:interviews_deletedinterview_change", args=[live.id]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()  # read-only: restoring is the one change
    restore = client.post(
        reverse("admin:interviews_deletedinterview_changelist"),
        {"action": "restore_interviews", "_selected_action": [str(live.id)]},
    )
    assert restore.status_code == 302
    assert Interview.objects.get(pk=live.id).deleted_at is None
    assert not DeletedInterview.objects.filter(pk=live.id).exists()


def test_deleted_interviews_are_scoped_and_for_admins_only(client, staff, foreign_admin, deleted):
    client.force_login(foreign_admin)
    page = client.get(reverse("admin:interviews_deletedinterview_changelist"))
    assert page.status_code == 200
    assert str(deleted.id) not in page.content.decode()
    restore = client.post(
        reverse("admin:interviews_deletedinterview_changelist"),
        {"action": "restore_interviews", "_selected_action": [str(deleted.id)]},
    )
    assert restore.status_code in (200, 302)
    assert Interview.all_objects.get(pk=deleted.id).deleted_at is not None
    client.force_login(staff)
    assert client.get(reverse("admin:interviews_deletedinterview_changelist")).status_code == 403


def test_admin_bulk_delete_action_checks_each_interview(client, admin_user, employee):
    mine = InterviewFactory(employee=employee)
    foreign = InterviewFactory(employee=UserFactory(organization_id=ORG_B))
    client.force_login(admin_user)
    client.post(
        reverse("admin:interviews_interview_changelist"),
        {"action": "delete_selected", "_selected_action": [str(mine.id), str(foreign.id)], "post": "yes"},
    )
    assert Interview.all_objects.get(pk=mine.id).deleted_at is not None
    assert Interview.all_objects.get(pk=foreign.id).deleted_at is None  # out of scope: not even listed


def test_reviews_of_a_deleted_interview_stay_until_the_purge(staff, admin_user, live):
    InterviewReview.objects.create(interview=live, reviewer=staff, decision="approved")
    lifecycle.interview_soft_delete(interview_id=live.id, actor=admin_user)
    assert InterviewReview.objects.filter(interview_id=live.id).count() == 1
