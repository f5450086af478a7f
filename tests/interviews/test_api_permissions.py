"""Each role against each endpoint, on an interview owned by ``employee`` (organization A)."""

import pytest

from interviews.models import Interview, InterviewMessage
from tests.factories import InterviewFactory, add_messages

pytestmark = pytest.mark.django_db

ANSWER = "I reconcile invoices in SAP every morning, step by step, and email the exceptions."


def call(client, endpoint, interview):
    base = f"/api/v1/interviews/{interview.id}"
    if endpoint == "retrieve":
        return client.get(base)
    if endpoint == "messages":
        return client.get(f"{base}/messages")
    if endpoint == "pause":
        return client.patch(base, {"status": "paused"}, format="json")
    if endpoint == "complete":
        return client.patch(base, {"status": "completed"}, format="json")
    if endpoint == "continue":
        return client.post(
            "/api/v1/interviews/continue", {"interview_id": str(interview.id), "user_response": ANSWER}, format="json"
        )
    raise AssertionError(endpoint)


OK, DENIED, ROLE = 200, "interview_access_denied", "permission_denied"
MATRIX = {
    # caller:          retrieve messages pause  complete continue
    "owner": (OK, OK, OK, ROLE, OK),
    "other_employee": (DENIED, DENIED, DENIED, DENIED, DENIED),
    "staff": (OK, OK, ROLE, ROLE, ROLE),
    "admin_user": (OK, OK, OK, OK, ROLE),
    "foreign_admin": (DENIED, DENIED, DENIED, DENIED, DENIED),
    "superuser": (OK, OK, OK, OK, ROLE),
}
ENDPOINTS = ["retrieve", "messages", "pause", "complete", "continue"]


@pytest.mark.parametrize("caller", list(MATRIX))
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_access_matrix(request, client_for, employee, caller, endpoint):
    interview = InterviewFactory(employee=employee)
    add_messages(interview, 1)
    user = employee if caller == "owner" else request.getfixturevalue(caller)
    expected = MATRIX[caller][ENDPOINTS.index(endpoint)]
    before = (interview.status, InterviewMessage.objects.count())

    response = call(client_for(user), endpoint, interview)
    body = response.json()

    if expected == OK:
        assert response.status_code == 200, body
        assert body["status"] == "success"
    else:
        assert response.status_code == 403, body
        assert body["error_code"] == expected
        assert body["data"] is None
        assert str(interview.id) not in response.content.decode().replace(body["meta"]["request_id"], "")
        # A refused call changes nothing.
        assert (Interview.objects.get(pk=interview.pk).status, InterviewMessage.objects.count()) == before


def test_every_interview_endpoint_requires_authentication(client_for, employee):
    interview = InterviewFactory(employee=employee)
    anonymous = client_for()
    for endpoint in ENDPOINTS:
        response = call(anonymous, endpoint, interview)
        assert response.status_code == 401
        assert response.json()["error_code"] == "not_authenticated"
    for path in ["/api/v1/interviews", "/api/v1/interviews/stats"]:
        assert anonymous.get(path).status_code == 401
    assert anonymous.post("/api/v1/interviews/start", {}, format="json").status_code == 401
