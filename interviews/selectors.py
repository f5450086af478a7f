"""Reads of interviews and messages. Every list is scoped by ``permissions.scope_filter``."""

import uuid

from django.db.models import Exists, OuterRef, QuerySet

from interviews.exceptions import InterviewNotFound
from interviews.models import Interview, InterviewMessage
from interviews.permissions import scope_filter


def interview_get(*, interview_id: uuid.UUID) -> Interview:
    try:
        return Interview.objects.get(pk=interview_id)
    except Interview.DoesNotExist as exc:
        raise InterviewNotFound() from exc


def interview_list_visible_to(*, user) -> QuerySet[Interview]:
    return Interview.objects.filter(scope_filter(user))


def interview_search(queryset: QuerySet[Interview], text: str) -> QuerySet[Interview]:
    """Interviews with a message containing ``text`` (case-insensitive)."""
    matches = InterviewMessage.objects.filter(interview=OuterRef("pk"), content__icontains=text)
    return queryset.filter(Exists(matches))


def interview_messages(*, interview: Interview, after: int = 0, limit: int | None = None) -> QuerySet[InterviewMessage]:
    messages = InterviewMessage.objects.filter(interview=interview, sequence_number__gt=after).order_by(
        "sequence_number"
    )
    return messages[:limit] if limit is not None else messages


def interview_last_sequence(*, interview: Interview) -> int:
    return interview.message_count
