"""REST endpoint that imports a transcript written elsewhere (``migrate``, docs/api.md)."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from interviews import services
from interviews.models import InterviewStatus, Language, MessageRole, TechnicalLevel
from interviewsvc.api import StrictCharField, StrictSerializer, success, validated
from interviewsvc.schema import envelope, errors_for


class MigratedMessageSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=MessageRole.choices)
    content = StrictCharField(max_length=settings.MAX_MESSAGE_CHARS, allow_blank=False, trim_whitespace=False)
    timestamp = serializers.DateTimeField(required=False, allow_null=True)


class MigrateOutputSerializer(serializers.Serializer):
    interview_id = serializers.UUIDField()
    message_count = serializers.IntegerField()


class InterviewMigrateView(APIView):
    class MigrateInputSerializer(StrictSerializer):
        session_id = StrictCharField(max_length=255)
        conversation_history = serializers.ListField(
            child=MigratedMessageSerializer(), allow_empty=False, max_length=settings.MIGRATE_MAX_MESSAGES
        )
        language = serializers.ChoiceField(choices=Language.choices)
        technical_level = serializers.ChoiceField(choices=TechnicalLevel.choices, default=TechnicalLevel.BASIC)
        # An import is a finished conversation: it can never be continued, so its turns never
        # reach the interviewer (docs/api.md, "migrate").
        status = serializers.ChoiceField(
            choices=[(s, InterviewStatus(s).label) for s in services.IMPORT_STATUSES],
            default=InterviewStatus.COMPLETED,
            error_messages={
                "invalid_choice": 'An imported interview is finished: status must be "completed" or "cancelled", '
                'not "{input}".'
            },
        )

    @extend_schema(
        request=MigrateInputSerializer,
        operation_id="interviews_migrate",
        responses={201: envelope(MigrateOutputSerializer), **errors_for(400, 401, 409, 413, 422, 429)},
        tags=["interviews"],
    )
    def post(self, request):
        data = validated(self.MigrateInputSerializer, request.data)
        interview = services.interview_migrate(
            user=request.user,
            session_id=data["session_id"],
            history=data["conversation_history"],
            language=data["language"],
            technical_level=data["technical_level"],
            status=data["status"],
        )
        body = {"interview_id": interview.id, "message_count": interview.message_count}
        return success(request, body, "Conversation imported", status=201)
