"""Celery tasks of the interviews app (docs/operations.md, "Background jobs")."""

import asyncio
import uuid

from celery import shared_task

from interviews.exports.jobs import export_job_run, export_jobs_sweep  # noqa: F401 - registered with Celery
from interviews.services.lifecycle import Reason, interviews_purge
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


# Beat runs this every PURGE_INTERVAL_SECONDS. Safe twice at once and idempotent (each batch
# skips rows another run has locked); a transient failure is retried with the project's
# backoff, and whatever one run leaves, the next one takes (interviews/services/lifecycle.py).
@shared_task(name="interviews.tasks.lifecycle_purge")
def lifecycle_purge() -> dict[str, int]:
    """Remove for good the interviews whose soft delete expired and, when RETENTION_DAYS is set,
    those past retention; how many for each reason."""
    return {reason: interviews_purge(reason=reason) for reason in (Reason.SOFT_DELETE_EXPIRED, Reason.RETENTION)}
