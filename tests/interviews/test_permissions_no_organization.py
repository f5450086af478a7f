"""A missing organization is never a wildcard.

External tokens provision users without an organization (``user_provision_from_claims`` with no
``organization_id`` claim), so staff and admins with ``organization_id=None`` exist, next to
employees without one. Such staff see only their own interviews: none of another
organization-less employee's, through any door (detail, messages, list, stats, exports, admin,
socket), and organization staff see none of theirs either.
"""

import io
import uuid
import zipfile

import pytest
from django.urls import reverse

from accounts.models import Role
from accounts.services import user_provision_from_claims
from interviews.models import InterviewExport
from tests.factories import ORG_A, InterviewFactory, UserFactory, add_messages
from tests.interviews.realtime_support import bearer_socket, expect_close, open_socket, sync

pytestmark = pytest.mark.django_db


@pytest.fixture
def loose_employee(db):
    return UserFactory(role=Role.EMPLOYEE, organization_id=None)


@pytest.fixture
def loose_interview(loose_employee):
    interview = InterviewFactory(employee=loose_employee)
    assert interview.organization_id is None
    add_messages(interview, 2)
    return interview


@pytest.fixture(params=[Role.STAFF, Role.ADMIN])
def loose_staff(request, db):
    """Staff or admin as an external token without an ``organization_id`` claim creates them."""
    user = user_provision_from_claims(
        employee_id=uuid.uuid4(), claims={"sub": f"ext-{request.param}", "role": request.param}
    )
    assert (user.role, user.organization_id) == (request.param, None)
    return user


def test_staff_without_organization_cannot_read_or_export_an_employee_without_one(
    client_for, loose_staff, loose_interview
):
    client = client_for(loose_staff)
    base = f"/api/v1/interviews/{loose_interview.id}"
    for response in (
        client.get(base),
        client.get(f"{base}/messages"),
        client.get(f"{base}/export?format=txt"),
        client.post("/api/v1/interviews/export", {"interview_id": str(loose_interview.id)}, format="json"),
        client.post(f"{base}/ws-ticket"),
    ):
        assert response.status_code == 403, response.content
        assert response.json()["error_code"] == "interview_access_denied"
    assert InterviewExport.objects.count() == 0


def test_staff_without_organization_lists_only_their_own(client_for, loose_staff, loose_interview):
    own = InterviewFactory(employee=loose_staff)
    client = client_for(loose_staff)

    listed = client.get("/api/v1/interviews").json()
    assert [row["id"] for row in listed["data"]] == [str(own.id)]
    assert listed["meta"]["scope"] == "own"
    # The employee filter is ignored for an "own" scope, so naming the other one finds nothing more.
    filtered = client.get("/api/v1/interviews", {"employee_id": str(loose_interview.employee.employee_id)}).json()
    assert [row["id"] for row in filtered["data"]] == [str(own.id)]

    stats = client.get("/api/v1/interviews/stats").json()["data"]
    assert (stats["total"], stats["scope"]) == (1, "own")

    response = client.get("/api/v1/interviews/export")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.namelist() == [f"interview-{own.id}.json"]


@pytest.mark.parametrize("role", [Role.STAFF, Role.ADMIN])
def test_staff_without_organization_does_not_find_it_in_the_admin(client, role, loose_interview):
    client.force_login(UserFactory(role=role, organization_id=None))
    html = client.get(reverse("admin:interviews_interview_changelist")).content.decode()
    assert str(loose_interview.id) not in html
    change = client.get(reverse("admin:interviews_interview_change", args=[loose_interview.id]))
    assert change.status_code == 302  # the admin redirects a pk outside the queryset to its index
    assert change["Location"] == reverse("admin:index")


@pytest.mark.parametrize("role", [Role.STAFF, Role.ADMIN])
def test_organization_staff_do_not_see_interviews_without_an_organization(client_for, role, loose_interview):
    client = client_for(UserFactory(role=role, organization_id=ORG_A))
    assert client.get(f"/api/v1/interviews/{loose_interview.id}").json()["error_code"] == "interview_access_denied"
    assert client.get("/api/v1/interviews").json()["data"] == []


def test_staff_with_an_organization_do_not_reach_staff_without_one(client_for, staff, loose_staff):
    # The other way round: an organization-less staff member's own interview is theirs alone.
    theirs = InterviewFactory(employee=loose_staff)
    response = client_for(staff).get(f"/api/v1/interviews/{theirs.id}")
    assert response.status_code == 403
    assert response.json()["error_code"] == "interview_access_denied"


@pytest.mark.django_db(transaction=True)
async def test_staff_without_organization_cannot_watch_the_socket(loose_staff, loose_employee, loose_interview):
    await expect_close(await bearer_socket(loose_staff, loose_interview.id), 4403)
    # The interviewee still gets in: the refusal is about the watcher, not the interview.
    comm, frame = await open_socket(loose_employee, loose_interview.id)
    assert frame["role"] == "participant"
    await comm.disconnect()
    assert await sync(lambda: InterviewExport.objects.count())() == 0
