"""The schema tells the truth: schemathesis with every check, positive and negative data, stateful.

What ``schemathesis run --checks all`` does against a server, here against the Django app
(WSGI; streaming answers are plain iterators there, so no daphne is needed): every operation,
generated from the schema served at ``/api/v1/schema/``, with every built-in check
(``call_and_validate`` and the state machine run them all when given none), in the examples,
coverage and fuzzing phases; then a stateful run that follows the schema's OpenAPI links from
``start`` to ``continue``, ``PATCH`` and the exports (docs/api.md, "The schema").
"""

import uuid

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.generation import GenerationMode

from accounts.models import Role
from accounts.serializers import TokenObtainSerializer
from interviews.models import Interview, InterviewPlan
from interviewsvc.openapi import START_LINKS
from tests.factories import UserFactory

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
# A body over MAX_REQUEST_BODY_BYTES (e.g. 2,001 messages to migrate) is refused before it is
# parsed: 413, documented on every operation with a body, is a rejection too.
negative = schema.config.checks.negative_data_rejection
negative.expected_statuses = [*negative.expected_statuses, "413"]

SETTINGS = settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
START = "POST /api/v1/interviews/start/"
CONTINUE = "POST /api/v1/interviews/continue/"
START_LINK_TARGETS = [link["operationId"] for link in START_LINKS.values()]


def with_known_plan(case) -> None:
    """``plan`` names an active interview plan, which admins add at run time: the schema can only
    say "a slug" (an unknown one is the documented 422). Valid data names the seeded plan."""
    body = case.body
    positive = case.meta is None or not case.meta.generation.mode.is_negative
    if positive and case.operation.label == START and isinstance(body, dict) and body.get("plan") is not None:
        body["plan"] = InterviewPlan.objects.get(is_default=True).slug


@pytest.fixture
def admin_headers(db):
    """An admin's token: admins may read, export and change every interview of their organization,
    so generated requests get past the role checks to the validation and the data."""
    # Like Django's test client: the WSGI app must not close the connection that holds the
    # test's transaction at the end of each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    user = UserFactory(role=Role.ADMIN)
    headers = {"Authorization": f"Bearer {TokenObtainSerializer.get_token(user).access_token}"}
    # As `schemathesis run -H`: the checks know these are the real credentials (ignored_auth
    # then probes without them and with a wrong token).
    schema.config.update(headers=headers)
    yield headers
    schema.config.headers = None
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@SETTINGS
def test_every_operation_passes_every_check(case, admin_headers):
    with_known_plan(case)
    case.call_and_validate(headers=admin_headers)


@pytest.mark.django_db
def test_stateful_run_follows_the_links_from_start_to_continue(admin_headers):
    continued: list[uuid.UUID] = []

    # The interview's workflow: every operation a link from start leads to. Runs over the whole
    # schema spend most steps elsewhere and may not reach continue in a modest number of steps.
    workflow = schema.include(operation_id=[*START_LINK_TARGETS, "interviews_start"])

    class Workflow(workflow.as_state_machine()):
        def before_call(self, case):
            with_known_plan(case)

        def after_call(self, response, case):
            super().after_call(response, case)
            if case.operation.label == CONTINUE and response.status_code == 200:
                continued.append(uuid.UUID(case.body["interview_id"]))

    Workflow.run(
        settings=settings(
            max_examples=15,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )
    # The links were followed: an answer to an interview that start created was recorded.
    assert continued
    assert Interview.objects.filter(id__in=continued, message_count__gte=3).exists()


# --- what the run relies on, by name ----------------------------------------------------------


def test_the_schema_declares_what_the_validators_check(client):
    spec = client.get("/api/v1/schema/?format=json").json()
    paths, components = spec["paths"], spec["components"]["schemas"]
    detail = paths["/api/v1/interviews/{interview_id}/"]
    assert [p["schema"] for p in detail["get"]["parameters"]] == [{"type": "string", "format": "uuid"}]
    listing = {p["name"]: p for p in paths["/api/v1/interviews/"]["get"]["parameters"]}
    assert listing["page"]["schema"] == {"type": "integer", "minimum": 1}
    assert listing["page_size"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100}
    assert listing["start_date"]["schema"]["format"] == "date"
    assert listing["status"]["allowEmptyValue"] is True
    continue_body = components["ContinueInputRequest"]
    assert continue_body["additionalProperties"] is False
    assert "\\x00" in continue_body["properties"]["user_response"]["pattern"]
    assert components["MigrateInputRequest"]["properties"]["conversation_history"]["minItems"] == 1
    assert detail["patch"]["requestBody"]["required"] is True
    assert components["PatchInputRequest"]["required"] == ["status"]
    start = paths["/api/v1/interviews/start/"]["post"]["responses"]
    assert start["201"]["links"]["ContinueInterview"]["operationId"] == "interviews_continue"
    assert "unknown_plan" in start["422"]["description"]
    assert {"413", "422"} <= set(start)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"session_id": 7, "conversation_history": [{"role": "user", "content": "Hola"}], "language": "es"},
        {"session_id": "s-1", "conversation_history": [{"role": "user", "content": 0}], "language": "es"},
        {"session_id": "s-1", "conversation_history": [{"role": "user", "content": "a\x00b"}], "language": "es"},
        {"session_id": " ", "conversation_history": [{"role": "user", "content": "Hola"}], "language": "es"},
    ],
)
def test_migrate_refuses_what_its_schema_excludes(client_for, employee, body):
    response = client_for(employee).post("/api/v1/interviews/migrate", body, format="json")
    assert response.status_code == 422
    assert response.json()["error_code"] == "validation_error"
    assert not Interview.objects.exists()
