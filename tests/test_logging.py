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
        def next_turn(self, *args, **kwargs):
            raise RuntimeError("boom")

    monkeypatch.setattr("interviews.services.get_engine", lambda: Broken())
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
