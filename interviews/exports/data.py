"""Reads for exports: one interview's metadata (``InterviewExportData`` minus the turns) and its turns.

The metadata comes from one query (the interview, its employee and three message subqueries);
the turns from a chunked iterator, so a transcript of any length is never held in memory.
"""

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from interviews.exceptions import InterviewNotFound
from interviews.models import (
    Interview,
    InterviewMessage,
    InterviewReport,
    InterviewReview,
    InterviewSource,
    InterviewStatus,
    MessageRole,
    ReviewDecision,
)
from interviews.permissions import can_review
from interviews.reports.selectors import interview_report_latest
from interviews.selectors import interview_reviews
from interviews.serializers import iso

# Rows fetched per round trip while streaming a transcript. Big enough that a 10,000-message
# export takes 20 round trips, small enough that one chunk of long answers stays a few MB.
MESSAGE_CHUNK_SIZE = 500


@dataclass(frozen=True)
class Turn:
    role: str
    content: str
    created_at: datetime
    sequence_number: int
    # Written in another system and imported by ``migrate``: its role is what that system
    # claimed. Every format marks it (docs/exports.md, "Imported interviews").
    imported: bool = False

    def as_json(self) -> dict:
        return {
            "role": self.role,
            "content": self.content,
            "timestamp": iso(self.created_at),
            "sequence_number": self.sequence_number,
            "imported": self.imported,
        }


@dataclass(frozen=True)
class ExportReview:
    """One review of the interview, as exports show it (docs/admin.md, "Reviewing interviews")."""

    reviewer: str
    decision: str
    notes: str
    score_override: int | None
    override_reason: str
    created_at: datetime

    def as_json(self) -> dict:
        return {
            "reviewer": self.reviewer,
            "decision": self.decision,
            "notes": self.notes,
            "score_override": self.score_override,
            "override_reason": self.override_reason,
            "created_at": iso(self.created_at),
        }

    @property
    def decision_label(self) -> str:
        return ReviewDecision(self.decision).label if self.decision in ReviewDecision.values else self.decision


@dataclass(frozen=True)
class ExportReport:
    """The interview's current report (docs/api.md, "Interview reports")."""

    version: int
    generated_by: str
    created_at: datetime
    document: dict

    def as_json(self) -> dict:
        meta = {"version": self.version, "generated_by": self.generated_by, "created_at": iso(self.created_at)}
        return {**meta, **self.document}


@dataclass(frozen=True)
class ExportHeader:
    """Everything in ``InterviewExportData`` except ``conversation_history``."""

    interview_id: uuid.UUID
    user_id: uuid.UUID
    user_name: str
    user_role: str
    organization: str | None
    interview_date: datetime
    interview_duration_minutes: float | None
    total_questions: int
    total_user_responses: int
    total_messages: int
    is_complete: bool
    status: str
    language: str
    technical_level: str
    source: str  # live | migrated
    exported_at: datetime
    exported_by: str
    # The rounded mean of the answers' scores (Interview.overall_score).
    overall_score: int | None = None
    review_state: str | None = None
    # Oldest first; None when the exporter may not see reviews (employees): then no key at all.
    reviews: tuple[ExportReview, ...] | None = None
    # The current report; None while it is being made and for interviews that never completed.
    report: ExportReport | None = None

    @property
    def imported(self) -> bool:
        """The interview was imported by ``migrate``: every one of its turns is imported."""
        return self.source == InterviewSource.MIGRATED

    def as_json(self) -> dict:
        """The metadata keys in the contract's order, then ``source``, ``overall_score``, ``report`` and,
        for reviewers, ``review_state`` and ``reviews`` (``conversation_history`` goes after them)."""
        data = {
            "interview_id": str(self.interview_id),
            "user_id": str(self.user_id),
            "user_name": self.user_name,
            "user_role": self.user_role,
            "organization": self.organization,
            "interview_date": iso(self.interview_date),
            "interview_duration_minutes": self.interview_duration_minutes,
            "total_questions": self.total_questions,
            "total_user_responses": self.total_user_responses,
            "is_complete": self.is_complete,
            "language": self.language,
            "technical_level": self.technical_level,
            "source": self.source,
            "overall_score": self.overall_score,
            "report": self.report.as_json() if self.report is not None else None,
        }
        if self.reviews is not None:
            data["review_state"] = self.review_state
            data["reviews"] = [review.as_json() for review in self.reviews]
        return data

    def speaker(self, role: str) -> str:
        """Who spoke a turn, for people: the interviewer, the employee by name, or the system."""
        if role == MessageRole.USER:
            return self.user_name
        return MessageRole(role).label if role in MessageRole.values else role


def _count_of(role: str) -> Coalesce:
    rows = (
        InterviewMessage.objects.filter(interview=OuterRef("pk"), role=role)
        .order_by()
        .values("interview")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))


def interviews_for_export() -> QuerySet[Interview]:
    """Interviews with what the export header needs, in one query (no per-interview follow-ups)."""
    last_message_at = (
        InterviewMessage.objects.filter(interview=OuterRef("pk")).order_by("-sequence_number").values("created_at")[:1]
    )
    return Interview.objects.select_related("employee").annotate(
        export_user_responses=_count_of(MessageRole.USER),
        export_last_message_at=Subquery(last_message_at),
    )


def export_interview_get(*, interview_id: uuid.UUID) -> Interview:
    try:
        return interviews_for_export().get(pk=interview_id)
    except Interview.DoesNotExist as exc:
        raise InterviewNotFound() from exc


def display_name(user) -> str:
    return user.get_full_name() or user.username


def export_header(*, interview: Interview, exported_by, now: datetime | None = None) -> ExportHeader:
    """The metadata of ``interview`` (fetched by :func:`interviews_for_export`).

    ``interview_duration_minutes`` runs from ``started_at`` to ``completed_at``; while the
    interview is still open, to its last message (``null`` when it has none).
    """
    end = interview.completed_at or getattr(interview, "export_last_message_at", None)
    duration = round(max((end - interview.started_at).total_seconds(), 0) / 60, 2) if end else None
    employee = interview.employee
    reviews = None
    # Reviews only for those who may read them (one more query); an employee's export of their
    # own interview has no review keys at all.
    if exported_by is not None and can_review(exported_by, interview):
        # Prefetched per batch by ``interviews_in_order`` (bulk exports); else one query.
        rows = getattr(interview, "export_reviews", None)
        reviews = tuple(
            ExportReview(
                reviewer=display_name(r.reviewer),
                decision=r.decision,
                notes=r.notes,
                score_override=r.score_override,
                override_reason=r.override_reason,
                created_at=r.created_at,
            )
            for r in (rows if rows is not None else interview_reviews(interview=interview))
        )
    # Prefetched per batch by ``interviews_in_order`` (newest version first); else one query.
    versions = getattr(interview, "export_reports", None)
    if versions is not None:
        latest = versions[0] if versions else None
    elif interview.status == InterviewStatus.COMPLETED:  # only completed interviews have one
        latest = interview_report_latest(interview=interview)
    else:
        latest = None
    report = ExportReport(latest.version, latest.generated_by, latest.created_at, latest.document) if latest else None
    return ExportHeader(
        interview_id=interview.id,
        user_id=interview.employee_id,
        user_name=display_name(employee),
        user_role=employee.role,
        organization=str(interview.organization_id) if interview.organization_id else None,
        interview_date=interview.started_at,
        interview_duration_minutes=duration,
        total_questions=interview.question_count,
        total_user_responses=getattr(interview, "export_user_responses", 0),
        total_messages=interview.message_count,
        is_complete=interview.status == InterviewStatus.COMPLETED,
        status=interview.status,
        language=interview.language,
        technical_level=interview.technical_level,
        source=interview.source,
        exported_at=now or timezone.now(),
        exported_by=exported_by.username if exported_by is not None else "",
        overall_score=interview.overall_score,
        review_state=interview.review_state,
        reviews=reviews,
        report=report,
    )


def export_document(header: ExportHeader, turns: Iterable[Turn]) -> dict:
    """``InterviewExportData`` as one dict: what ``formats.render_json`` writes, key for key.

    For the JSON envelope of ``POST interviews/export``, which holds the whole transcript in
    memory (the file downloads stream it).
    """
    return {
        **header.as_json(),
        "conversation_history": [turn.as_json() for turn in turns],
        "exported_at": iso(header.exported_at),
        "exported_by": header.exported_by,
    }


def export_turns(
    *, interview_id: uuid.UUID, imported: bool = False, chunk_size: int = MESSAGE_CHUNK_SIZE
) -> Iterator[Turn]:
    """Every turn of the interview in sequence order, fetched ``chunk_size`` rows at a time.

    On PostgreSQL this is a server-side cursor; on SQLite ``fetchmany`` batches. Only the
    columns an export prints are read. ``imported``: the interview was migrated
    (:attr:`ExportHeader.imported`), so every turn is marked imported.
    """
    rows = (
        InterviewMessage.objects.filter(interview_id=interview_id)
        .order_by("sequence_number")
        .values_list("role", "content", "created_at", "sequence_number")
        .iterator(chunk_size=chunk_size)
    )
    for role, content, created_at, sequence_number in rows:
        yield Turn(
            role=role, content=content, created_at=created_at, sequence_number=sequence_number, imported=imported
        )


def interviews_in_order(ids: list[uuid.UUID], *, batch_size: int = 100) -> Iterable[Interview]:
    """Export-ready interviews for ``ids``, in that order, ``batch_size`` per query."""
    for start in range(0, len(ids), batch_size):
        batch = ids[start : start + batch_size]
        reviews = Prefetch(
            "reviews",
            queryset=InterviewReview.objects.select_related("reviewer").order_by("created_at", "id"),
            to_attr="export_reviews",
        )
        reports = Prefetch(
            "reports", queryset=InterviewReport.objects.order_by("interview", "-version"), to_attr="export_reports"
        )
        by_id = {i.pk: i for i in interviews_for_export().filter(pk__in=batch).prefetch_related(reviews, reports)}
        # An interview deleted since the ids were read is skipped, not an error.
        yield from (by_id[pk] for pk in batch if pk in by_id)
