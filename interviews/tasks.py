"""Celery tasks of the interviews app (docs/operations.md, "Background jobs")."""

import asyncio
import uuid

from celery import shared_task

from interviews.exports.jobs import export_job_run, export_jobs_sweep  # noqa: F401 - registered with Celery
from interviews.sweep import sweep_once


# Beat runs this every TURN_SWEEP_SECONDS when a worker runs the background jobs. Not retried: the
# next scheduled sweep is the retry, and several sweeps at once are safe (interviews/sweep.py).
@shared_task(name="interviews.tasks.turns_sweep", autoretry_for=(), acks_late=False)
def turns_sweep(limit: int = 100) -> int:
    """Finish the turns whose worker is gone; how many were finished."""
    return asyncio.run(sweep_once(limit=limit))


# Enqueued when an interview completes and by the admin's "Regenerate" (interviews/reports/).
# Idempotent by ``request_key``: a redelivered message returns the version already stored.
@shared_task(name="interviews.tasks.report_generate")
def report_generate(interview_id: str, request_key: str = "completed") -> int | None:
    """Store the report version ``request_key`` asks for; its number (None: nothing to report)."""
    from interviews.reports.services import interview_report_generate

    report = interview_report_generate(interview_id=uuid.UUID(interview_id), request_key=request_key)
    return report.version if report is not None else None
