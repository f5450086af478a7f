"""The interviews app's models: interviews and their messages, reviews, reports, plans, the
export audit log and the data lifecycle's records (export jobs: ``interviews.exports.models``).

Size: one module, as Django expects of an app's models; each class is short and they refer to
each other (reports, reviews and messages all hang off ``Interview``).
"""

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from interviews.engine.plans import plan_errors
from interviews.managers import AllInterviewManager, DeletedInterviewManager, LiveInterviewManager
from interviewsvc.ids import uuid7


class Language(models.TextChoices):
    ES = "es", "Español"
    EN = "en", "English"


class TechnicalLevel(models.TextChoices):
    BASIC = "basic", "Basic"
    INTERMEDIATE = "intermediate", "Intermediate"
    ADVANCED = "advanced", "Advanced"


class InterviewStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class InterviewSource(models.TextChoices):
    LIVE = "live", "Live"
    MIGRATED = "migrated", "Migrated"


class MessageRole(models.TextChoices):
    ASSISTANT = "assistant", "Interviewer"
    USER = "user", "Employee"
    SYSTEM = "system", "System"


class ReviewState(models.TextChoices):
    """Where a reviewer's look at an interview stands (docs/admin.md, "Reviewing interviews")."""

    UNREVIEWED = "unreviewed", "Unreviewed"
    IN_REVIEW = "in_review", "In review"
    REVIEWED = "reviewed", "Reviewed"
    FLAGGED = "flagged", "Flagged"


class ReviewDecision(models.TextChoices):
    APPROVED = "approved", "Approved"
    NEEDS_FOLLOW_UP = "needs_follow_up", "Needs follow-up"
    REJECTED = "rejected", "Rejected"


class Interview(models.Model):
    """One conversation between the interviewer and an employee.

    Invariants: ``message_count`` equals the highest ``sequence_number`` of its messages
    (sequence numbers are gapless from 1) and is only changed by ``interviews.services`` while
    the row is locked. ``pending_turn`` is set while the interviewer works on a turn (the
    answer is stored, the reply is not yet); ``turn_claim`` names the one worker allowed to
    store that reply and ``turn_deadline`` when another may take the turn over
    (``interviews.services.turns``).
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # ``to_field`` makes ``interview.employee_id`` the user's employee UUID, as in the contract.
    employee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        to_field="employee_id",
        db_column="employee_id",
        on_delete=models.PROTECT,
        related_name="interviews",
        db_index=False,  # covered by the (employee, -started_at) index
    )
    organization_id = models.UUIDField(null=True, blank=True)
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.ES)
    technical_level = models.CharField(max_length=16, choices=TechnicalLevel.choices, default=TechnicalLevel.BASIC)
    status = models.CharField(max_length=16, choices=InterviewStatus.choices, default=InterviewStatus.IN_PROGRESS)
    source = models.CharField(max_length=16, choices=InterviewSource.choices, default=InterviewSource.LIVE)
    session_id = models.CharField(max_length=255, null=True, blank=True)
    message_count = models.PositiveIntegerField(default=0)
    question_count = models.PositiveIntegerField(default=0)
    # Where the interviewer engine is in its plan; owned by ``interviews.engine``.
    engine_state = models.JSONField(default=dict, blank=True)
    # The plan chosen at start, kept so every later turn follows the same plan; NULL means the
    # built-in default (interviews imported by ``migrate``, or no default plan row).
    plan = models.ForeignKey(
        "InterviewPlan", null=True, blank=True, on_delete=models.PROTECT, related_name="interviews"
    )
    # The turn the interviewer is working on, as clients see it: {turn_id, answer_id, since}.
    pending_turn = models.JSONField(null=True, blank=True)
    turn_claim = models.UUIDField(null=True, blank=True, editable=False)
    turn_deadline = models.DateTimeField(null=True, blank=True, editable=False)
    # The rounded mean of the answers' evaluation scores (0-100), stored by ``interviews.services``
    # when the interview ends (completed or cancelled); NULL before that and while none is scored.
    overall_score = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    # Derived from the latest InterviewReview (``interviews.services.reviews``); never set by hand.
    review_state = models.CharField(
        max_length=16,
        choices=ReviewState.choices,
        default=ReviewState.UNREVIEWED,
        # In the database too: rows written with SQL (bench/, imports by hand) start unreviewed.
        db_default=ReviewState.UNREVIEWED,
        editable=False,
    )
    started_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Soft delete (``interviews.services.lifecycle``): set, the interview is invisible everywhere
    # but the admin of deleted interviews, and purged SOFT_DELETE_DAYS later.
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        db_index=False,  # never queried by deleter
    )

    # The first manager is the default one: soft-deleted rows are left out (interviews/managers.py).
    objects = LiveInterviewManager()
    all_objects = AllInterviewManager()

    class Meta:
        ordering = ["-started_at"]
        # Admin, DRF and related managers use the default manager (live rows only); Django's
        # own internals (cascades, a message's ``.interview``) the base one, which sees all.
        default_manager_name = "objects"
        base_manager_name = "all_objects"
        indexes = [
            models.Index(fields=["employee", "-started_at"], name="interview_employee_started"),
            models.Index(fields=["organization_id", "-started_at"], name="interview_org_started"),
            models.Index(fields=["status"], name="interview_status"),
            models.Index(fields=["-started_at"], name="interview_started"),
            models.Index(fields=["-updated_at"], name="interview_updated"),
            # The reviewer's backlog and the list's ?review_state= filter.
            models.Index(fields=["review_state", "-started_at"], name="interview_review_state"),
            # The sweep's query: pending turns past their deadline (a handful of rows).
            models.Index(
                fields=["turn_deadline"], condition=Q(turn_deadline__isnull=False), name="interview_turn_deadline"
            ),
            # The purge's and the deleted-interviews admin's query (a handful of rows).
            models.Index(fields=["deleted_at"], condition=Q(deleted_at__isnull=False), name="interview_deleted_at"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["employee", "session_id"],
                condition=Q(session_id__isnull=False),
                name="interview_unique_employee_session",
            ),
        ]

    def __str__(self) -> str:
        return f"Interview {self.id}"

    @property
    def duration_seconds(self) -> float | None:
        if self.completed_at is None:
            return None
        return (self.completed_at - self.started_at).total_seconds()


class MessageLanguageField(models.CharField):
    """The interview's language, copied onto each message when it is inserted.

    The search indexes are per language (interviews/search.py) and an index cannot read the
    interview's row, so the message carries it. Filled here, on every insert path (``save`` and
    ``bulk_create`` both call ``pre_save``), from the interview the message was built with; an
    interview's language never changes after it starts.
    """

    def pre_save(self, model_instance, add):
        if add and not getattr(model_instance, self.attname):
            setattr(model_instance, self.attname, model_instance.interview.language)
        return super().pre_save(model_instance, add)


class InterviewMessage(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # No separate FK index: UNIQUE(interview, sequence_number) is the (interview, sequence) index.
    interview = models.ForeignKey(Interview, on_delete=models.CASCADE, related_name="messages", db_index=False)
    role = models.CharField(max_length=16, choices=MessageRole.choices)
    content = models.TextField()
    sequence_number = models.PositiveIntegerField()
    # The client's idempotency key for an answer: a repeat returns the first result.
    client_message_id = models.CharField(max_length=64, null=True, blank=True)
    evaluation = models.JSONField(null=True, blank=True)
    # Engine facts about an assistant turn (question index/total, is_final); free-form.
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    # The interview's language (stemming of the search indexes, migration 0008).
    language = MessageLanguageField(max_length=2, choices=Language.choices, editable=False)

    class Meta:
        ordering = ["interview", "sequence_number"]
        constraints = [
            # The backstop of the gapless numbering: two writers can never share a number.
            models.UniqueConstraint(fields=["interview", "sequence_number"], name="message_unique_sequence"),
            models.UniqueConstraint(
                fields=["interview", "client_message_id"],
                condition=Q(client_message_id__isnull=False),
                name="message_unique_client_id",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence_number} {self.role}"


class InterviewSearchDocument(models.Model):
    """The words of all of one interview's messages, for search (interviews/search.py).

    PostgreSQL only: a trigger on the messages table (migration 0013) appends each inserted
    message's ``to_tsvector`` in the interview's language, so every write path (the services,
    imports, raw SQL) keeps it current; one GIN index covers it. Never written by Django; on
    SQLite the table stays empty and search falls back to a substring match over messages.
    """

    # The foreign key is created by migration 0013 on PostgreSQL, with ON DELETE CASCADE.
    interview = models.OneToOneField(
        Interview, on_delete=models.CASCADE, primary_key=True, related_name="search_document", db_constraint=False
    )
    language = models.CharField(max_length=2, choices=Language.choices)
    document = SearchVectorField()

    def __str__(self) -> str:
        return f"search document of {self.interview_id}"


class InterviewReview(models.Model):
    """One reviewer's conclusion about an interview. Append-only: a new review supersedes the
    previous one (the latest sets ``Interview.review_state``), none is ever changed or deleted,
    so the history of a decision stays.

    Invariant (a check constraint): a ``score_override`` comes with an ``override_reason``.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    interview = models.ForeignKey(Interview, on_delete=models.CASCADE, related_name="reviews", db_index=False)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="interview_reviews")
    decision = models.CharField(max_length=16, choices=ReviewDecision.choices)
    notes = models.TextField(blank=True)
    score_override = models.PositiveSmallIntegerField(null=True, blank=True)
    override_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["interview", "created_at", "id"]
        indexes = [models.Index(fields=["interview", "created_at"], name="review_interview_created")]
        constraints = [
            models.CheckConstraint(
                condition=Q(score_override__isnull=True) | Q(score_override__gte=0, score_override__lte=100),
                name="review_score_override_range",
            ),
            models.CheckConstraint(
                condition=Q(score_override__isnull=True) | ~Q(override_reason=""),
                name="review_override_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.reviewer_id} on {self.created_at:%Y-%m-%d %H:%M}"


class ExportFormat(models.TextChoices):
    JSON = "json", "JSON"
    MD = "md", "Markdown"
    TXT = "txt", "Text"
    CSV = "csv", "CSV"
    PDF = "pdf", "PDF"
    DOCX = "docx", "Word (DOCX)"
    ZIP = "zip", "ZIP (bulk)"


class InterviewExport(models.Model):
    """Audit record of one export: who exported what, when, in which format."""

    class Kind(models.TextChoices):
        SINGLE = "single", "One interview"
        BULK = "bulk", "Bulk (filters)"
        ADMIN = "admin", "Admin action"
        JOB = "job", "Export job (API)"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SINGLE)
    # Set for single exports; a bulk export lists its interviews in ``interview_ids``.
    interview = models.ForeignKey(Interview, null=True, blank=True, on_delete=models.SET_NULL, related_name="exports")
    interview_ids = models.JSONField(default=list, blank=True)
    interview_count = models.PositiveIntegerField(default=1)
    format = models.CharField(max_length=8, choices=ExportFormat.choices)
    filters = models.JSONField(default=dict, blank=True)
    exported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="interview_exports"
    )
    organization_id = models.UUIDField(null=True, blank=True)
    # The export job that wrote the file (kind "job", and "admin" since the action runs as a
    # job); a plain id so the record outlives the job and its file.
    job_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} export ({self.format}) by {self.exported_by_id}"


class InterviewPlan(models.Model):
    """An interview plan for the scripted interviewer: ordered topics with questions per
    language and technical level (format in docs/engine.md, checked by :meth:`clean`).

    Invariant: at most one plan has ``is_default`` (a partial unique constraint). A plan used
    by interviews cannot be deleted (``PROTECT``); deactivate it instead.
    """

    slug = models.SlugField(max_length=64, unique=True, help_text="What clients send as `plan` when starting.")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    topics = models.JSONField(default=list, help_text="Ordered list of topics; see docs/engine.md.")
    follow_up = models.JSONField(
        default=dict, blank=True, help_text='Generic follow-up: {"es": "…", "en": "…"}. Empty: the built-in one.'
    )
    closing = models.JSONField(
        default=dict, blank=True, help_text='Closing message: {"es": "…", "en": "…"}. Empty: the built-in one.'
    )
    is_active = models.BooleanField(default=True, help_text="Inactive plans cannot start new interviews.")
    is_default = models.BooleanField(default=False, help_text="Used when a start request names no plan.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="interview_plan_single_default"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    def validate_constraints(self, exclude=None) -> None:
        # Promoting a plan takes the default flag from the old one (``interview_plan_save``),
        # so the single-default constraint is not a form error; the database still enforces it.
        super().validate_constraints(exclude={*(exclude or ()), "is_default"})

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        errors = plan_errors({"topics": self.topics, "follow_up": self.follow_up, "closing": self.closing})
        if self.is_default and not self.is_active:
            errors.setdefault("is_default", []).append("The default plan must be active.")
        if errors:
            raise ValidationError(errors)


class DeletedInterview(Interview):
    """Soft-deleted interviews, for the admin that lists and restores them (a proxy: no table)."""

    objects = DeletedInterviewManager()

    class Meta:
        proxy = True
        verbose_name = "deleted interview"
        default_manager_name = "objects"


class DataDeletion(models.Model):
    """Audit record of interviews removed for good: who asked (None: the scheduled purge), why,
    when and how many. Never their content: the only pointer to whom they were about is the
    employee's opaque UUID, kept for an erasure so that it can be shown to have been done."""

    class Reason(models.TextChoices):
        ERASURE = "erasure", "Erasure on request"
        SOFT_DELETE_EXPIRED = "soft_delete_expired", "Soft delete expired"
        RETENTION = "retention", "Retention period"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    reason = models.CharField(max_length=32, choices=Reason.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    employee_id = models.UUIDField(null=True, blank=True)
    interview_count = models.PositiveIntegerField()
    message_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "data deletion"

    def __str__(self) -> str:
        return f"{self.get_reason_display()}: {self.interview_count} interviews"


class ReportSource(models.TextChoices):
    """Who wrote a report's document (docs/api.md, "Interview reports")."""

    SCRIPTED = "scripted", "Scripted (offline)"
    OPENAI = "openai", "Model (openai)"


class InterviewReport(models.Model):
    """One version of the report of a completed interview (``interviews.reports``).

    Append-only: regenerating adds a version, the highest ``version`` is the current report.
    ``request_key`` names the request that asked for this version (``completed`` for the one
    made when the interview completed, a fresh key per admin "Regenerate"), so a task that runs
    twice for one request (a redelivered message) finds its version and adds no second one.
    Deleted with the interview (``CASCADE``): purges and erasures take the reports along.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    interview = models.ForeignKey(Interview, on_delete=models.CASCADE, related_name="reports", db_index=False)
    version = models.PositiveIntegerField()
    request_key = models.CharField(max_length=64)
    # The document, valid against ``interviews.reports.schema.REPORT_SCHEMA``.
    document = models.JSONField()
    generated_by = models.CharField(max_length=16, choices=ReportSource.choices)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["interview", "version"]
        constraints = [
            # Also the (interview, version) index that finds the current report.
            models.UniqueConstraint(fields=["interview", "version"], name="report_unique_version"),
            models.UniqueConstraint(fields=["interview", "request_key"], name="report_unique_request"),
        ]

    def __str__(self) -> str:
        return f"Report v{self.version} of interview {self.interview_id}"


# Export jobs live next to the export code (interviews/exports/models.py); importing them here
# makes them models of this app.
from interviews.exports.models import ExportJob, ExportJobInterview, ExportJobState  # noqa: E402, F401
