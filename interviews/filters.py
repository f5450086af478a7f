"""The interview list's query parameters: one FilterSet, shared by list, stats, bulk export and
the dashboard, and their OpenAPI description."""

import uuid
from datetime import UTC, date, datetime, time, timedelta

import django_filters
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from interviews.models import Interview, InterviewStatus, Language, ReviewState, TechnicalLevel
from interviews.permissions import Scope, scope_of
from interviews.selectors import interview_list_visible_to, interview_search
from interviewsvc.api import filterset_validated
from interviewsvc.compat import guard

# InterviewFilter.get_form_class relies on django-filter's: range in interviewsvc/compat.py.
guard(__name__)

ORDERINGS = ["started_at", "-started_at", "updated_at", "-updated_at"]


# Dates outside these bounds are refused (422): the end of 9999-12-31 is past datetime.max, and
# no interview started before 1900 or after 2999, so nothing a real query asks for is lost.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2999, 12, 31)
BOUNDS_MESSAGE = f"Enter a date from {FIRST_DAY} to {LAST_DAY}."


def _day_start(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _bounded_date_filter(method: str) -> django_filters.DateFilter:
    return django_filters.DateFilter(
        method=method,
        validators=[
            MinValueValidator(FIRST_DAY, message=BOUNDS_MESSAGE),
            MaxValueValidator(LAST_DAY, message=BOUNDS_MESSAGE),
        ],
    )


class InterviewFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=InterviewStatus.choices)
    review_state = django_filters.ChoiceFilter(choices=ReviewState.choices)
    language = django_filters.ChoiceFilter(choices=Language.choices)
    technical_level = django_filters.ChoiceFilter(choices=TechnicalLevel.choices)
    employee_id = django_filters.UUIDFilter(field_name="employee_id")
    # Whole UTC days, inclusive, as half-open ranges so the started_at index is used.
    start_date = _bounded_date_filter("filter_start_date")
    end_date = _bounded_date_filter("filter_end_date")
    search = django_filters.CharFilter(method="filter_search", max_length=200)
    ordering = django_filters.ChoiceFilter(choices=[(o, o) for o in ORDERINGS], method="filter_ordering")

    class Meta:
        model = Interview
        fields: list[str] = []

    def get_form_class(self):
        """The validation form, built once per FilterSet class rather than on every request.

        django-filter builds a new form class per instance (a fifth of a list request's CPU);
        these filters never change per request, and the form copies its fields per instance.
        """
        cls = type(self)
        if "_form_class" not in cls.__dict__:
            cls._form_class = super().get_form_class()
        return cls._form_class

    def filter_start_date(self, queryset: QuerySet, name: str, value) -> QuerySet:
        return queryset.filter(started_at__gte=_day_start(value))

    def filter_end_date(self, queryset: QuerySet, name: str, value) -> QuerySet:
        return queryset.filter(started_at__lt=_day_start(value + timedelta(days=1)))

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return interview_search(queryset, value.strip()) if value.strip() else queryset

    def filter_ordering(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.order_by(value, "-id" if value.startswith("-") else "id")

    def applied(self) -> dict:
        """The filters that took effect, for ``meta.filters`` (call after ``is_valid``)."""
        return {
            k: (str(v) if v is not None else None) for k, v in self.form.cleaned_data.items() if v not in (None, "")
        }


def interview_list_filtered(request) -> InterviewFilter:
    """The caller's interviews narrowed by the request's list parameters (422 when invalid).

    Employees' ``employee_id`` filter is ignored: they only ever see their own.
    """
    params = request.query_params.copy()
    if scope_of(request.user) is Scope.OWN:
        params.pop("employee_id", None)
    return filterset_validated(InterviewFilter(params, queryset=interview_list_visible_to(user=request.user)))


DATE_DESCRIPTION = f"ISO date, inclusive, on started_at; from {FIRST_DAY} to {LAST_DAY} (422 outside)"
# The list parameters as the OpenAPI schema shows them (list, stats, bulk export).
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
    OpenApiParameter("ordering", enum=ORDERINGS),
]
