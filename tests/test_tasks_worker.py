"""A real Celery worker against the real Redis (the PostgreSQL + Redis pass of ./dev test).

The worker is ``celery -A interviewsvc worker`` in a subprocess, on the test database, consuming
a queue of its own (so concurrent runs sharing one Redis do not take each other's messages); the
test process enqueues through :func:`interviewsvc.tasks.enqueue` as the web process does, and
checks the effects in the database and the cache they share.
"""

import itertools
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from structlog.contextvars import bound_contextvars

from interviews.models import Interview
from interviews.tasks import lifecycle_purge, turns_sweep
from interviewsvc.celery import app
from interviewsvc.tasks import enqueue
from tests.factories import InterviewFactory
from tests.interviews.realtime_support import (
    BASE_DIR,
    LONG_ANSWER,
    REDIS_URL,
    redis_answers,
    server_env,
    shared_database,
)
from tests.sentry_support import SentryIngest
from tests.task_support import broken, flaky
from tests.test_tasks import messages, overdue_turn

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


def wait_until(predicate, *, within: float, what: str, log: Path):
    deadline = time.monotonic() + within
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; worker log:\n{log.read_text()[-4000:]}")
        time.sleep(0.1)
    return value


@contextmanager
def celery_worker(db_env: dict, log_path: Path, **extra_env):
    """A worker process of the project on its own queue; yields the queue's name."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    env = server_env(
        {
            **db_env,
            "REDIS_URL": REDIS_URL,
            "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
            "CELERY_QUEUE": queue,
            # As in production: a task the worker enqueues goes to the broker too.
            "TASKS_IN_PROCESS": "0",
            "LOG_LEVEL": "INFO",
            **extra_env,
        }
    )
    command = [
        *(sys.executable, "-m", "celery", "-A", "interviewsvc", "worker"),
        *("--queues", queue, "--include", "tests.task_support", "--concurrency", "1"),
        *("--hostname", f"{queue}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"),
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield queue
        finally:
            process.terminate()  # a warm shutdown: the running task finishes first
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            # The queue's list and its bindings stay in Redis otherwise, one set per run.
            broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
            broker.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
            broker.close()


@contextmanager
def enqueue_to_worker(tmp_path: Path, settings, **worker_env):
    """A worker, and ``enqueue`` in its broker mode sending to the worker's own queue; yields the
    worker's log file."""
    reason = redis_answers()
    if reason:
        pytest.skip(f"needs a Redis broker for a Celery worker (runs in the PostgreSQL + Redis pass): {reason}")
    log = tmp_path / "worker.log"
    with shared_database(tmp_path) as db_env, celery_worker(db_env, log, **worker_env) as queue:
        settings.TASKS_IN_PROCESS = False
        previous = app.conf.task_default_queue
        app.conf.task_default_queue = queue
        app.amqp.__dict__.pop("queues", None)  # the routing table built from the old name
        try:
            yield log
        finally:
            app.conf.task_default_queue = previous
            app.amqp.__dict__.pop("queues", None)


@pytest.fixture
def worker(tmp_path, settings):
    with enqueue_to_worker(tmp_path, settings) as log:
        yield log


def test_the_worker_runs_an_enqueued_task_after_commit(employee, worker):
    interview = overdue_turn(employee)
    with transaction.atomic():
        enqueue(turns_sweep)
    # The worker, another process on the same database, finished the turn.
    wait_until(
        lambda: Interview.objects.filter(pk=interview.id, pending_turn__isnull=True).exists(),
        within=60,
        what="the worker to sweep the turn",
        log=worker,
    )
    assert messages(interview) == [1, 2, 3]


def test_the_worker_retries_a_transient_failure_with_backoff(worker):
    key = f"flaky-{uuid.uuid4()}"
    with bound_contextvars(request_id="req-worker-retry"):
        enqueue(flaky, key, 2)
    attempts = wait_until(
        lambda: (value := cache.get(key)) and len(value) == 3 and value,
        within=90,
        what="three attempts of tests.flaky",
        log=worker,
    )
    times = [t for t, _, _ in attempts]
    assert [(retries, request_id) for _, retries, request_id in attempts] == [
        (0, "req-worker-retry"),
        (1, "req-worker-retry"),
        (2, "req-worker-retry"),
    ]
    # retry_backoff=2 without jitter: 2 s, then 4 s (the worker wakes up within a second of the ETA).
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert 1.9 <= gaps[0] < 4, gaps
    assert 3.9 <= gaps[1] < 7, gaps


def test_the_worker_does_not_retry_a_bug(worker):
    key = f"broken-{uuid.uuid4()}"
    enqueue(broken, key, "my salary is 4200")
    wait_until(lambda: cache.get(key), within=60, what="tests.broken to run", log=worker)
    time.sleep(4)  # a retry would have come after 2 s
    assert len(cache.get(key)) == 1


def test_an_error_in_a_task_on_the_worker_reaches_sentry_scrubbed(tmp_path, settings):
    key = f"broken-{uuid.uuid4()}"
    with SentryIngest() as sentry, enqueue_to_worker(tmp_path, settings, SENTRY_DSN=sentry.dsn) as log:
        with bound_contextvars(request_id="req-worker-sentry"):
            enqueue(broken, key, LONG_ANSWER)
        wait_until(sentry.events, within=60, what="the worker's error event", log=log)
    events = sentry.events()
    assert {e["tags"]["request_id"] for e in events} == {"req-worker-sentry"}
    assert {(e["tags"]["task"], e["transaction"]) for e in events} == {("tests.broken", "tests.broken")}
    (exc,) = events[0]["exception"]["values"]
    assert exc["type"] == "ValueError"
    assert events[0]["extra"] == {"celery-job": {"task_name": "tests.broken"}}  # not its arguments
    text = sentry.raw().decode()
    for word in ("payroll", "Kronos", "Excel", "4200"):
        assert word not in text


def test_the_worker_runs_the_purge(employee, worker, settings):
    """Beat's purge task on a real worker: a soft delete past SOFT_DELETE_DAYS is gone for good."""
    interview = InterviewFactory(employee=employee)
    # The worker reads its own settings (SOFT_DELETE_DAYS=30): deleted 31 days ago is due.
    Interview.objects.filter(pk=interview.pk).update(deleted_at=timezone.now() - timedelta(days=31))
    with transaction.atomic():
        enqueue(lifecycle_purge)
    wait_until(
        lambda: not Interview.all_objects.filter(pk=interview.id).exists(),
        within=60,
        what="the worker to purge the interview",
        log=worker,
    )
