"""Output shapes of the contract's resources, shared by the REST API and realtime frames.

The serializer classes describe the shapes for the OpenAPI schema. At run time the functions
below build the same dicts by hand: a ModelSerializer rebuilds its fields (deep copies, field
mapping) on every instantiation, which was about half of a list request's CPU time
(docs/operations.md, "Benchmarks"). ``tests/interviews/test_serializers.py`` pins that both give
identical output.
"""

from datetime import UTC, datetime

from django.conf import settings
from rest_framework import serializers

from interviews.models import Interview, InterviewMessage, InterviewReview, ReviewDecision, ReviewState
from interviewsvc.api import StrictCharField


class EvaluationSerializer(serializers.Serializer):
    score = serializers.IntegerField(min_value=0, max_value=100)
    feedback = serializers.CharField(allow_blank=True)
    strengths = serializers.ListField(child=serializers.CharField())
    weaknesses = serializers.ListField(child=serializers.CharField())


class MessageOutputSerializer(serializers.ModelSerializer):
    # The original service's name for ``id``, kept for its clients (docs/api.md).
    id_message = serializers.UUIDField(source="id", read_only=True, help_text="Same as id (the original name)")
    evaluation = EvaluationSerializer(allow_null=True, read_only=True)

    class Meta:
        model = InterviewMessage
        fields = ["id", "id_message", "role", "content", "sequence_number", "created_at", "evaluation"]
        read_only_fields = fields


class PendingTurnSerializer(serializers.Serializer):
    """The turn the interviewer is working on (docs/realtime.md, "Turns")."""

    turn_id = serializers.UUIDField(help_text="The answer's message id (a fresh id for the first question)")
    answer_id = serializers.UUIDField(allow_null=True, help_text="The answer waiting for a reply; null at start")
    since = serializers.DateTimeField()


class InterviewOutputSerializer(serializers.ModelSerializer):
    # The original service's names for ``id`` and ``message_count``, kept for its clients (docs/api.md).
    id_interview = serializers.UUIDField(source="id", read_only=True, help_text="Same as id (the original name)")
    employee_id = serializers.UUIDField(read_only=True)
    total_messages = serializers.IntegerField(
        source="message_count", read_only=True, help_text="Same as message_count (the original name)"
    )
    pending_turn = PendingTurnSerializer(allow_null=True, read_only=True)
    overall_score = serializers.IntegerField(
        allow_null=True,
        read_only=True,
        help_text="The rounded mean of the answers' scores (0-100); null until an answer is scored",
    )
    review_state = serializers.ChoiceField(
        choices=ReviewState.choices, read_only=True, help_text="unreviewed, in_review, reviewed or flagged"
    )

    class Meta:
        model = Interview
        fields = [
            "id",
            "id_interview",
            "employee_id",
            "organization_id",
            "language",
            "technical_level",
            "status",
            "source",
            "session_id",
            "message_count",
            "total_messages",
            "question_count",
            "pending_turn",
            "overall_score",
            "review_state",
            "started_at",
            "completed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class InterviewListItemSerializer(InterviewOutputSerializer):
    """A list item: an Interview, plus where it matched when the list is searched."""

    search_snippet = serializers.CharField(
        # Not read_only: drf-spectacular marks read-only fields required, and this one is optional.
        required=False,
        help_text=(
            "Only with ?search=: a short excerpt of the first message that matched, as safe HTML "
            "(the text escaped, the matched words in <mark>…</mark>)"
        ),
    )

    class Meta(InterviewOutputSerializer.Meta):
        fields = [*InterviewOutputSerializer.Meta.fields, "search_snippet"]
        read_only_fields = fields


class InterviewDetailOutputSerializer(InterviewOutputSerializer):
    messages = MessageOutputSerializer(many=True, read_only=True)

    class Meta(InterviewOutputSerializer.Meta):
        fields = [*InterviewOutputSerializer.Meta.fields, "messages"]
        read_only_fields = fields


class ReviewOutputSerializer(serializers.ModelSerializer):
    """One review of an interview (docs/api.md, "Reviews")."""

    interview_id = serializers.UUIDField(read_only=True)
    reviewer_id = serializers.UUIDField(source="reviewer.employee_id", read_only=True)
    reviewer_name = serializers.SerializerMethodField(help_text="The reviewer's full name, or username")
    decision = serializers.ChoiceField(choices=ReviewDecision.choices, read_only=True)
    score_override = serializers.IntegerField(allow_null=True, read_only=True, help_text="0-100, or null")

    def get_reviewer_name(self, review: InterviewReview) -> str:
        return reviewer_name(review.reviewer)

    class Meta:
        model = InterviewReview
        fields = [
            "id",
            "interview_id",
            "reviewer_id",
            "reviewer_name",
            "decision",
            "notes",
            "score_override",
            "override_reason",
            "created_at",
        ]
        read_only_fields = fields


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, as DRF renders datetimes (the API, frames and exports)."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _uuid(value) -> str | None:
    return None if value is None else str(value)


def _evaluation(evaluation: dict | None) -> dict | None:
    if evaluation is None:
        return None
    return {
        "score": int(evaluation["score"]),
        "feedback": str(evaluation["feedback"]),
        "strengths": [str(item) for item in evaluation["strengths"]],
        "weaknesses": [str(item) for item in evaluation["weaknesses"]],
    }


def message_data(message: InterviewMessage) -> dict:
    """A Message as ``MessageOutputSerializer`` renders it."""
    return {
        "id": str(message.id),
        "id_message": str(message.id),
        "role": message.role,
        "content": message.content,
        "sequence_number": message.sequence_number,
        "created_at": iso(message.created_at),
        "evaluation": _evaluation(message.evaluation),
    }


def reviewer_name(user) -> str:
    return user.get_full_name() or user.username


def review_data(review: InterviewReview) -> dict:
    """A Review as ``ReviewOutputSerializer`` renders it (``reviewer`` fetched with it)."""
    return {
        "id": str(review.id),
        "interview_id": str(review.interview_id),
        "reviewer_id": _uuid(review.reviewer.employee_id),
        "reviewer_name": reviewer_name(review.reviewer),
        "decision": review.decision,
        "notes": review.notes,
        "score_override": review.score_override,
        "override_reason": review.override_reason,
        "created_at": iso(review.created_at),
    }


def interview_list_item_data(interview: Interview, search_snippet: str | None = None) -> dict:
    """A list item as ``InterviewListItemSerializer`` renders it: ``search_snippet`` only when searched."""
    data = interview_data(interview)
    if search_snippet is not None:
        data["search_snippet"] = search_snippet
    return data


def interview_data(interview: Interview) -> dict:
    """An Interview as ``InterviewOutputSerializer`` renders it."""
    return {
        "id": str(interview.id),
        "id_interview": str(interview.id),
        "employee_id": _uuid(interview.employee_id),
        "organization_id": _uuid(interview.organization_id),
        "language": interview.language,
        "technical_level": interview.technical_level,
        "status": interview.status,
        "source": interview.source,
        "session_id": interview.session_id,
        "message_count": interview.message_count,
        "total_messages": interview.message_count,
        "question_count": interview.question_count,
        "pending_turn": interview.pending_turn,
        "overall_score": interview.overall_score,
        "review_state": interview.review_state,
        "started_at": iso(interview.started_at),
        "completed_at": iso(interview.completed_at),
        "created_at": iso(interview.created_at),
        "updated_at": iso(interview.updated_at),
    }


# --- input fields shared by REST and the socket ------------------------------------------------


class AnswerText(StrictCharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=settings.MAX_MESSAGE_CHARS, allow_blank=False, trim_whitespace=True, **kwargs)


class ClientMessageId(StrictCharField):
    """The client's idempotency key for an answer."""

    def __init__(self, **kwargs):
        super().__init__(max_length=64, required=False, allow_null=True, **kwargs)
