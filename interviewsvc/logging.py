"""Structured JSON logs: every line carries the request id, user and interview when known.

structlog renders both its own loggers and Django's stdlib ones; context is bound per request
(or per WebSocket) in contextvars, which follow the request into sync views' threads.
"""

import re
import uuid

import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars

SHARED_PROCESSORS = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def logging_config(*, level: str, json: bool) -> dict:
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    renderer,
                ],
                "foreign_pre_chain": SHARED_PROCESSORS,
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # Failed and locked logins are warnings; axes' info lines (bookkeeping) are noise.
            "axes": {"level": "WARNING"},
        },
    }


_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_from(incoming: str) -> str:
    """The client's ``X-Request-ID`` when it is safe to log and echo, else a new one."""
    return incoming if _VALID_REQUEST_ID.match(incoming) else str(uuid.uuid4())


def bind_request(request_id: str) -> None:
    clear_contextvars()
    bind_contextvars(request_id=request_id)


def bind_user(user) -> None:
    bind_contextvars(user_id=user.pk, employee_id=str(user.employee_id))


def bind_interview(interview_id) -> None:
    bind_contextvars(interview_id=str(interview_id))
