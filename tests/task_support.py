"""Tasks for the tests of the task layer: registered with the project's Celery app (so with its
defaults: retries, backoff, late acks), imported by the test process and, with ``-I``, by the
worker the worker tests start. They record what happened in the Django cache, which the test and
the worker share (Redis) when a worker runs them."""

import time

from django.core.cache import cache
from django.db import OperationalError
from structlog.contextvars import get_contextvars

from interviewsvc.celery import app


@app.task(bind=True, name="tests.flaky")
def flaky(self, key: str, failures: int) -> int:
    """Fails with a transient error (the database went away) ``failures`` times, then succeeds;
    each attempt is recorded as (time, retries, request id) under ``key``."""
    attempts = [*cache.get(key, []), (time.time(), self.request.retries, get_contextvars().get("request_id"))]
    cache.set(key, attempts, 600)
    if len(attempts) <= failures:
        raise OperationalError("server closed the connection unexpectedly")
    return len(attempts)


@app.task(bind=True, name="tests.broken")
def broken(self, key: str, transcript_text: str) -> None:
    """A bug (not transient): fails every time, with transcript text in its message and locals."""
    cache.set(key, [*cache.get(key, []), time.time()], 600)
    answer = transcript_text
    raise ValueError(f"could not summarise the answer {answer!r}")
