"""Output shapes of the contract's resources, shared by the REST API and realtime frames."""

from rest_framework import serializers

from interviews.models import Interview, InterviewMessage


class EvaluationSerializer(serializers.Serializer):
    score = serializers.IntegerField(min_value=0, max_value=100)
    feedback = serializers.CharField(allow_blank=True)
    strengths = serializers.ListField(child=serializers.CharField())
    weaknesses = serializers.ListField(child=serializers.CharField())


class MessageOutputSerializer(serializers.ModelSerializer):
    evaluation = EvaluationSerializer(allow_null=True, read_only=True)

    class Meta:
        model = InterviewMessage
        fields = ["id", "role", "content", "sequence_number", "created_at", "evaluation"]
        read_only_fields = fields


class InterviewOutputSerializer(serializers.ModelSerializer):
    employee_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Interview
        fields = [
            "id",
            "employee_id",
            "organization_id",
            "language",
            "technical_level",
            "status",
            "source",
            "session_id",
            "message_count",
            "question_count",
            "started_at",
            "completed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class InterviewDetailOutputSerializer(InterviewOutputSerializer):
    messages = MessageOutputSerializer(many=True, read_only=True)

    class Meta(InterviewOutputSerializer.Meta):
        fields = [*InterviewOutputSerializer.Meta.fields, "messages"]
        read_only_fields = fields


def message_data(message: InterviewMessage) -> dict:
    return MessageOutputSerializer(message).data


def interview_data(interview: Interview) -> dict:
    return InterviewOutputSerializer(interview).data
