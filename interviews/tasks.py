"""Celery tasks of the interviews app (docs/operations.md, "Background jobs")."""

import asyncio

from celery import shared_task

from interviews.services.lifecycle import Reason, interviews_purge
from interviews.sweep import sweep_once


# Beat runs this every TURN_SWEEP_SECONDS when a worker runs the background jobs. Not retried: the
# next scheduled sweep is the retry, and several sweeps at once are safe (interviews/sweep.py).
@shared_task(name="interviews.tasks.turns_sweep", autoretry_for=(), acks_late=False)
def turns_sweep(limit: int = 100) -> int:
    """Finish the turns whose worker is gone; how many were finished."""
    return asyncio.run(sweep_once(limit=limit))


# Beat runs this every PURGE_INTERVAL_SECONDS. Safe twice at once and idempotent (each batch
# skips rows another run has locked); a transient failure is retried with the project's
# backoff, and whatever one run leaves, the next one takes (interviews/services/lifecycle.py).
@shared_task(name="interviews.tasks.lifecycle_purge")
def lifecycle_purge() -> dict[str, int]:
    """Remove for good the interviews whose soft delete expired and, when RETENTION_DAYS is set,
    those past retention; how many for each reason."""
    return {reason: interviews_purge(reason=reason) for reason in (Reason.SOFT_DELETE_EXPIRED, Reason.RETENTION)}
