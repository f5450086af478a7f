"""The one write path for messages.

Gapless numbering: every write locks the interview row (``SELECT … FOR UPDATE``; SQLite's
IMMEDIATE transactions do the same job), takes ``message_count + 1`` onwards and inserts, in
one transaction; ``UNIQUE(interview, sequence_number)`` is the backstop. Realtime frames are
published only after commit.
"""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from interviews import events
from interviews.exceptions import InterviewNotFound
from interviews.models import Interview, InterviewMessage
from interviews.realtime import frames

COUNTER_FIELDS = ["message_count", "question_count", "updated_at"]


@dataclass(frozen=True)
class MessageDraft:
    role: str
    content: str
    client_message_id: str | None = None
    evaluation: dict | None = None
    metadata: dict = field(default_factory=dict)
    created_at: datetime | None = None
    is_question: bool = False


def interview_lock(*, interview_id: uuid.UUID, with_plan: bool = False) -> Interview:
    """Lock the interview row until the surrounding transaction ends.

    ``with_plan``: its plan comes in the same query (the engine reads it when a turn begins);
    only the interview row is locked (``of=("self",)``), not the shared plan row.
    """
    rows = Interview.objects.select_for_update(of=("self",))
    try:
        return (rows.select_related("plan") if with_plan else rows).get(pk=interview_id)
    except Interview.DoesNotExist as exc:
        raise InterviewNotFound() from exc


def messages_build(interview: Interview, drafts: Iterable[MessageDraft]) -> list[InterviewMessage]:
    """Number ``drafts`` after the interview's last message and advance its counters.

    The caller holds the row lock, saves the interview and inserts the returned messages
    in the same transaction.
    """
    now = timezone.now()
    messages = []
    for draft in drafts:
        interview.message_count += 1
        interview.question_count += int(draft.is_question)
        messages.append(
            InterviewMessage(
                interview=interview,
                role=draft.role,
                content=draft.content,
                sequence_number=interview.message_count,
                client_message_id=draft.client_message_id,
                evaluation=draft.evaluation,
                metadata=draft.metadata,
                created_at=draft.created_at or now,
            )
        )
    return messages


def interview_messages_append(*, interview_id: uuid.UUID, drafts: Sequence[MessageDraft]) -> list[InterviewMessage]:
    """Append messages with the next gapless sequence numbers; safe under concurrent writers."""
    with transaction.atomic():
        interview = interview_lock(interview_id=interview_id)
        messages = messages_build(interview, drafts)
        interview.save(update_fields=COUNTER_FIELDS)
        InterviewMessage.objects.bulk_create(messages)
        events.publish_on_commit(interview.id, [frames.message(m) for m in messages])
    return messages


def interview_message_append(*, interview_id: uuid.UUID, role: str, content: str, **extra) -> InterviewMessage:
    return interview_messages_append(
        interview_id=interview_id, drafts=[MessageDraft(role=role, content=content, **extra)]
    )[0]
