"""The Celery application: background work on a worker, scheduled work on beat (docs/operations.md,
"Background jobs").

Configured from Django's settings (the ``CELERY_*`` names); tasks are found in every app's
``tasks`` module. Start a worker with ``celery -A interviewsvc worker`` and the scheduler with
``celery -A interviewsvc beat``. Without a broker (``REDIS_URL`` unset) nothing here runs as a
separate process: :func:`interviewsvc.tasks.enqueue` runs tasks in-process after commit.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interviewsvc.settings")

# Every task gets the project's retry, backoff and late-ack defaults (interviewsvc/tasks.py).
app = Celery("interviewsvc", task_cls="interviewsvc.tasks:ProjectTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
