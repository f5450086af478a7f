"""Hostile or absurd input is a 4xx with the envelope, never a 500: date bounds, JSON depth."""

import time

import pytest

from interviewsvc.parsers import JSONTooDeep, json_depth_check
from tests.factories import InterviewFactory
from tests.interviews.realtime_support import TIMEOUT, open_socket, start_interview

FILTERED = ["/api/v1/interviews", "/api/v1/interviews/stats", "/api/v1/interviews/export"]


def assert_error(response, status: int, error_code: str) -> dict:
    body = response.json()
    assert response.status_code == status, body
    assert (body["status"], body["code"], body["error_code"]) == ("error", status, error_code)
    assert body["meta"]["request_id"] == response["X-Request-ID"]
    return body


# --- date bounds -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", FILTERED)
@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("end_date", "9999-12-31"),
        ("start_date", "9999-12-31"),
        ("start_date", "0001-01-01"),
        ("end_date", "0001-01-01"),
    ],
)
def test_dates_outside_the_bounds_are_422(client_for, staff, url, param, value):
    body = assert_error(client_for(staff).get(url, {param: value}), 422, "validation_error")
    assert body["errors"][0]["field"] == param
    assert body["message"] == f"{param}: Enter a date from 1900-01-01 to 2999-12-31."


@pytest.mark.parametrize("url", FILTERED[:2])
def test_dates_at_the_bounds_are_accepted(client_for, staff, employee, url):
    InterviewFactory(employee=employee)
    response = client_for(staff).get(url, {"start_date": "1900-01-01", "end_date": "2999-12-31"})
    assert response.status_code == 200, response.json()
    data = response.json()["data"]
    assert (len(data) if isinstance(data, list) else data["total"]) == 1


# --- JSON nesting ----------------------------------------------------------------------------


def nested(depth: int) -> str:
    """Valid JSON: an object whose ``session_id`` is ``depth - 1`` nested lists."""
    return '{"session_id": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


@pytest.mark.parametrize(
    ("url", "authenticated"),
    [("/api/v1/auth/token", False), ("/api/v1/interviews/start", True), ("/api/v1/interviews/migrate", True)],
)
@pytest.mark.parametrize("body", ["[" * 100_000, nested(50), '{"a": "' + "[" * 100 + '", "b": ' + nested(33) + "}"])
def test_json_nested_too_deep_is_400(client_for, employee, url, authenticated, body):
    client = client_for(employee if authenticated else None)
    response = client.post(url, data=body, content_type="application/json")
    body = assert_error(response, 400, "malformed_request")
    assert "nested deeper than 32 levels" in body["message"], body["message"]


def test_json_at_the_depth_limit_is_parsed(client_for, employee):
    # Brackets inside strings do not count; 32 levels reach the serializer, which says what is wrong.
    body = '{"note": "' + "[{" * 1000 + '", "session_id": ' + nested(32)[len('{"session_id": ') : -1] + "}"
    response = client_for(employee).post("/api/v1/interviews/migrate", data=body, content_type="application/json")
    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize(
    ("text", "too_deep"),
    [
        ("[" * 32 + "]" * 32, False),
        ("[" * 33 + "]" * 33, True),
        ('[{"a": ' * 16 + "1" + "}]" * 16, False),  # 32 levels of both kinds
        ('[{"a": ' * 16 + "[1]" + "}]" * 16, True),
        ("[[]" * 33 + "]" * 33, True),  # never more than two open in a row
        ('{"a": "' + "[{" * 100 + '"}', False),  # brackets in a string do not count
        ('["\\"' + "[" * 100 + '"]', False),  # nor after an escaped quote
        ("[" * 40 + '"unterminated', True),
    ],
)
def test_json_depth_is_measured_outside_strings(text, too_deep):
    if too_deep:
        with pytest.raises(JSONTooDeep):
            json_depth_check(text, 32)
    else:
        json_depth_check(text, 32)


def test_json_depth_check_takes_linear_time_on_hostile_bodies():
    # A string pattern that backtracks made '"\"\"...' quadratic: 30,000 pairs took 18 s.
    start = time.monotonic()
    with pytest.raises(JSONTooDeep):
        json_depth_check("[" * 33 + '"' + '\\"' * 500_000, 32)
    json_depth_check(("[" * 32 + "]" * 32) * 15_000, 32)  # 32 passes over ~1 MB
    # A bound on a hang, not a timing (that belongs in bench/): quadratic would take hours here.
    assert time.monotonic() - start < 60


@pytest.fixture
def interview(employee):
    return start_interview(employee)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("frame", ["[" * 5_000, '{"type": "ping", "x": ' + "[" * 40 + "]" * 40 + "}"])
async def test_socket_frame_nested_too_deep_is_invalid_message(employee, interview, frame):
    comm, _ = await open_socket(employee, interview.id)
    await comm.send_to(text_data=frame)
    error = await comm.receive_json_from(timeout=TIMEOUT)
    assert (error["type"], error["code"]) == ("error", "invalid_message"), error
    assert "nested deeper than 32 levels" in error["message"]
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
    await comm.disconnect()
