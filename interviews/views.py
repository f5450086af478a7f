"""REST endpoints for interviews: validate → call a service or selector → serialize.

Input is validated completely before the first query, so malformed input costs nothing.
"""

import hashlib
import uuid

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from interviews import meta as original_meta
from interviews import selectors, services, sse, stats
from interviews.filters import FIRST_DAY, LAST_DAY, InterviewFilter
from interviews.models import InterviewStatus, Language, MessageRole, ReviewState, TechnicalLevel
from interviews.permissions import Action, InterviewAccessPermission, Scope, scope_of
from interviews.realtime import frames
from interviews.serializers import (
    AnswerText,
    ClientMessageId,
    InterviewDetailOutputSerializer,
    InterviewListItemSerializer,
    InterviewOutputSerializer,
    MessageOutputSerializer,
    StrictCharField,
    StrictSerializer,
    interview_data,
    interview_list_item_data,
    message_data,
)
from interviews.services.turns import connection_release
from interviewsvc.api import exception_handler, field_errors, paginate, success, success_body
from interviewsvc.compat import guard
from interviewsvc.errors import ValidationFailed, backend_unavailable
from interviewsvc.logging import bind_interview
from interviewsvc.schema import envelope, errors_for


def validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def parse_uuid(value: str, field: str = "interview_id") -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise ValidationFailed(
            f"{field}: Must be a valid UUID.",
            errors=[{"field": field, "error": "Must be a valid UUID.", "type": "invalid_uuid"}],
        ) from exc


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
        }
        message = "Answer already recorded" if result.replayed or replayed else "Answer recorded"
        return success_body(self.request, data, message, meta=original_meta.turn_meta(result.interview))


# --- list / stats ----------------------------------------------------------------------------


class ListQuerySerializer(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, default=1)
    page_size = serializers.IntegerField(min_value=1, max_value=100, default=20)


def filtered_interviews(request):
    """The caller's interviews narrowed by the list's query parameters (422 when invalid).

    Employees' ``employee_id`` filter is ignored: they only ever see their own.
    """
    params = request.query_params.copy()
    if scope_of(request.user) is Scope.OWN:
        params.pop("employee_id", None)
    filterset = InterviewFilter(params, queryset=selectors.interview_list_visible_to(user=request.user))
    if not filterset.is_valid():
        errors = field_errors(_form_errors(filterset.errors))
        raise ValidationFailed(f"{errors[0]['field']}: {errors[0]['error']}", errors=errors)
    return filterset


# list_total keys its cache on Django's Query.sql_with_params(): range in interviewsvc/compat.py.
guard(__name__)


def list_total(queryset) -> int:
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


def _form_errors(form_errors) -> dict:
    return {
        field: [serializers.ErrorDetail(e["message"], code=e["code"] or "invalid") for e in errs]
        for field, errs in form_errors.get_json_data().items()
    }


DATE_DESCRIPTION = f"ISO date, inclusive, on started_at; from {FIRST_DAY} to {LAST_DAY} (422 outside)"
LIST_PARAMETERS = [
    OpenApiParameter("status", enum=InterviewStatus.values),
    OpenApiParameter("review_state", enum=ReviewState.values),
    OpenApiParameter("language", enum=Language.values),
    OpenApiParameter("technical_level", enum=TechnicalLevel.values),
    OpenApiParameter("employee_id", type=uuid.UUID),
    OpenApiParameter("start_date", type=OpenApiTypes.DATE, description=DATE_DESCRIPTION),
    OpenApiParameter("end_date", type=OpenApiTypes.DATE, description=DATE_DESCRIPTION),
    OpenApiParameter(
        "search",
        type=str,
        description=(
            "Words in the interview's messages (PostgreSQL: full text over the whole interview, stemmed in its "
            "language, web search syntax; SQLite: substring of one message). The list adds search_snippet to each item"
        ),
    ),
    OpenApiParameter("ordering", enum=["started_at", "-started_at", "updated_at", "-updated_at"]),
]


class InterviewListView(APIView):
    @extend_schema(
        parameters=[
            *LIST_PARAMETERS,
            OpenApiParameter("page", type=int),
            OpenApiParameter("page_size", type=int, description="Default 20, at most 100"),
        ],
        operation_id="interviews_list",
        responses={
            200: envelope(
                InterviewListItemSerializer, many=True, listing=True, meta=original_meta.InterviewListMetaSerializer
            ),
            **errors_for(401, 422, 429),
        },
        tags=["interviews"],
    )
    def get(self, request):
        paging = validated(
            ListQuerySerializer, {k: v for k, v in request.query_params.items() if k in ("page", "page_size")}
        )
        filterset = filtered_interviews(request)
        queryset = filterset.qs
        if "ordering" not in filterset.applied():
            queryset = queryset.order_by("-started_at", "-id")
        offset, limit, pagination = paginate(
            page=paging["page"], page_size=paging["page_size"], total=list_total(queryset)
        )
        search = filterset.applied().get("search", "").strip()
        rows = list(queryset[offset : offset + limit]) if offset < pagination["total_items"] else []
        meta = {
            "pagination": pagination,
            "filters": filterset.applied(),
            "scope": str(scope_of(request.user)),
            **original_meta.list_meta(request.user),
        }
        if not search:
            return success(request, [interview_data(row) for row in rows], "Interviews retrieved", meta=meta)
        # Searched: each item says where it matched (one more query for the page).
        snippets = selectors.interview_search_snippets(interviews=rows, text=search)
        items = [interview_list_item_data(row, snippets.get(row.id, "")) for row in rows]
        return success(request, items, "Interviews retrieved", meta=meta)


class StatsOutputSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    by_language = serializers.DictField(child=serializers.IntegerField())
    average_duration_minutes = serializers.FloatField(allow_null=True)
    average_messages = serializers.FloatField(allow_null=True)
    scope = serializers.CharField()


def _counts(child) -> serializers.ListField:
    return serializers.ListField(child=child)


class StatsSeriesOutputSerializer(serializers.Serializer):
    """``?series=week`` (interviews/stats.py): one entry per week in every list, aligned with ``weeks``."""

    bucket = serializers.ChoiceField(choices=stats.SERIES_CHOICES)
    weeks = _counts(serializers.DateField())
    started = _counts(serializers.IntegerField())
    completed = _counts(serializers.IntegerField())
    abandoned = _counts(serializers.IntegerField())
    completion_rate = _counts(serializers.FloatField(allow_null=True))
    abandonment_rate = _counts(serializers.FloatField(allow_null=True))
    average_score = _counts(serializers.FloatField(allow_null=True))
    scored = _counts(serializers.IntegerField())
    by_language = serializers.DictField(child=_counts(serializers.IntegerField()))
    by_technical_level = serializers.DictField(child=_counts(serializers.IntegerField()))
    by_plan = serializers.DictField(child=_counts(serializers.IntegerField()))
    plan_names = serializers.DictField(child=serializers.CharField())
    review_backlog = serializers.DictField(child=serializers.IntegerField())
    abandoned_after_days = serializers.IntegerField()


class StatsWithSeriesOutputSerializer(StatsOutputSerializer):
    series = StatsSeriesOutputSerializer(required=False, help_text="Only with ?series=week")


class StatsQuerySerializer(serializers.Serializer):
    series = serializers.ChoiceField(choices=stats.SERIES_CHOICES, required=False, allow_blank=True)


class InterviewStatsView(APIView):
    @extend_schema(
        parameters=[
            *LIST_PARAMETERS,
            OpenApiParameter(
                "series",
                enum=stats.SERIES_CHOICES,
                description="Add weekly series (started, completed, rates, scores, breakdowns, review backlog)",
            ),
        ],
        operation_id="interviews_stats",
        responses={200: envelope(StatsWithSeriesOutputSerializer), **errors_for(401, 422, 429)},
        tags=["interviews"],
    )
    def get(self, request):
        query = validated(StatsQuerySerializer, {k: v for k, v in request.query_params.items() if k == "series"})
        queryset = filtered_interviews(request).qs
        body = {**stats.interview_stats(queryset=queryset), "scope": str(scope_of(request.user))}
        if query.get("series"):
            body["series"] = stats.interview_stats_series(queryset=queryset)
        return success(request, body, "Interview statistics")


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


# --- import ----------------------------------------------------------------------------------


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
