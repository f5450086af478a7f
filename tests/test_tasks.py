"""The task layer without a broker (interviewsvc/tasks.py): tasks run in-process right after the
commit that enqueued them, with the same retry policy a worker applies. The worker itself is
tested in tests/test_tasks_worker.py."""

import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from structlog.contextvars import bound_contextvars

from interviews import services
from interviews.models import Interview, InterviewMessage
from interviews.tasks import turns_sweep
from interviewsvc.celery import app
from interviewsvc.tasks import ProjectTask, enqueue
from tests.interviews.realtime_support import LONG_ANSWER, start_interview
from tests.task_support import broken, flaky

pytestmark = pytest.mark.django_db


def overdue_turn(employee):
    """An interview whose turn was left pending by a gone process, past its deadline."""
    interview = start_interview(employee)
    services.turn_answer_store(actor=employee, interview_id=interview.id, answer=LONG_ANSWER, client_message_id="a1")
    Interview.objects.filter(pk=interview.id).update(turn_deadline=timezone.now() - timedelta(seconds=1))
    return interview


def messages(interview) -> list[int]:
    return list(
        InterviewMessage.objects.filter(interview=interview)
        .order_by("sequence_number")
        .values_list("sequence_number", flat=True)
    )


def test_every_task_has_the_project_defaults():
    assert app.Task is ProjectTask or issubclass(app.Task, ProjectTask)
    assert isinstance(flaky, ProjectTask)
    assert (flaky.acks_late, flaky.reject_on_worker_lost, flaky.max_retries) == (True, True, 8)
    assert (flaky.retry_backoff, flaky.retry_backoff_max, flaky.retry_jitter) == (2, 300, False)


# The sweep works on threads of its own (their own connections): the rows must be committed.
@pytest.mark.django_db(transaction=True)
def test_in_process_the_task_runs_after_commit(employee):
    interview = overdue_turn(employee)
    with transaction.atomic():
        enqueue(turns_sweep)
        assert messages(interview) == [1, 2]  # not before the commit
    # The sweep finished the turn: the interviewer's question is stored, the turn is released.
    assert messages(interview) == [1, 2, 3]
    assert Interview.objects.get(pk=interview.id).pending_turn is None


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_request_starts_nothing(employee):
    interview = overdue_turn(employee)

    def failing_request():
        with transaction.atomic():
            enqueue(turns_sweep)
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        failing_request()
    assert messages(interview) == [1, 2]
    assert Interview.objects.get(pk=interview.id).pending_turn is not None


def test_a_transient_failure_is_retried_in_process(django_capture_on_commit_callbacks):
    key = f"flaky-{uuid.uuid4()}"
    with bound_contextvars(request_id="req-inprocess-1"), django_capture_on_commit_callbacks(execute=True):
        enqueue(flaky, key, 2)
    attempts = cache.get(key)
    # Two transient failures, then success; the request id of the enqueuing request rides along.
    assert [(retries, request_id) for _, retries, request_id in attempts] == [
        (0, "req-inprocess-1"),
        (1, "req-inprocess-1"),
        (2, "req-inprocess-1"),
    ]


def test_a_bug_is_not_retried_and_does_not_reach_the_caller(django_capture_on_commit_callbacks, caplog):
    key = f"broken-{uuid.uuid4()}"
    with django_capture_on_commit_callbacks(execute=True):
        enqueue(broken, key, "secret answer")  # no exception here: the caller's work is committed
    assert len(cache.get(key)) == 1
    failed = [r for r in caplog.records if r.name == "interviewsvc.tasks" and r.levelname == "ERROR"]
    assert [r.getMessage() for r in failed] == ["task tests.broken failed"]
    assert isinstance(failed[0].exc_info[1], ValueError)


def test_the_request_context_is_restored_after_an_in_process_task(django_capture_on_commit_callbacks):
    from structlog.contextvars import get_contextvars

    with bound_contextvars(request_id="req-outer"), django_capture_on_commit_callbacks(execute=True):
        enqueue(flaky, f"flaky-{uuid.uuid4()}", 0)
        assert get_contextvars()["request_id"] == "req-outer"
    assert "task" not in get_contextvars()


def test_beat_schedules_the_sweep_a_worker_runs(settings):
    # The settings module a worker and beat load (the test settings only turn the web loop off).
    from interviewsvc import settings as real

    entry = real.CELERY_BEAT_SCHEDULE["turns-sweep"]
    assert entry["task"] == turns_sweep.name == "interviews.tasks.turns_sweep"
    assert entry["schedule"] == entry["options"]["expires"] == real.TURN_SWEEP_SECONDS > 0
    # The task is registered with the app the worker runs.
    assert app.tasks["interviews.tasks.turns_sweep"] is turns_sweep._get_current_object()


def test_compose_runs_a_worker_and_a_beat_from_the_web_image():
    import yaml
    from django.conf import settings as live

    services = yaml.safe_load((live.BASE_DIR / "docker-compose.yml").read_text())["services"]
    web, worker, beat = services["web"], services["worker"], services["beat"]
    assert worker["build"] == beat["build"] == web["build"]
    assert worker["command"][:4] == ["celery", "-A", "interviewsvc", "worker"]
    assert beat["command"][:4] == ["celery", "-A", "interviewsvc", "beat"]
    # The image's user cannot write to /app: beat keeps its schedule state in /tmp.
    assert beat["command"][beat["command"].index("--schedule") + 1].startswith("/tmp/")
    for service in (worker, beat):
        for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "SENTRY_DSN", "ENVIRONMENT"):
            assert service["environment"][name] == web["environment"][name], name
    # The worker starts once web has migrated the database.
    assert worker["depends_on"]["web"]["condition"] == "service_healthy"
    assert "inspect ping" in " ".join(worker["healthcheck"]["test"])
