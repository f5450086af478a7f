import json
import logging
import logging.config

import pytest

from interviewsvc.logging import logging_config


@pytest.fixture
def json_lines(caplog):
    """Render captured records with the project's JSON formatter."""
    config = logging_config(level="INFO", json=True)
    formatter = logging.config.dictConfigClass(config).configure_formatter(config["formatters"]["structured"])
    caplog.handler.setFormatter(formatter)
    caplog.set_level(logging.INFO)

    def lines():
        return [json.loads(line) for line in caplog.text.splitlines() if line.startswith("{")]

    return lines


@pytest.mark.django_db
def test_log_lines_carry_request_user_and_interview(client_for, employee, json_lines, monkeypatch):
    client = client_for(employee)
    start = client.post("/api/v1/interviews/start", {}, format="json").json()["data"]

    class Broken:
        history_messages = 0

        async def next_turn(self, *args, **kwargs):
            raise RuntimeError("boom")

    monkeypatch.setattr("interviews.services.turns.get_engine", lambda: Broken())
    client.post(
        "/api/v1/interviews/continue",
        {"interview_id": start["interview_id"], "user_response": "hello there"},
        format="json",
        HTTP_X_REQUEST_ID="req-42",
    )
    errors = [line for line in json_lines() if line.get("level") == "error"]
    assert errors, json_lines()
    line = errors[0]
    assert line["request_id"] == "req-42"
    assert line["user_id"] == employee.pk
    assert line["interview_id"] == start["interview_id"]
    assert "timestamp" in line


@pytest.mark.django_db(transaction=True)
async def test_socket_log_lines_carry_request_user_and_interview(employee, monkeypatch):
    import io

    from channels.db import database_sync_to_async
    from django.db import OperationalError

    from interviews import services
    from tests.interviews.realtime_support import TIMEOUT, access_token, socket

    interview = (
        await database_sync_to_async(services.interview_start)(user=employee, language="en", technical_level="basic")
    ).interview

    def broken(**kwargs):
        raise OperationalError("database went away")

    monkeypatch.setattr("interviews.realtime.consumer._messages_after", broken)
    config = logging_config(level="INFO", json=True)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.config.dictConfigClass(config).configure_formatter(config["formatters"]["structured"]))
    consumer_logger = logging.getLogger("interviews.consumers")
    monkeypatch.setattr(consumer_logger, "handlers", [*consumer_logger.handlers, handler])
    monkeypatch.setattr(consumer_logger, "level", logging.INFO)
    token = await database_sync_to_async(access_token)(employee)
    comm = socket(interview.id, subprotocols=["bearer", token], headers=[(b"x-request-id", b"ws-7")])
    assert (await comm.connect(timeout=TIMEOUT))[0]
    assert (await comm.receive_json_from(timeout=TIMEOUT))["type"] == "connected"
    await comm.send_json_to({"type": "resume", "after_sequence": 0})
    assert (await comm.receive_json_from(timeout=TIMEOUT))["code"] == "service_unavailable"
    await comm.disconnect()

    warnings = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert warnings, stream.getvalue()
    assert warnings[0]["request_id"] == "ws-7"
    assert warnings[0]["user_id"] == employee.pk
    assert warnings[0]["interview_id"] == str(interview.id)
