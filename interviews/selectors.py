"""Reads of interviews and messages. Every list is scoped by ``permissions.scope_filter``."""

import hashlib
import uuid

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.db.models import QuerySet

from interviews import search, stats
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
from interviewsvc.compat import guard
from interviewsvc.errors import backend_unavailable

# interview_count keys its cache on Django's Query.sql_with_params(): range in interviewsvc/compat.py.
guard(__name__)


def interview_get(*, interview_id: uuid.UUID) -> Interview:
    try:
        return Interview.objects.get(pk=interview_id)
    except Interview.DoesNotExist as exc:
        raise InterviewNotFound() from exc


def interview_list_visible_to(*, user) -> QuerySet[Interview]:
    return Interview.objects.filter(scope_filter(user))


def interview_count(queryset: QuerySet[Interview]) -> int:
    """``queryset.count()``; a large count is cached for ``LIST_COUNT_CACHE_SECONDS``.

    Counting is linear in the rows counted: 100,000 visible interviews cost PostgreSQL ~13 ms
    per list request, which capped the whole list at ~150 requests/s (docs/operations.md). A
    total of at least ``LIST_COUNT_CACHE_MIN_ITEMS`` is kept per count query (scope and
    filters), so such a ``total_items`` may lag by those seconds; smaller totals are exact.
    """
    ttl = settings.LIST_COUNT_CACHE_SECONDS
    if ttl <= 0:
        return queryset.count()
    try:
        sql, params = queryset.order_by().query.sql_with_params()
    except EmptyResultSet:  # e.g. a search whose index found no interview (filter by no ids)
        return 0
    key = "interviews:list-count:" + hashlib.sha256(repr((sql, params)).encode()).hexdigest()
    try:
        total = cache.get(key)
    except Exception as exc:
        if not backend_unavailable(exc):
            raise
        return queryset.count()  # the cache (Redis) is restarting: count, as if never cached
    if total is None:
        total = queryset.count()
        if total >= settings.LIST_COUNT_CACHE_MIN_ITEMS:
            cache.set(key, total, ttl)
    return total


def interview_stats(*, queryset: QuerySet[Interview], series: bool = False) -> dict:
    """Totals of ``queryset`` (interviews/stats.py) and, with ``series``, its weekly series.

    Four aggregate queries, seven with the series, whatever the number of interviews.
    """
    body = stats.interview_stats(queryset=queryset)
    if series:
        body["series"] = stats.interview_stats_series(queryset=queryset)
    return body


def interview_search(queryset: QuerySet[Interview], text: str) -> QuerySet[Interview]:
    """Interviews with a message matching ``text``: full text on PostgreSQL (interviews/search.py)."""
    return search.interview_search(queryset, text)


def interview_search_snippets(*, interviews: list[Interview], text: str) -> dict[uuid.UUID, str]:
    """Per interview of a page, safe HTML around where its first matching message matched."""
    using = interviews[0]._state.db if interviews else "default"
    return search.interview_search_snippets(interview_ids=[i.id for i in interviews], text=text, using=using)


def interview_messages(
    *, interview: Interview | uuid.UUID, after: int = 0, limit: int | None = None
) -> QuerySet[InterviewMessage]:
    """Messages numbered above ``after``, in order. Given an id rather than a loaded (so live)
    interview, as the socket's ``resume`` does, none of a soft-deleted interview (one join)."""
    messages = InterviewMessage.objects.filter(interview=interview, sequence_number__gt=after).order_by(
        "sequence_number"
    )
    if not isinstance(interview, Interview):
        messages = messages.filter(interview__deleted_at__isnull=True)
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


def plan_choose(*, slug: str | None) -> InterviewPlan | None:
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
