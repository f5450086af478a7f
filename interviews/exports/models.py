"""Export jobs: a bulk export built in the background into a ZIP file in storage.

Imported at the end of ``interviews/models.py`` (the app's models module), so these are models of
the ``interviews`` app; they live here, next to the export code, to keep that module short.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from interviewsvc.ids import uuid7


class ExportJobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


# Jobs that still hold a worker's attention (and count towards EXPORT_JOB_MAX_ACTIVE_PER_USER).
ACTIVE_STATES = (ExportJobState.QUEUED, ExportJobState.RUNNING)


class ExportJob(models.Model):
    """One background bulk export: who asked, for what, how far it is, and where the file is.

    The interviews it holds are listed in :class:`ExportJobInterview` (fixed when the job is
    created, in archive order), so a purge can find and delete every file that contains a
    purged interview (``interviews.exports.jobs.export_jobs_purge``).
    """

    class Kind(models.TextChoices):
        API = "api", "API"
        ADMIN = "admin", "Admin action"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.API)
    # The file is the creator's alone; a deleted account takes its jobs (and, through the
    # post_delete receiver, their files) with it.
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_jobs")
    organization_id = models.UUIDField(null=True, blank=True)
    state = models.CharField(max_length=8, choices=ExportJobState.choices, default=ExportJobState.QUEUED)
    format = models.CharField(max_length=8)
    filters = models.JSONField(default=dict, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    # Name of the ZIP in the "exports" storage; empty until written, and again once deleted.
    file_name = models.CharField(max_length=255, blank=True)
    file_size = models.PositiveBigIntegerField(null=True, blank=True)
    # Safe for the creator to read: never an exception's text (it may quote a transcript).
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["created_by", "state"], name="export_job_user_state")]

    def __str__(self) -> str:
        return f"Export job {self.id} ({self.state})"

    def state_now(self, now=None) -> str:
        """The state a client sees: a finished file past ``expires_at`` is expired even before
        the sweep deletes it."""
        if self.state == ExportJobState.DONE and self.expires_at and self.expires_at <= (now or timezone.now()):
            return ExportJobState.EXPIRED
        return self.state


class ExportJobInterview(models.Model):
    """One interview held by an export job, at ``position`` in the archive.

    ``interview_id`` is a plain indexed UUID, not a foreign key: the purge that deletes an
    interview must find the jobs that hold it (and delete their files) before the rows go,
    and the job keeps saying what it held afterwards.
    """

    job = models.ForeignKey(ExportJob, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    interview_id = models.UUIDField(db_index=True)

    class Meta:
        ordering = ["job", "position"]
        constraints = [models.UniqueConstraint(fields=["job", "position"], name="export_job_item_position")]

    def __str__(self) -> str:
        return f"{self.interview_id} in {self.job_id}"
