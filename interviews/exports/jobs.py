"""Export jobs: create one (services), build its ZIP in the background (the task), expire and
purge files (beat task, purge receiver). docs/exports.md, "Export jobs".

The archive is the synchronous bulk export's (``archive.py``: one member per interview, each
rendered while it is written) streamed into the ``exports`` storage through a file-like reader
over the ZIP's chunks, so neither the worker nor the storage client ever holds the archive:
the local backend writes it 64 KB at a time, the S3 backend uploads it in multipart parts.

States: ``queued`` → ``running`` → ``done`` (file ready until ``expires_at``) → ``expired``
(file deleted); ``failed`` when the file could not be written. A job only moves forward, and
every write of a state says which state it expects, so a late or repeated task (redelivered
after a worker died, retried after a database blip) never undoes a newer one.
"""

import contextlib
import io
import itertools
import logging
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from accounts.models import User
from interviews.exports.archive import archive_entries, zip_chunks
from interviews.exports.formats import FORMATS
from interviews.exports.models import ACTIVE_STATES, ExportJob, ExportJobInterview, ExportJobState
from interviews.exports.services import export_record
from interviews.models import InterviewExport
from interviews.signals import interviews_purged
from interviewsvc.errors import ServiceError
from interviewsvc.tasks import TRANSIENT_ERRORS, enqueue

logger = logging.getLogger("interviews.exports.jobs")

STORAGE_ALIAS = "exports"
FAILED_MESSAGE = "The export could not be written; start a new one."
STALE_MESSAGE = "The export did not finish in time; start a new one."


class TooManyExportJobs(ServiceError):
    status_code = 429
    error_code = "too_many_export_jobs"
    default_message = "Too many export jobs are queued or running; wait for one to finish."
    retry_after = 30


class JobGone(Exception):
    """The job left ``running`` while its file was being written (purged, expired, swept)."""


def export_storage():
    return storages[STORAGE_ALIAS]


# --- services ---------------------------------------------------------------------------------


DOCUMENT_FORMATS = {"pdf", "docx"}


def export_job_limit(export_format: str) -> int:
    """The most interviews one job in ``export_format`` may hold: PDF and DOCX are built whole
    by their libraries, about 0.4 s an interview, so they get a lower cap that finishes within
    the task's time limit (docs/exports.md, "Settings")."""
    if export_format in DOCUMENT_FORMATS:
        return min(settings.EXPORT_JOB_MAX_INTERVIEWS, settings.EXPORT_JOB_MAX_DOCUMENT_INTERVIEWS)
    return settings.EXPORT_JOB_MAX_INTERVIEWS


def export_job_create(
    *, user, kind: str, export_format: str, interview_ids: Sequence[uuid.UUID], filters: dict
) -> ExportJob:
    """Record and queue a job for ``interview_ids`` (already scoped to ``user``, in archive order).

    Raises :class:`TooManyExportJobs` when ``user`` already has
    ``EXPORT_JOB_MAX_ACTIVE_PER_USER`` jobs queued or running. The task starts once this
    commits (in-process: right then, so the job is done when this returns).
    """
    if settings.TASKS_IN_PROCESS:
        # No beat without a broker: expired files are swept whenever a job starts.
        export_jobs_expire()
    with transaction.atomic():
        # The user's row lock makes count-then-insert atomic against the same user's other
        # requests on PostgreSQL (SQLite's IMMEDIATE transactions already run one at a time).
        User.objects.select_for_update().filter(pk=user.pk).exists()
        active = ExportJob.objects.filter(created_by=user, state__in=ACTIVE_STATES).count()
        if active >= settings.EXPORT_JOB_MAX_ACTIVE_PER_USER:
            raise TooManyExportJobs(
                f"You have {active} export jobs queued or running (at most "
                f"{settings.EXPORT_JOB_MAX_ACTIVE_PER_USER}); wait for one to finish."
            )
        job = ExportJob.objects.create(
            kind=ExportJob.Kind.ADMIN if kind == InterviewExport.Kind.ADMIN else ExportJob.Kind.API,
            created_by=user,
            organization_id=user.organization_id,
            format=export_format,
            filters=filters,
            total=len(interview_ids),
        )
        ExportJobInterview.objects.bulk_create(
            [ExportJobInterview(job=job, position=n, interview_id=pk) for n, pk in enumerate(interview_ids)],
            batch_size=500,
        )
        export_record(
            user=user,
            kind=kind,
            export_format=export_format,
            interview_ids=interview_ids,
            filters=filters,
            job_id=job.id,
        )
        enqueue(export_job_run, str(job.id))
    return job


def export_job_file_delete(job: ExportJob) -> None:
    """Delete the job's file, if any; a file already gone is not an error."""
    if job.file_name:
        with contextlib.suppress(FileNotFoundError):
            export_storage().delete(job.file_name)


def export_jobs_expire(*, now=None) -> int:
    """Delete the files of finished jobs past ``expires_at`` and mark them expired; fail jobs
    that never finished (their worker and all its retries are gone). How many were changed."""
    now = now or timezone.now()
    changed = 0
    for job in ExportJob.objects.filter(state=ExportJobState.DONE, expires_at__lte=now).only("id", "file_name"):
        export_job_file_delete(job)
        changed += ExportJob.objects.filter(pk=job.pk, state=ExportJobState.DONE).update(
            state=ExportJobState.EXPIRED, file_name=""
        )
    stale_before = now - timedelta(seconds=settings.EXPORT_JOB_STALE_SECONDS)
    for job in ExportJob.objects.filter(state__in=ACTIVE_STATES, created_at__lte=stale_before).only("id", "file_name"):
        _delete_quietly(_file_name_of(job.id))
        changed += ExportJob.objects.filter(pk=job.pk, state__in=ACTIVE_STATES).update(
            state=ExportJobState.FAILED, error=STALE_MESSAGE, finished_at=now
        )
    return changed


def export_jobs_purge(interview_ids: Iterable[uuid.UUID]) -> int:
    """Delete the files of every job holding one of ``interview_ids``; those jobs end
    ``expired`` (a running one stops at its next member). How many jobs were changed."""
    ids = list(interview_ids)
    job_ids = set()
    for start in range(0, len(ids), 500):
        batch = ids[start : start + 500]
        job_ids.update(ExportJobInterview.objects.filter(interview_id__in=batch).values_list("job_id", flat=True))
    changed = 0
    for job in ExportJob.objects.filter(pk__in=job_ids).exclude(state=ExportJobState.EXPIRED):
        export_job_file_delete(job)
        if job.state in ACTIVE_STATES:
            # A running task may still be writing: it finds the job gone and deletes its file.
            _delete_quietly(_file_name_of(job.id))
        changed += ExportJob.objects.filter(pk=job.pk).update(state=ExportJobState.EXPIRED, file_name="")
    return changed


@receiver(interviews_purged, dispatch_uid="export_jobs_purge")
def _on_interviews_purged(sender, interview_ids, reason=None, **kwargs) -> None:
    count = export_jobs_purge(interview_ids)
    if count:
        logger.info("export jobs expired by a purge", extra={"jobs": count, "reason": reason})


@receiver(post_delete, sender=ExportJob, dispatch_uid="export_job_file_on_delete")
def _on_job_deleted(sender, instance: ExportJob, **kwargs) -> None:
    # A deleted job (its creator's account deleted) takes its file along.
    transaction.on_commit(lambda: export_job_file_delete(instance))


# --- the task ---------------------------------------------------------------------------------


class ChunkReader(io.RawIOBase):
    """A read-only, non-seekable file over an iterator of byte chunks: what storage backends
    read from (``File.chunks()``, boto3's ``upload_fileobj``) while the chunks are produced."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._buffer = bytearray()

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while len(self._buffer) < len(target):
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        del self._buffer[:size]
        return size


def _file_name_of(job_id) -> str:
    # Not guessable and never served by a URL: downloads go through the API's permission check.
    return f"{job_id}.zip"


def _delete_quietly(name: str) -> None:
    try:
        export_storage().delete(name)
    except Exception:  # cleanup must not hide the error being handled
        logger.warning("could not delete export file", exc_info=True)


def _claim(job_id: str) -> ExportJob | None:
    """Move a queued (or, redelivered, a running) job to running; None when it is finished."""
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state not in ACTIVE_STATES:
            return None
        job.state = ExportJobState.RUNNING
        job.started_at = timezone.now()
        job.done = 0
        job.save(update_fields=["state", "started_at", "done"])
    return job


def _with_progress(job: ExportJob, entries: Iterable) -> Iterator:
    """``entries``, writing ``done`` about every 1% (every member of a small job). The ZIP writer
    asks for member n once members 0..n-1 are written, so ``done`` is written before member n is
    even read; a job that left ``running`` (purged) stops there."""
    step = max(1, job.total // 100)
    iterator = iter(entries)
    running = ExportJob.objects.filter(pk=job.pk, state=ExportJobState.RUNNING)
    for n in itertools.count():
        if n and n % step == 0 and not running.update(done=n):
            raise JobGone
        entry = next(iterator, None)
        if entry is None:
            return
        yield entry


@shared_task(bind=True, name="interviews.exports.export_job_run")
def export_job_run(self, job_id: str) -> str:
    """Write the job's ZIP to storage. Idempotent: a finished job is left alone, a running one
    (a redelivery after a worker died) is written again from the start, over its old file."""
    job = _claim(job_id)
    if job is None:
        return "skipped"
    name = _file_name_of(job.id)
    storage = export_storage()
    creator = User.objects.get(pk=job.created_by_id)
    try:
        ids = list(job.items.order_by("position").values_list("interview_id", flat=True))
        entries = archive_entries(
            interview_ids=ids, export_format=FORMATS[job.format], exported_by=creator, now=job.created_at
        )
        _delete_quietly(name)
        reader = ChunkReader(zip_chunks(_with_progress(job, entries)))
        saved = storage.save(name, File(reader, name=name))
        size = storage.size(saved)
        now = timezone.now()
        finished = ExportJob.objects.filter(pk=job.pk, state=ExportJobState.RUNNING).update(
            state=ExportJobState.DONE,
            done=len(ids),
            file_name=saved,
            file_size=size,
            finished_at=now,
            expires_at=now + timedelta(seconds=settings.EXPORT_JOB_TTL),
        )
        if not finished:
            raise JobGone
    except JobGone:
        _delete_quietly(name)
        return "gone"
    except Exception as exc:
        _delete_quietly(name)
        if not (isinstance(exc, TRANSIENT_ERRORS) and self.request.retries < self.max_retries):
            # No retry will come: say so. (Not the exception's text: it may quote a transcript.)
            ExportJob.objects.filter(pk=job.pk, state=ExportJobState.RUNNING).update(
                state=ExportJobState.FAILED, error=FAILED_MESSAGE, finished_at=timezone.now()
            )
        raise
    return "done"


# Beat runs this every EXPORT_JOB_SWEEP_SECONDS; not retried (the next run is the retry).
@shared_task(name="interviews.exports.export_jobs_sweep", autoretry_for=(), acks_late=False)
def export_jobs_sweep() -> int:
    return export_jobs_expire()
