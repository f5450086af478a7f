"""Status changes, imports and interview plans."""

import uuid
from collections.abc import Sequence

from django.db import IntegrityError, transaction
from django.utils import timezone

from interviews import events
from interviews.exceptions import InterviewAlreadyExists, InvalidStatusTransition
from interviews.models import (
    Interview,
    InterviewMessage,
    InterviewPlan,
    InterviewSource,
    InterviewStatus,
    MessageRole,
)
from interviews.permissions import Action, InterviewAccessPermission
from interviews.realtime import frames
from interviews.reports.services import interview_report_request
from interviews.services.messages import MessageDraft, interview_lock, messages_build
from interviewsvc.errors import ValidationFailed

ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    InterviewStatus.IN_PROGRESS: {InterviewStatus.PAUSED, InterviewStatus.COMPLETED, InterviewStatus.CANCELLED},
    InterviewStatus.PAUSED: {InterviewStatus.IN_PROGRESS, InterviewStatus.COMPLETED, InterviewStatus.CANCELLED},
}
ENDED = {InterviewStatus.COMPLETED, InterviewStatus.CANCELLED}
# The statuses an import may have: ended ones only, and no transition leaves them, so an
# imported transcript (whose turns were written elsewhere, ``system`` ones included) is never
# continued and never becomes a model's context with the roles it claims.
IMPORT_STATUSES = (InterviewStatus.COMPLETED, InterviewStatus.CANCELLED)


def interview_overall_score(interview: Interview) -> int | None:
    """The rounded mean of the employee's answers' evaluation scores (None: none scored).

    Stored as ``Interview.overall_score`` when the interview ends (completed or cancelled);
    migration 0007 back-filled it with the same rule.
    """
    scores = [
        s
        for s in InterviewMessage.objects.filter(
            interview=interview, role=MessageRole.USER, evaluation__isnull=False
        ).values_list("evaluation__score", flat=True)
        if isinstance(s, int | float)
    ]
    return round(sum(scores) / len(scores)) if scores else None


def pending_turn_clear(interview: Interview) -> list[str]:
    """Forget the turn in progress (the caller saves the returned fields under the row lock)."""
    interview.pending_turn = None
    interview.turn_claim = None
    interview.turn_deadline = None
    return ["pending_turn", "turn_claim", "turn_deadline"]


def interview_status_change(*, interview_id: uuid.UUID, status: str, actor=None) -> Interview:
    """Change the status, checking under the row lock that ``actor`` may (None: a system call).

    Ending an interview (completed, cancelled) drops a pending turn: the interviewer's reply,
    when it comes, is not stored.
    """
    with transaction.atomic():
        interview = interview_lock(interview_id=interview_id)
        if actor is not None:
            InterviewAccessPermission.check(actor, interview, Action.CHANGE_STATUS, target_status=status)
        if status not in ALLOWED_TRANSITIONS.get(interview.status, set()):
            raise InvalidStatusTransition(f"An interview cannot go from {interview.status} to {status}.")
        interview.status = status
        update_fields = ["status", "updated_at"]
        if status in ENDED:
            interview.completed_at = timezone.now()
            # Recomputed as it ends, so the stored score is right whatever happened before.
            interview.overall_score = interview_overall_score(interview)
            update_fields += ["completed_at", "overall_score"]
            if interview.pending_turn is not None:
                update_fields += pending_turn_clear(interview)
        interview.save(update_fields=update_fields)
        batch = [frames.status_changed(interview)]
        if status == InterviewStatus.COMPLETED:
            batch.append(frames.interview_complete(interview, overall_score=interview.overall_score))
            interview_report_request(interview=interview)
        events.publish_on_commit(interview.id, batch)
    return interview


def interview_migrate(
    *,
    user,
    session_id: str,
    history: Sequence[dict],
    language: str,
    technical_level: str,
    status: str = InterviewStatus.COMPLETED,
) -> Interview:
    """Import a conversation kept in the browser, order preserved, once per (employee, session).

    ``history`` items are ``{"role", "content", "timestamp"?}`` (already validated); a missing
    timestamp takes the import time. ``status`` is one of :data:`IMPORT_STATUSES`: every
    message of a migrated interview is imported content, none is ever the service's own.
    """
    if status not in IMPORT_STATUSES:
        raise ValidationFailed(
            f'status: An imported interview is finished: status must be "completed" or "cancelled", not "{status}".',
            errors=[{"field": "status", "error": "Must be completed or cancelled.", "type": "invalid_choice"}],
        )
    if Interview.all_objects.filter(employee=user, session_id=session_id).exists():
        raise InterviewAlreadyExists(f'Session "{session_id}" was already imported.')
    now = timezone.now()
    stamps = [item.get("timestamp") for item in history if item.get("timestamp")]
    interview = Interview(
        employee=user,
        organization_id=user.organization_id,
        language=language,
        technical_level=technical_level,
        status=status,
        source=InterviewSource.MIGRATED,
        session_id=session_id,
        started_at=min(stamps) if stamps else now,
        completed_at=max(stamps) if stamps else now,
    )
    drafts = [
        MessageDraft(
            role=item["role"],
            content=item["content"],
            created_at=item.get("timestamp"),
            is_question=item["role"] == MessageRole.ASSISTANT,
        )
        for item in history
    ]
    messages = messages_build(interview, drafts)
    try:
        with transaction.atomic():
            interview.save(force_insert=True)
            InterviewMessage.objects.bulk_create(messages, batch_size=500)
            if status == InterviewStatus.COMPLETED:  # an imported completed interview gets its report too
                interview_report_request(interview=interview)
    except IntegrityError as exc:
        # A concurrent import of the same session won the race for the unique constraint.
        if Interview.all_objects.filter(employee=user, session_id=session_id).exists():
            raise InterviewAlreadyExists(f'Session "{session_id}" was already imported.') from exc
        raise
    return interview


def interview_plan_save(*, plan: InterviewPlan) -> None:
    """Save an (already validated) plan; making it the default takes the flag from the old one.

    Two admins promoting different plans at once: both lock every plan row first (a small
    table), so the second waits for the first to commit and then, in a fresh statement
    snapshot, sees and clears the new default. The partial unique constraint on
    ``is_default`` stays the backstop.
    """
    with transaction.atomic():
        if plan.is_default:
            list(InterviewPlan.objects.select_for_update().order_by("pk").values_list("pk", flat=True))
            InterviewPlan.objects.filter(is_default=True).exclude(pk=plan.pk).update(is_default=False)
        plan.save()
