"""Background tasks: one base class for every task, and one way to start one (:func:`enqueue`).

Reports, export jobs and the data lifecycle build on this (docs/operations.md, "Background jobs"):

- **With a broker** (``CELERY_BROKER_URL``, by default ``REDIS_URL``) :func:`enqueue` sends the
  task to Celery once the surrounding transaction commits, so a worker never looks for a row the
  request has not committed yet, and a rolled-back request starts nothing.
- **Without one** (the embedded default, ``TASKS_IN_PROCESS``) the task runs in this process,
  synchronously, right after the commit, through Celery's own ``apply()`` (same signals, same
  task code). Synchronously rather than on a thread: the in-process setup is SQLite, where a
  second writer thread would only wait for the single write lock; there is no broker to hand a
  task killed with its thread back to anyone; and tests and ``./dev run`` see the effect as soon
  as the request returns. The price, paid on a developer's machine only, is that the request that
  enqueued waits for the work; retries then follow each other without the backoff.

Every task must be idempotent: a worker that dies mid-task gets its message redelivered (late
acks), and a transient failure (database or Redis away) is retried with exponential backoff.
The request id of the request that enqueued a task travels with it, so its log lines and error
reports carry the same id (interviewsvc/logging.py, interviewsvc/monitoring.py).
"""

import logging
from functools import partial

import redis.exceptions
from celery import Task
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from structlog.contextvars import bind_contextvars, get_contextvars, reset_contextvars

logger = logging.getLogger("interviewsvc.tasks")

# Failures worth trying again later: a backend that is away or slow. A bug is not retried (it
# would fail the same way eight times); it is reported and the task fails.
TRANSIENT_ERRORS = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
)


class ProjectTask(Task):
    """Defaults of every task (the app's ``task_cls``); a task narrows them where it knows better."""

    autoretry_for = TRANSIENT_ERRORS
    # 2, 4, 8 ... seconds, at most 5 minutes apart: about 8.5 minutes in all, enough for a
    # database failover or a Redis restart. No jitter: a handful of jobs do not stampede, and a
    # fixed schedule reads plainly in the logs.
    retry_backoff = 2
    retry_backoff_max = 300
    retry_jitter = False
    max_retries = 8
    # Acked when done, not when taken: a worker that dies mid-task leaves the message to another.
    acks_late = True
    reject_on_worker_lost = True


def enqueue(task: Task, *args, **kwargs) -> None:
    """Run ``task(*args, **kwargs)`` in the background once the current transaction commits
    (at once outside a transaction). Arguments must be JSON: ids, not model instances."""
    headers = {"request_id": request_id} if (request_id := get_contextvars().get("request_id")) else {}
    if settings.TASKS_IN_PROCESS:
        transaction.on_commit(partial(_run_in_process, task, args, kwargs, headers))
    else:
        # robust: the request's work is committed; a broker that refuses the message must not
        # turn that into an error response. It is logged (and reported) instead.
        transaction.on_commit(partial(task.apply_async, args, kwargs, headers=headers), robust=True)


def _run_in_process(task: Task, args: tuple, kwargs: dict, headers: dict) -> None:
    result = task.apply(args, kwargs, headers=headers)
    if result.failed():
        # The caller committed and goes on; the failure is logged and reported, as a worker would.
        logger.error("task %s failed", task.name, exc_info=result.result)


def _request_header(task: Task, name: str) -> str | None:
    # A worker exposes custom message headers as request attributes; apply() keeps them in
    # ``request.headers``.
    request = task.request
    return getattr(request, name, None) or (request.headers or {}).get(name)


@task_prerun.connect
def _bind_task_context(task_id=None, task=None, **_) -> None:
    context = {"task": task.name, "task_id": task_id}
    if request_id := _request_header(task, "request_id"):
        context["request_id"] = request_id
    task.request.log_context_tokens = bind_contextvars(**context)


@task_postrun.connect
def _unbind_task_context(task=None, **_) -> None:
    # Restores what was bound before (in-process: the enqueuing request's own context).
    tokens = getattr(task.request, "log_context_tokens", None)
    if tokens:
        reset_contextvars(**tokens)
