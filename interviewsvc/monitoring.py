"""Error monitoring with Sentry, scrubbed before anything leaves the process.

:func:`sentry_init` runs from the settings when ``SENTRY_DSN`` is set (nothing happens without
it), with the Django, Celery and Redis integrations. The service holds interview transcripts and
bearer credentials, so events are cut down to what finds a bug, on an allow-list
(docs/operations.md, "Error monitoring"):

- the request keeps its method, path and a few harmless headers: no body, no query string
  (tickets, tokens), no cookies, no Authorization, no client address;
- exceptions keep their type and stack trace (files, lines, functions) but not their message
  nor any frame's local variables: either may hold an answer or a question;
- log records keep the format string written in the code, not the values formatted into it;
  breadcrumbs keep what happened (category, level, time), not their message or data;
- extra data, user and unknown contexts are dropped; every string left is searched once more for
  anything shaped like a token (JWT, ``Bearer``, ``sk-`` keys, ``ticket=``/``token=`` values);
- each event is tagged with the request id (also for a task: the id of the request that enqueued
  it) and the interview id when known, from the log context (interviewsvc/logging.py).
"""

import re
import tomllib
from pathlib import Path
from typing import Any

from structlog.contextvars import get_contextvars

SCRUBBED = "[scrubbed]"

# Request headers worth seeing next to an error; everything else (Authorization, Cookie, proxies'
# forwarded addresses, user agent) is dropped.
SAFE_HEADERS = frozenset({"accept", "content-length", "content-type", "host", "x-request-id"})
# Log context copied into tags: identifiers only, never content.
CONTEXT_TAGS = ("request_id", "interview_id", "task", "task_id")
SAFE_CONTEXTS = frozenset({"runtime", "os", "trace"})
SAFE_SPAN_DATA = frozenset({"db.system", "http.method", "http.response.status_code", "thread.id", "thread.name"})

_TOKEN_PATTERNS = [
    # JWTs (header.payload.signature, base64url)
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    # credentials of an Authorization header ("basic" alone is a word: 8 characters at least)
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"),
    # key=value pairs of query strings and forms whose value is a credential
    re.compile(r"(?i)\b(ticket|token|access|refresh|password|secret|api_key|key|code)=[^&\s\"']+"),
]


def project_version() -> str:
    """The version in pyproject.toml: the one place it is written."""
    try:
        with (Path(__file__).resolve().parent.parent / "pyproject.toml").open("rb") as f:
            return tomllib.load(f)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def scrub_text(text: str) -> str:
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(SCRUBBED, text)
    return text


def _scrub_strings(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: _scrub_strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_strings(v) for v in value]
    return value


def _scrub_request(request: dict) -> dict:
    headers = request.get("headers") or {}
    return {
        "method": request.get("method"),
        # The SDK keeps the query string apart from the URL; strip one anyway if present.
        "url": (request.get("url") or "").split("?", 1)[0],
        "headers": {k: v for k, v in headers.items() if k.lower() in SAFE_HEADERS},
    }


def _scrub_frames(stacktrace: dict | None) -> None:
    for frame in (stacktrace or {}).get("frames") or []:
        frame.pop("vars", None)


def _scrub_exceptions(event: dict) -> None:
    for exc in (event.get("exception") or {}).get("values") or []:
        if exc.get("value"):
            exc["value"] = SCRUBBED
        _scrub_frames(exc.get("stacktrace"))
    for thread in (event.get("threads") or {}).get("values") or []:
        _scrub_frames(thread.get("stacktrace"))


def _scrub_breadcrumbs(event: dict) -> None:
    breadcrumbs = event.get("breadcrumbs")
    values = breadcrumbs.get("values") if isinstance(breadcrumbs, dict) else breadcrumbs
    kept = [{k: crumb[k] for k in ("timestamp", "type", "category", "level") if k in crumb} for crumb in values or []]
    event["breadcrumbs"] = {"values": kept}


def _scrub_common(event: dict) -> dict:
    if "request" in event:
        event["request"] = _scrub_request(event["request"])
    event.pop("user", None)
    event["contexts"] = {k: v for k, v in (event.get("contexts") or {}).items() if k in SAFE_CONTEXTS}
    if "trace" in event["contexts"]:
        event["contexts"]["trace"].pop("data", None)
    # The Celery integration puts the task's arguments here; only its name stays.
    task_name = ((event.get("extra") or {}).get("celery-job") or {}).get("task_name")
    event["extra"] = {"celery-job": {"task_name": task_name}} if task_name else {}
    context = get_contextvars()
    event["tags"] = {**(event.get("tags") or {}), **{k: str(context[k]) for k in CONTEXT_TAGS if context.get(k)}}
    _scrub_breadcrumbs(event)
    return _scrub_strings(event)


def before_send(event: dict, hint: dict) -> dict:
    _scrub_exceptions(event)
    if "logentry" in event:
        # The format string is the code's; the values formatted into it may be anyone's.
        message = (event["logentry"] or {}).get("message")
        record = (hint or {}).get("log_record")
        if record is not None and isinstance(record.msg, dict):  # a structlog event dict: its name only
            message = str(record.msg.get("event", ""))
        event["logentry"] = {"message": message}
        event.pop("message", None)
    return _scrub_common(event)


def before_send_transaction(event: dict, hint: dict) -> dict:
    for span in event.get("spans") or []:
        span["data"] = {k: v for k, v in (span.get("data") or {}).items() if k in SAFE_SPAN_DATA}
        if span.get("description") and str(span.get("op", "")).startswith("http"):
            span["description"] = span["description"].split("?", 1)[0]
    return _scrub_common(event)


def sentry_init(*, dsn: str, environment: str, release: str | None = None, traces_sample_rate: float = 0.0) -> None:
    """Start reporting errors to ``dsn``; a no-op without one."""
    if not dsn:
        return
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.redis import RedisIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or f"interviewsvc@{project_version()}",
        # Only the integrations named here: an auto-enabled one (e.g. the OpenAI SDK's) could
        # record prompts, which are transcripts.
        auto_enabling_integrations=False,
        integrations=[DjangoIntegration(), CeleryIntegration(), RedisIntegration()],
        # What the integrations collect in the first place (this SDK's successor of
        # send_default_pii=False, stricter): no user, cookies, bodies, query strings, SQL
        # parameters, queue payloads, prompts or frame variables; only the harmless headers.
        # before_send cuts the rest.
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {"request": {"mode": "allowlist", "terms": sorted(SAFE_HEADERS)}},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "gen_ai": {"inputs": False, "outputs": False},
            "database_query_data": False,
            "queues": False,
            "stack_frame_variables": False,
        },
        max_request_body_size="never",
        before_send=before_send,
        before_send_transaction=before_send_transaction,
        traces_sample_rate=traces_sample_rate,
    )
