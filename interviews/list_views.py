"""REST endpoints over many interviews: the list (filters, search, pages) and the statistics."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from interviews import meta as original_meta
from interviews import selectors, stats
from interviews.filters import LIST_PARAMETERS, interview_list_filtered
from interviews.permissions import scope_of
from interviews.serializers import InterviewListItemSerializer, interview_data, interview_list_item_data
from interviewsvc.api import page_params, paginate, success, validated
from interviewsvc.schema import envelope, errors_for


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
        paging = page_params(request)
        filterset = interview_list_filtered(request)
        queryset = filterset.qs
        if "ordering" not in filterset.applied():
            queryset = queryset.order_by("-started_at", "-id")
        offset, limit, pagination = paginate(
            page=paging["page"], page_size=paging["page_size"], total=selectors.interview_count(queryset)
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
        queryset = interview_list_filtered(request).qs
        body = selectors.interview_stats(queryset=queryset, series=bool(query.get("series")))
        return success(request, {**body, "scope": str(scope_of(request.user))}, "Interview statistics")
