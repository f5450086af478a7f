"""Celery tasks of the interviews app (docs/operations.md, "Background jobs")."""

import asyncio

from celery import shared_task

from interviews.exports.jobs import export_job_run, export_jobs_sweep  # noqa: F401 - registered with Celery
from interviews.sweep import sweep_once


# Beat runs this every TURN_SWEEP_SECONDS when a worker runs the background jobs. Not retried: the
# next scheduled sweep is the retry, and several sweeps at once are safe (interviews/sweep.py).
@shared_task(name="interviews.tasks.turns_sweep", autoretry_for=(), acks_late=False)
def turns_sweep(limit: int = 100) -> int:
    """Finish the turns whose worker is gone; how many were finished."""
    return asyncio.run(sweep_once(limit=limit))
