"""Reads of interviews and messages. Every list is scoped by ``permissions.scope_filter``."""

import uuid

from django.db.models import QuerySet

from interviews import search
from interviews.engine.plans import builtin_plan_data
from interviews.exceptions import InterviewNotActive, InterviewNotFound, TurnInProgress, UnknownPlan
from interviews.models import (
    Interview,
    InterviewMessage,
    InterviewPlan,
    InterviewReview,
    InterviewStatus,
    MessageRole,
)
from interviews.permissions import scope_filter


def interview_get(*, interview_id: uuid.UUID) -> Interview:
    try:
        return Interview.objects.get(pk=interview_id)
    except Interview.DoesNotExist as exc:
        raise InterviewNotFound() from exc


def interview_list_visible_to(*, user) -> QuerySet[Interview]:
    return Interview.objects.filter(scope_filter(user))


def interview_search(queryset: QuerySet[Interview], text: str) -> QuerySet[Interview]:
    """Interviews with a message matching ``text``: full text on PostgreSQL (interviews/search.py)."""
    return search.interview_search(queryset, text)


def interview_search_snippets(*, interviews: list[Interview], text: str) -> dict[uuid.UUID, str]:
    """Per interview of a page, safe HTML around where its first matching message matched."""
    using = interviews[0]._state.db if interviews else "default"
    return search.interview_search_snippets(interview_ids=[i.id for i in interviews], text=text, using=using)


def interview_messages(*, interview: Interview, after: int = 0, limit: int | None = None) -> QuerySet[InterviewMessage]:
    messages = InterviewMessage.objects.filter(interview=interview, sequence_number__gt=after).order_by(
        "sequence_number"
    )
    return messages[:limit] if limit is not None else messages


def interview_last_sequence(*, interview: Interview) -> int:
    return interview.message_count


def interview_waiting_question(*, interview_id: uuid.UUID) -> InterviewMessage:
    """The interviewer's latest question, waiting for an answer. Two queries.

    Raises ``InterviewNotActive`` unless the interview is in progress (a paused, completed or
    cancelled interview has no question waiting) and ``TurnInProgress`` while the interviewer
    is still writing the next one.
    """
    interview = interview_get(interview_id=interview_id)
    if interview.status != InterviewStatus.IN_PROGRESS:
        raise InterviewNotActive(f"The interview is {interview.status}; no question is waiting for an answer.")
    if interview.pending_turn is not None:
        raise TurnInProgress("The interviewer is still writing the next question; it will follow on this socket.")
    question = (
        InterviewMessage.objects.filter(interview_id=interview_id, role=MessageRole.ASSISTANT)
        .order_by("-sequence_number")
        .first()
    )
    if question is None:
        raise InterviewNotActive("The interviewer has not asked a question yet.")
    return question


def plan_for_start(*, slug: str | None) -> InterviewPlan | None:
    """The :class:`InterviewPlan` a new interview follows, or None for the built-in plan.

    No slug: the default row (none: built-in). A slug must name an active plan; the built-in
    plan's own slug is accepted even without a row. Anything else raises :class:`UnknownPlan`.
    """
    if not slug:
        return InterviewPlan.objects.filter(is_default=True, is_active=True).first()
    plan = InterviewPlan.objects.filter(slug=slug).first()
    if plan is not None and plan.is_active:
        return plan
    if plan is None and slug == builtin_plan_data()["slug"]:
        return None
    message = f'Unknown or inactive plan "{slug}".'
    raise UnknownPlan(f"plan: {message}", errors=[{"field": "plan", "error": message, "type": "unknown_plan"}])


def interview_reviews(*, interview: Interview) -> QuerySet[InterviewReview]:
    """The interview's reviews, oldest first, with their reviewers (one query)."""
    return InterviewReview.objects.filter(interview=interview).select_related("reviewer").order_by("created_at", "id")
