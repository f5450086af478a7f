"""What the original service's client checks in every response, and the types of the keys it reads.

That client (the SPA this service replaces the backend of) parses the envelope by these rules:
a success has ``errors: null`` and a 2xx ``code``; an error has ``data: null`` and an
``errors`` list. ``check_envelope`` applies them; the type predicates below describe the
original keys (docs/api.md, "Coming from the original service").
"""

import uuid
from collections.abc import Callable
from datetime import datetime

ENVELOPE_KEYS = ("status", "code", "message", "data", "errors", "meta")

Check = Callable[[object], bool]


def check_envelope(body, status_code: int) -> dict:
    """``body`` if it passes the original client's envelope rules, else ``AssertionError``."""
    assert isinstance(body, dict), f"not an object: {body!r}"
    missing = [key for key in ENVELOPE_KEYS if key not in body]
    assert not missing, f"envelope without {missing}"
    assert body["code"] == status_code, f"code {body['code']!r} is not the HTTP status {status_code}"
    assert isinstance(body["message"], str), body["message"]
    assert isinstance(body["meta"], dict), body["meta"]
    if body["status"] == "success":
        assert body["errors"] is None, f"a success with errors: {body['errors']!r}"
        assert 200 <= body["code"] < 300, f"a success with code {body['code']}"
    else:
        assert body["status"] == "error", f"status {body['status']!r}"
        assert body["data"] is None, f"an error with data: {body['data']!r}"
        assert isinstance(body["errors"], list), f"an error whose errors is not a list: {body['errors']!r}"
    return body


def envelope_of(response) -> dict:
    """The JSON envelope of a test-client response, checked by the original client's rules."""
    assert response["Content-Type"].split(";")[0] == "application/json", response["Content-Type"]
    return check_envelope(response.json(), response.status_code)


# --- types of the original keys ---------------------------------------------------------------


def string(value) -> bool:
    return isinstance(value, str)


def integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def boolean(value) -> bool:
    return isinstance(value, bool)


def uuid_text(value) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


def timestamp(value) -> bool:
    """ISO 8601 as the original client parses it (``new Date(…)``): with a zone."""
    try:
        return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def nullable(check: Check) -> Check:
    return lambda value: value is None or check(value)


def one_of(*choices) -> Check:
    return lambda value: value in choices


def check_types(value: dict, shape: dict, where: str = "") -> None:
    """Every key of ``shape`` is in ``value`` with a value its check accepts; a nested dict is a
    nested shape, ``[shape]`` a list of them."""
    assert isinstance(value, dict), f"{where or 'value'} is not an object: {value!r}"
    for key, check in shape.items():
        path = f"{where}.{key}" if where else key
        assert key in value, f"{path} is missing"
        item = value[key]
        if isinstance(check, dict):
            check_types(item, check, path)
        elif isinstance(check, list):
            assert isinstance(item, list), f"{path} is not a list: {item!r}"
            for index, element in enumerate(item):
                check_types(element, check[0], f"{path}[{index}]")
        else:
            assert check(item), f"{path} has the wrong type: {item!r}"


# --- the original service's shapes -------------------------------------------------------------

MESSAGE = {
    "id_message": uuid_text,
    "role": one_of("assistant", "user", "system"),
    "content": string,
    "sequence_number": integer,
    "created_at": timestamp,
}
INTERVIEW = {
    "id_interview": uuid_text,
    "employee_id": uuid_text,
    "language": one_of("es", "en"),
    "technical_level": one_of("basic", "intermediate", "advanced"),
    "status": one_of("in_progress", "paused", "completed", "cancelled"),
    "session_id": nullable(string),
    "total_messages": integer,
    "question_count": integer,
    "started_at": timestamp,
    "completed_at": nullable(timestamp),
    "created_at": timestamp,
    "updated_at": timestamp,
}
TURN_META = {"interview_id": uuid_text, "session_id": string, "question_count": integer, "language": string}
PAGINATION = {
    "total_items": integer,
    "total_pages": integer,
    "current_page": integer,
    "page_size": integer,
    "has_next": boolean,
    "has_previous": boolean,
}
LIST_META = {"pagination": PAGINATION, "scope": one_of("own", "organization", "all"), "employee_id": uuid_text}
EXPORT_DATA = {
    "interview_id": uuid_text,
    "user_id": uuid_text,
    "user_name": string,
    "user_role": string,
    "organization": nullable(string),
    "interview_date": timestamp,
    "interview_duration_minutes": nullable(number),
    "total_questions": integer,
    "total_user_responses": integer,
    "is_complete": boolean,
    "language": string,
    "technical_level": string,
    "conversation_history": [{"role": string, "content": string, "timestamp": timestamp, "sequence_number": integer}],
    "exported_at": timestamp,
    "exported_by": string,
}
EXPORT_META = {
    "interview_id": uuid_text,
    "export_date": timestamp,
    "language": string,
    "technical_level": string,
    "data_source": string,
}
FIELD_ERROR = {"field": nullable(string), "error": string, "type": string}
