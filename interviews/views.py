"""REST endpoints for interviews and their turns: validate → call a service or selector → serialize.

Here: start and continue, one interview (detail, PATCH, messages) and its socket ticket. The
list and statistics are in ``interviews/list_views.py``, the import in
``interviews/import_views.py``, reviews in ``interviews/reviews_views.py``, exports in
``interviews/exports/views.py``; what they share is in ``interviewsvc/api.py``.

Input is validated completely before the first query, so malformed input costs nothing.
"""

import uuid

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from interviews import meta as original_meta
from interviews import selectors, services, sse
from interviews.models import InterviewStatus, Language, TechnicalLevel
from interviews.permissions import Action, InterviewAccessPermission
from interviews.realtime import frames
from interviews.serializers import (
    AnswerText,
    ClientMessageId,
    InterviewDetailOutputSerializer,
    InterviewOutputSerializer,
    MessageOutputSerializer,
    interview_data,
    message_data,
)
from interviews.services import lifecycle
from interviews.services.turns import connection_release
from interviewsvc.api import (
    StrictSerializer,
    exception_handler,
    parse_uuid,
    success,
    success_body,
    validated,
)
from interviewsvc.logging import bind_interview
from interviewsvc.schema import envelope, errors_for


def ws_url_for(request, interview_id) -> str:
    base = settings.PUBLIC_WS_BASE_URL.rstrip("/")
    if not base:
        scheme = "wss" if request.is_secure() else "ws"
        base = f"{scheme}://{request.get_host()}"
    return f"{base}/ws/interviews/{interview_id}/"


class InterviewObjectView(APIView):
    """Base for endpoints about one interview: parses the id, loads it, checks access."""

    permission_classes = [InterviewAccessPermission]
    interview_action = Action.VIEW

    def get_interview(self, interview_id: uuid.UUID):
        bind_interview(interview_id)
        interview = selectors.interview_get(interview_id=interview_id)
        self.check_object_permissions(self.request, interview)
        return interview


# --- start / continue ------------------------------------------------------------------------


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


# --- one interview ---------------------------------------------------------------------------


class InterviewDetailView(InterviewObjectView):
    class PatchInputSerializer(StrictSerializer):
        status = serializers.ChoiceField(choices=InterviewStatus.choices)

    @extend_schema(
        operation_id="interviews_retrieve",
        responses={
            200: envelope(InterviewDetailOutputSerializer, meta=original_meta.InterviewMetaSerializer),
            **errors_for(401, 403, 404, 422, 429),
        },
        tags=["interviews"],
    )
    def get(self, request, interview_id):
        interview = self.get_interview(parse_uuid(interview_id))
        data = interview_data(interview)
        data["messages"] = [message_data(m) for m in selectors.interview_messages(interview=interview)]
        return success(request, data, "Interview retrieved", meta=original_meta.interview_meta(interview))

    @extend_schema(
        request=PatchInputSerializer,
        operation_id="interviews_update_status",
        responses={
            200: envelope(InterviewOutputSerializer, meta=original_meta.UpdateMetaSerializer),
            **errors_for(400, 401, 403, 404, 409, 413, 422, 429),
        },
        tags=["interviews"],
    )
    def patch(self, request, interview_id):
        pk = parse_uuid(interview_id)
        data = validated(self.PatchInputSerializer, request.data)
        bind_interview(pk)
        # Access (CHANGE_STATUS to this status) is checked by the service, under the row lock.
        interview = services.interview_status_change(interview_id=pk, status=data["status"], actor=request.user)
        # Every accepted PATCH changes what it was sent: a transition to the same status is a 409.
        meta = original_meta.update_meta(list(data))
        return success(request, interview_data(interview), "Interview updated", meta=meta)

    @extend_schema(
        operation_id="interviews_destroy",
        description=(
            "Soft-delete the interview: from now on it is 404 everywhere, as if it did not exist, and its open "
            "sockets close with 4404. Admins of its organization and superusers only (403 for anyone else who "
            "sees it). Restorable from the admin for SOFT_DELETE_DAYS, then purged for good."
        ),
        responses={
            204: OpenApiResponse(description="Deleted (restorable by an admin)"),
            **errors_for(401, 403, 404, 422, 429),
        },
        tags=["interviews"],
    )
    def delete(self, request, interview_id):
        pk = parse_uuid(interview_id)
        bind_interview(pk)
        # Access (DELETE) is checked by the service, under the row lock.
        lifecycle.interview_soft_delete(interview_id=pk, actor=request.user)
        return Response(status=204)


class InterviewMessagesView(InterviewObjectView):
    class QuerySerializer(serializers.Serializer):
        after = serializers.IntegerField(min_value=0, default=0)
        limit = serializers.IntegerField(min_value=1, max_value=500, default=100)

    @extend_schema(
        parameters=[
            OpenApiParameter("after", type=int, description="Sequence number; default 0"),
            OpenApiParameter("limit", type=int, description="Default 100, at most 500"),
        ],
        operation_id="interviews_messages",
        responses={200: envelope(MessageOutputSerializer, many=True), **errors_for(401, 403, 404, 422, 429)},
        tags=["interviews"],
    )
    def get(self, request, interview_id):
        pk = parse_uuid(interview_id)
        query = validated(
            self.QuerySerializer, {k: v for k, v in request.query_params.items() if k in ("after", "limit")}
        )
        interview = self.get_interview(pk)
        messages = selectors.interview_messages(interview=interview, after=query["after"], limit=query["limit"])
        return success(request, [message_data(m) for m in messages], "Messages retrieved")


# --- realtime --------------------------------------------------------------------------------


class WsTicketOutputSerializer(serializers.Serializer):
    ticket = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds the ticket stays valid")
    ws_url = serializers.CharField(help_text="The socket URL; connect to it with ?ticket=<ticket>")


class InterviewWsTicketView(InterviewObjectView):
    """A one-time ticket that opens one WebSocket to this interview (``docs/realtime.md``).

    Anyone who may view the interview gets one: the socket decides participant or observer.
    """

    interview_action = Action.VIEW

    @extend_schema(
        request=None,
        operation_id="interviews_ws_ticket",
        responses={200: envelope(WsTicketOutputSerializer), **errors_for(401, 403, 404, 422, 429)},
        tags=["interviews"],
    )
    def post(self, request, interview_id):
        from interviews.tickets import ticket_issue

        interview = self.get_interview(parse_uuid(interview_id))
        body = {
            "ticket": ticket_issue(user=request.user, interview_id=interview.id),
            "expires_in": settings.WS_TICKET_TTL_SECONDS,
            "ws_url": ws_url_for(request, interview.id),
        }
        return success(request, WsTicketOutputSerializer(body).data, "WebSocket ticket issued")
