"""REST endpoints of the turns: start an interview, continue it with an answer (JSON, or
Server-Sent Events with ``Accept: text/event-stream``; docs/api.md). The turn itself is the
services' (``interviews.services.turns``; docs/architecture.md, "The life of a turn")."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from interviews import meta as original_meta
from interviews import services, sse
from interviews.models import InterviewStatus, Language, TechnicalLevel
from interviews.realtime import frames
from interviews.serializers import (
    AnswerText,
    ClientMessageId,
    InterviewOutputSerializer,
    MessageOutputSerializer,
    interview_data,
    message_data,
)
from interviews.services.turns import connection_release
from interviews.views import ws_url_for
from interviewsvc.api import (
    StrictSerializer,
    exception_handler,
    success_body,
    validated,
)
from interviewsvc.logging import bind_interview
from interviewsvc.schema import envelope, errors_for


class TurnOutputSerializer(serializers.Serializer):
    question = serializers.CharField()
    question_number = serializers.IntegerField()
    is_final = serializers.BooleanField()
    interview = InterviewOutputSerializer()


class StartOutputSerializer(TurnOutputSerializer):
    interview_id = serializers.UUIDField()
    message = MessageOutputSerializer()
    ws_url = serializers.CharField()


class ContinueOutputSerializer(TurnOutputSerializer):
    user_message = MessageOutputSerializer()
    assistant_message = MessageOutputSerializer(allow_null=True)
    report_url = serializers.CharField(
        allow_null=True, help_text="When the interview completed: where its report is (GET; 202 while it is made)"
    )


def turn_responses(status: int, body, errors: dict) -> dict:
    """Start/continue in the schema: the JSON envelope, or (``Accept: text/event-stream``) a
    ``200`` event stream; errors before the stream are JSON whatever was accepted."""
    events = OpenApiResponse(
        OpenApiTypes.STR,
        description=(
            "Server-Sent Events: answer_received (continue), question_delta, question_reset, then result "
            "(the JSON envelope of the plain call) or error (the error envelope). See docs/api.md."
        ),
    )
    return {
        (status, "application/json"): body,
        (200, sse.CONTENT_TYPE): events,
        **{(code, "application/json"): response for code, response in errors.items()},
    }


class TurnView(APIView):
    """Start and continue: JSON, or Server-Sent Events with ``Accept: text/event-stream``."""

    renderer_classes = [JSONRenderer, sse.EventStreamRenderer]
    content_negotiation_class = sse.AcceptHeaderNegotiation

    def finalize_response(self, request, response, *args, **kwargs):
        # Errors before the stream starts are JSON envelopes, whatever the client accepted.
        if isinstance(response, Response) and sse.wanted(request):
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)

    def stream(self, begun, *, opening: list[dict], render):
        connection_release()  # nothing held while the interviewer writes
        request = self.request

        def fail(exc: BaseException) -> dict:
            return exception_handler(exc, {"request": request, "view": self}).data

        return sse.response(sse.turn_events(begun, opening=opening, render=render, fail=fail))


class InterviewStartView(TurnView):
    class StartInputSerializer(StrictSerializer):
        language = serializers.ChoiceField(choices=Language.choices, default=Language.ES)
        technical_level = serializers.ChoiceField(choices=TechnicalLevel.choices, default=TechnicalLevel.BASIC)
        # An interview plan's slug (docs/engine.md); absent or null: the default plan.
        plan = serializers.SlugField(max_length=64, required=False, allow_null=True)

    @extend_schema(
        request=StartInputSerializer,
        operation_id="interviews_start",
        responses=turn_responses(
            201,
            envelope(StartOutputSerializer, meta=original_meta.TurnMetaSerializer),
            errors_for(400, 401, 413, 422, 429, 503),
        ),
        tags=["interviews"],
    )
    def post(self, request):
        data = validated(self.StartInputSerializer, request.data)
        if sse.wanted(request):
            job = services.turn_start_begin(user=request.user, **data)
            bind_interview(job.interview_id)
            return self.stream(job, opening=[], render=lambda result: self.body(result))
        result = services.interview_start(user=request.user, **data)
        bind_interview(result.interview.id)
        return Response(self.body(result), status=201)

    def body(self, result) -> dict:
        data = {
            "question": result.turn.question,
            "question_number": result.turn.index,
            "is_final": result.turn.is_final,
            "interview": interview_data(result.interview),
            "interview_id": str(result.interview.id),
            "message": message_data(result.message),
            "ws_url": ws_url_for(self.request, result.interview.id),
        }
        meta = original_meta.turn_meta(result.interview)
        return success_body(self.request, data, "Interview started", status=201, meta=meta)


class InterviewContinueView(TurnView):
    class ContinueInputSerializer(StrictSerializer):
        interview_id = serializers.UUIDField()
        user_response = AnswerText()
        client_message_id = ClientMessageId()

    @extend_schema(
        request=ContinueInputSerializer,
        operation_id="interviews_continue",
        responses=turn_responses(
            200,
            envelope(ContinueOutputSerializer, meta=original_meta.TurnMetaSerializer),
            errors_for(400, 401, 403, 404, 409, 413, 422, 429, 503),
        ),
        tags=["interviews"],
    )
    def post(self, request):
        data = validated(self.ContinueInputSerializer, request.data)
        bind_interview(data["interview_id"])
        arguments = {
            "actor": request.user,
            "interview_id": data["interview_id"],
            "answer": data["user_response"],
            "client_message_id": data.get("client_message_id"),
        }
        if not sse.wanted(request):
            return Response(self.body(services.interview_continue(**arguments)))
        begun = services.turn_answer_store(**arguments)
        if isinstance(begun, services.ContinueResult):  # recorded and answered before: the first result
            opening = [frames.answer_received(begun.user_message, turn_id=str(begun.user_message.id))]
            return self.stream(None, opening=opening, render=lambda _: self.body(begun))
        replayed = isinstance(begun, services.TurnWait)
        opening = [frames.answer_received(begun.answer, turn_id=begun.turn_id)]
        return self.stream(begun, opening=opening, render=lambda result: self.body(result, replayed=replayed))

    def body(self, result, *, replayed: bool = False) -> dict:
        reply = result.assistant_message
        data = {
            "question": reply.content if reply else "",
            "question_number": result.question_number,
            "is_final": result.is_final,
            "interview": interview_data(result.interview),
            "user_message": message_data(result.user_message),
            "assistant_message": message_data(reply) if reply else None,
            "report_url": frames.report_url(result.interview.id)
            if result.interview.status == InterviewStatus.COMPLETED
            else None,
        }
        message = "Answer already recorded" if result.replayed or replayed else "Answer recorded"
        return success_body(self.request, data, message, meta=original_meta.turn_meta(result.interview))
