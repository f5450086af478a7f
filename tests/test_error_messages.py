"""Error messages are sentences for people, on every error path: never a Python repr.

Issue 20, finding 4: ``Authorization: Bearer `` (empty, what a shell sends when the variable is
unset) answered ``"message": "{'detail': ErrorDetail(string='Authorization header must …'``,
the ``str()`` of simplejwt's detail dict. Each case below is one way to get an error; the
``message`` and every ``errors[].error`` must read as a sentence.
"""

import json
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.serializers import TokenObtainSerializer
from interviews.models import InterviewStatus
from tests.factories import InterviewFactory, UserFactory

pytestmark = pytest.mark.django_db

REPRS = ("ErrorDetail", "{'", "['", "[{", "Traceback", "<class", "object at 0x", "None.", "\\n")


def assert_sentence(text, where: str) -> None:
    assert isinstance(text, str), where
    assert text.strip(), where
    for marker in REPRS:
        assert marker not in text, f"{where}: {text!r}"
    # Ends on a word or a full stop (the contract's messages mostly have none), not ": " or a quote.
    assert text[-1].isalnum() or text[-1] in ".!?)", f"{where}: {text!r} does not end like a sentence"


def assert_human_error(response, where: str) -> dict:
    assert 400 <= response.status_code < 600, (where, response.status_code)
    assert response.status_code != 500, (where, response.content[:500])
    body = response.json()
    assert body["status"] == "error", where
    assert_sentence(body["message"], f"{where} message")
    for item in body["errors"]:
        assert_sentence(item["error"], f"{where} errors[{item.get('field')}]")
    return body


def _access(user, **claims) -> str:
    token = TokenObtainSerializer.get_token(user).access_token
    for key, value in claims.items():
        token[key] = value
    return str(token)


def _expired(user) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(minutes=1))
    return str(token)


@pytest.fixture
def world(client_for, employee, other_employee, staff):
    ongoing = InterviewFactory(employee=employee)
    done = InterviewFactory(employee=employee, status=InterviewStatus.COMPLETED)
    inactive = UserFactory(is_active=False)
    deleted = UserFactory()
    deleted_token = _access(deleted)
    deleted.delete()
    return {
        "api": client_for(employee),
        "staff": client_for(staff),
        "anon": client_for(),
        "employee": employee,
        "ongoing": ongoing,
        "done": done,
        "foreign": InterviewFactory(employee=other_employee),
        "inactive_token": _access(inactive),
        "deleted_token": deleted_token,
        "expired_token": _expired(employee),
        "refresh": str(RefreshToken.for_user(employee)),
    }


def _auth(header: str):
    return lambda w: w["anon"].get("/api/v1/interviews", HTTP_AUTHORIZATION=header)


def _bearer(key: str):
    return lambda w: w["anon"].get("/api/v1/interviews", HTTP_AUTHORIZATION=f"Bearer {w[key]}")


def _post(path: str, body, client: str = "api", **kwargs):
    def call(w):
        if isinstance(body, str | bytes):
            return w[client].post(
                path, data=body, content_type=kwargs.pop("content_type", "application/json"), **kwargs
            )
        return w[client].post(path, body, format="json", **kwargs)

    return call


CASES = {
    # Authentication (finding 4 and its siblings from simplejwt's detail dicts).
    "bearer_empty": _auth("Bearer "),
    "bearer_three_parts": _auth("Bearer a b"),
    "bearer_garbage": _auth("Bearer not.a.token"),
    "wrong_scheme": _auth("Basic dXNlcjpwYXNz"),
    "no_credentials": lambda w: w["anon"].get("/api/v1/interviews"),
    "expired_token": _bearer("expired_token"),
    "inactive_user": _bearer("inactive_token"),
    "deleted_user": _bearer("deleted_token"),
    "token_wrong_password": _post("/api/v1/auth/token", {"username": "nobody", "password": "x"}, "anon"),
    "token_empty": _post("/api/v1/auth/token", {}, "anon"),
    "refresh_garbage": _post("/api/v1/auth/token/refresh", {"refresh": "garbage"}, "anon"),
    "refresh_with_access": lambda w: w["anon"].post(
        "/api/v1/auth/token/refresh", {"refresh": _access(w["employee"])}, format="json"
    ),
    "verify_garbage": _post("/api/v1/auth/token/verify", {"token": "garbage"}, "anon"),
    "logout_garbage": _post("/api/v1/auth/logout", {"refresh": "garbage"}),
    # Routing and HTTP.
    "unknown_url": lambda w: w["api"].get("/api/v1/nothing/here"),
    "unknown_interview": lambda w: w["api"].get(f"/api/v1/interviews/{uuid.uuid4()}"),
    "not_a_uuid": lambda w: w["api"].get("/api/v1/interviews/not-a-uuid"),
    "method_not_allowed": lambda w: w["api"].get("/api/v1/interviews/start"),
    "unsupported_media_type": _post("/api/v1/interviews/start", "language=es", content_type="text/plain"),
    "not_acceptable": lambda w: w["api"].get("/api/v1/interviews", HTTP_ACCEPT="application/xml"),
    "malformed_json": _post("/api/v1/interviews/start", "{not json"),
    "deep_json": _post("/api/v1/interviews/start", "[" * 100_000),
    "json_not_object": _post("/api/v1/interviews/start", "[1, 2]"),
    # Validation on each endpoint.
    "start_bad_language": _post("/api/v1/interviews/start", {"language": "xx", "technical_level": "godlike"}),
    "start_unknown_field": _post("/api/v1/interviews/start", {"colour": "blue"}),
    "start_unknown_plan": _post("/api/v1/interviews/start", {"plan": "no-such-plan"}),
    "continue_empty": _post("/api/v1/interviews/continue", {}),
    "continue_bad_types": _post("/api/v1/interviews/continue", {"interview_id": 5, "user_response": ["a"]}),
    "continue_completed": lambda w: w["api"].post(
        "/api/v1/interviews/continue",
        {"interview_id": str(w["done"].id), "user_response": "An answer."},
        format="json",
    ),
    "migrate_bad_history": _post(
        "/api/v1/interviews/migrate",
        {"session_id": "s", "language": "es", "conversation_history": [{"role": "robot"}, "text", [1]]},
    ),
    "migrate_twice": lambda w: [
        w["api"].post(
            "/api/v1/interviews/migrate",
            {"session_id": "twice", "language": "es", "conversation_history": [{"role": "user", "content": "Hi."}]},
            format="json",
        )
        for _ in range(2)
    ][-1],
    "list_bad_filters": lambda w: w["api"].get("/api/v1/interviews", {"status": "nope", "page": "0", "page_size": "x"}),
    "list_bad_dates": lambda w: w["api"].get(
        "/api/v1/interviews", {"start_date": "2026-13-45", "end_date": "0001-01-01"}
    ),
    "stats_bad_dates": lambda w: w["staff"].get("/api/v1/interviews/stats", {"start_date": "yesterday"}),
    "patch_bad_status": lambda w: w["staff"].patch(
        f"/api/v1/interviews/{w['ongoing'].id}", {"status": "exploded"}, format="json"
    ),
    "patch_completed": lambda w: w["staff"].patch(
        f"/api/v1/interviews/{w['done'].id}", {"status": "in_progress"}, format="json"
    ),
    "messages_bad_page": lambda w: w["api"].get(
        f"/api/v1/interviews/{w['ongoing'].id}/messages", {"after": "-1", "limit": "x"}
    ),
    "export_bad_format": lambda w: w["api"].get(f"/api/v1/interviews/{w['ongoing'].id}/export", {"format": "exe"}),
    "bulk_export_bad": lambda w: w["staff"].get("/api/v1/interviews/export", {"format": "exe", "status": "x"}),
    "foreign_interview": lambda w: w["api"].get(f"/api/v1/interviews/{w['foreign'].id}"),
    "foreign_ws_ticket": lambda w: w["api"].post(f"/api/v1/interviews/{w['foreign'].id}/ws-ticket"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_every_error_message_is_a_sentence(world, case):
    assert_human_error(case(world), "response")


def test_an_empty_bearer_says_what_is_wrong_in_words(client_for):
    body = assert_human_error(client_for().get("/api/v1/interviews", HTTP_AUTHORIZATION="Bearer "), "empty bearer")
    assert body["code"] == 401
    assert body["message"] == "Authorization header must contain two space-delimited values"


def test_body_over_limit_and_throttling_are_sentences(client_for, employee, settings, monkeypatch):
    settings.MAX_REQUEST_BODY_BYTES = 1000
    client = client_for(employee)
    big = client.post("/api/v1/interviews/start", data=json.dumps({"x": "y" * 2000}), content_type="application/json")
    assert big.status_code == 413
    assert_human_error(big, "413")
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "1/minute", "user": "1/minute"})
    cache.clear()
    try:
        client.get("/api/v1/interviews")
        throttled = client.get("/api/v1/interviews")
        assert throttled.status_code == 429
        assert_human_error(throttled, "429")
    finally:
        cache.clear()
