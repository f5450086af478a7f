"""Writes to interviews. The only code that creates messages or changes an interview's status.

Gapless numbering: every write locks the interview row (``SELECT … FOR UPDATE``; SQLite's
IMMEDIATE transactions do the same job), takes ``message_count + 1`` onwards and inserts, in
one transaction; ``UNIQUE(interview, sequence_number)`` is the backstop. Realtime frames are
published only after commit.
"""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from interviews import events
from interviews.engine import Turn, get_engine
from interviews.engine.plans import plan_for_start
from interviews.exceptions import (
    InterviewAlreadyExists,
    InterviewNotActive,
    InterviewNotFound,
    InvalidStatusTransition,
)
from interviews.models import (
    Interview,
    InterviewMessage,
    InterviewSource,
    InterviewStatus,
    MessageRole,
)
from interviews.serializers import interview_data, message_data

ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    InterviewStatus.IN_PROGRESS: {InterviewStatus.PAUSED, InterviewStatus.COMPLETED, InterviewStatus.CANCELLED},
    InterviewStatus.PAUSED: {InterviewStatus.IN_PROGRESS, InterviewStatus.COMPLETED, InterviewStatus.CANCELLED},
}
ENDED = {InterviewStatus.COMPLETED, InterviewStatus.CANCELLED}


@dataclass(frozen=True)
class MessageDraft:
    role: str
    content: str
    client_message_id: str | None = None
    evaluation: dict | None = None
    metadata: dict = field(default_factory=dict)
    created_at: datetime | None = None
    is_question: bool = False


@dataclass(frozen=True)
class StartResult:
    interview: Interview
    message: InterviewMessage
    turn: Turn


@dataclass(frozen=True)
class ContinueResult:
    interview: Interview
    user_message: InterviewMessage
    assistant_message: InterviewMessage | None
    question_number: int
    is_final: bool
    replayed: bool = False


# --- the one write path for messages ----------------------------------------------------------


def interview_lock(*, interview_id: uuid.UUID) -> Interview:
    """Lock the interview row until the surrounding transaction ends.

    Its plan comes in the same query (the engine reads it every turn); only the interview row
    is locked (``of=("self",)``), not the shared plan row.
    """
    try:
        return Interview.objects.select_for_update(of=("self",)).select_related("plan").get(pk=interview_id)
    except Interview.DoesNotExist as exc:
        raise InterviewNotFound() from exc


def _messages_build(interview: Interview, drafts: Iterable[MessageDraft]) -> list[InterviewMessage]:
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


_COUNTER_FIELDS = ["message_count", "question_count", "updated_at"]


def interview_messages_append(*, interview_id: uuid.UUID, drafts: Sequence[MessageDraft]) -> list[InterviewMessage]:
    """Append messages with the next gapless sequence numbers; safe under concurrent writers."""
    with transaction.atomic():
        interview = interview_lock(interview_id=interview_id)
        messages = _messages_build(interview, drafts)
        interview.save(update_fields=_COUNTER_FIELDS)
        InterviewMessage.objects.bulk_create(messages)
        events.publish_on_commit(interview.id, [{"type": "message", "message": message_data(m)} for m in messages])
    return messages


def interview_message_append(*, interview_id: uuid.UUID, role: str, content: str, **extra) -> InterviewMessage:
    return interview_messages_append(
        interview_id=interview_id, drafts=[MessageDraft(role=role, content=content, **extra)]
    )[0]


# --- turns -----------------------------------------------------------------------------------


def _question_draft(turn: Turn) -> MessageDraft:
    return MessageDraft(
        role=MessageRole.ASSISTANT,
        content=turn.question,
        metadata={"index": turn.index, "total": turn.total, "is_final": turn.is_final},
        is_question=not turn.is_final,
    )


def _question_frame(message: InterviewMessage) -> dict:
    return {
        "type": "question",
        "message_id": str(message.id),
        "sequence_number": message.sequence_number,
        "text": message.content,
        "index": message.metadata.get("index"),
        "total": message.metadata.get("total"),
    }


def interview_start(*, user, language: str, technical_level: str, plan: str | None = None) -> StartResult:
    """Create an interview for ``user`` and persist the interviewer's first question as #1.

    ``plan`` is an interview plan's slug (None: the default plan); an unknown or inactive one
    raises ``ValidationFailed``. The plan is kept on the interview for every later turn.
    """
    engine = get_engine()
    interview_plan = plan_for_start(slug=plan)
    with transaction.atomic():
        interview = Interview(
            employee=user,
            organization_id=user.organization_id,
            language=language,
            technical_level=technical_level,
            plan=interview_plan,
            started_at=timezone.now(),
        )
        turn = engine.first_turn(interview)
        [message] = _messages_build(interview, [_question_draft(turn)])
        interview.save(force_insert=True)
        InterviewMessage.objects.bulk_create([message])
    return StartResult(interview=interview, message=message, turn=turn)


def _overall_score(interview: Interview) -> int | None:
    scores = [
        s
        for s in InterviewMessage.objects.filter(
            interview=interview, role=MessageRole.USER, evaluation__isnull=False
        ).values_list("evaluation__score", flat=True)
        if isinstance(s, int | float)
    ]
    return round(sum(scores) / len(scores)) if scores else None


def _replay(interview: Interview, prior: InterviewMessage) -> ContinueResult:
    reply = InterviewMessage.objects.filter(
        interview=interview, sequence_number=prior.sequence_number + 1, role=MessageRole.ASSISTANT
    ).first()
    meta = reply.metadata if reply else {}
    return ContinueResult(
        interview=interview,
        user_message=prior,
        assistant_message=reply,
        question_number=meta.get("index", interview.question_count),
        is_final=bool(meta.get("is_final", False)),
        replayed=True,
    )


def interview_continue(*, interview_id: uuid.UUID, answer: str, client_message_id: str | None = None) -> ContinueResult:
    """Persist the employee's answer and the interviewer's reply as one turn.

    The engine is asked while the row is locked, so concurrent answers to one interview take
    turns instead of interleaving; if the engine fails, nothing of the turn is written. A
    repeated ``client_message_id`` returns the first result and writes nothing.
    """
    engine = get_engine()
    with transaction.atomic():
        interview = interview_lock(interview_id=interview_id)
        if client_message_id:
            prior = InterviewMessage.objects.filter(interview=interview, client_message_id=client_message_id).first()
            if prior is not None:
                return _replay(interview, prior)
        if interview.status != InterviewStatus.IN_PROGRESS:
            raise InterviewNotActive(
                f"The interview is {interview.status}; only an interview in progress takes answers."
            )
        history = InterviewMessage.objects.filter(interview=interview).order_by("sequence_number")
        turn = engine.next_turn(interview, history, answer)
        evaluation = turn.evaluation.as_dict() if turn.evaluation else None
        user_draft = MessageDraft(
            role=MessageRole.USER, content=answer, client_message_id=client_message_id, evaluation=evaluation
        )
        user_message, reply = _messages_build(interview, [user_draft, _question_draft(turn)])
        update_fields = [*_COUNTER_FIELDS, "engine_state"]
        if turn.is_final:
            interview.status = InterviewStatus.COMPLETED
            interview.completed_at = timezone.now()
            update_fields += ["status", "completed_at"]
        interview.save(update_fields=update_fields)
        InterviewMessage.objects.bulk_create([user_message, reply])

        frames = [
            {
                "type": "answer_received",
                "message_id": str(user_message.id),
                "sequence_number": user_message.sequence_number,
                "client_message_id": client_message_id,
            },
            {"type": "message", "message": message_data(user_message)},
        ]
        if evaluation:
            frames.append({"type": "evaluation", "answer_id": str(user_message.id), **evaluation})
        frames += [_question_frame(reply), {"type": "message", "message": message_data(reply)}]
        if turn.is_final:
            frames.append(
                {
                    "type": "interview_complete",
                    "interview_id": str(interview.id),
                    "overall_score": _overall_score(interview),
                    "total_questions": interview.question_count,
                    "status": interview.status,
                }
            )
        events.publish_on_commit(interview.id, frames)
    return ContinueResult(
        interview=interview,
        user_message=user_message,
        assistant_message=reply,
        question_number=turn.index,
        is_final=turn.is_final,
    )


# --- status ----------------------------------------------------------------------------------


def interview_status_change(*, interview_id: uuid.UUID, status: str) -> Interview:
    with transaction.atomic():
        interview = interview_lock(interview_id=interview_id)
        if status not in ALLOWED_TRANSITIONS.get(interview.status, set()):
            raise InvalidStatusTransition(f"An interview cannot go from {interview.status} to {status}.")
        interview.status = status
        update_fields = ["status", "updated_at"]
        if status in ENDED:
            interview.completed_at = timezone.now()
            update_fields.append("completed_at")
        interview.save(update_fields=update_fields)
        frames = [{"type": "status_changed", "status": status, "interview": interview_data(interview)}]
        if status == InterviewStatus.COMPLETED:
            frames.append(
                {
                    "type": "interview_complete",
                    "interview_id": str(interview.id),
                    "overall_score": _overall_score(interview),
                    "total_questions": interview.question_count,
                    "status": status,
                }
            )
        events.publish_on_commit(interview.id, frames)
    return interview


# --- import ----------------------------------------------------------------------------------


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
    timestamp takes the import time.
    """
    if Interview.objects.filter(employee=user, session_id=session_id).exists():
        raise InterviewAlreadyExists(f"Session {session_id!r} was already imported.")
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
        completed_at=(max(stamps) if stamps else now) if status in ENDED else None,
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
    messages = _messages_build(interview, drafts)
    try:
        with transaction.atomic():
            interview.save(force_insert=True)
            InterviewMessage.objects.bulk_create(messages, batch_size=500)
    except IntegrityError as exc:
        # A concurrent import of the same session won the race for the unique constraint.
        if Interview.objects.filter(employee=user, session_id=session_id).exists():
            raise InterviewAlreadyExists(f"Session {session_id!r} was already imported.") from exc
        raise
    return interview
