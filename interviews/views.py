"""REST endpoints for one interview: validate → call a service or selector → serialize.

Here: detail, PATCH, DELETE, messages and the socket ticket, and what the interview views
share (``InterviewObjectView``, ``ws_url_for``). Start and continue are in
``interviews/turn_views.py``, the list and statistics in ``interviews/list_views.py``, the import in
``interviews/import_views.py``, reviews in ``interviews/reviews_views.py``, exports in
``interviews/exports/views.py``; what they share is in ``interviewsvc/api.py``.

Input is validated completely before the first query, so malformed input costs nothing.
"""

import uuid

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from interviews import meta as original_meta
from interviews import selectors, services
from interviews.models import InterviewStatus
from interviews.permissions import Action, InterviewAccessPermission
from interviews.serializers import (
    InterviewDetailOutputSerializer,
    InterviewOutputSerializer,
    MessageOutputSerializer,
    interview_data,
    message_data,
)
from interviews.services import lifecycle
from interviewsvc.api import (
    StrictSerializer,
    parse_uuid,
    success,
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
