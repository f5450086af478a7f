"""The list's count and the statistics: a fixed number of queries, whatever the number of
interviews (``interviews/selectors.py``; the views and the dashboard call these)."""

import uuid

import pytest

from accounts.models import Role
from interviews import selectors
from interviews.models import Interview, InterviewStatus
from tests.factories import InterviewFactory, UserFactory, add_messages


@pytest.fixture
def organization(db):
    organization_id = uuid.uuid4()
    for index in range(6):
        employee = UserFactory(organization_id=organization_id)
        interview = InterviewFactory(employee=employee)
        add_messages(interview, 3)
        if index % 2:
            interview.status = InterviewStatus.COMPLETED
            interview.save(update_fields=["status"])
    return organization_id


def scope(organization_id):
    staff = UserFactory(role=Role.STAFF, organization_id=organization_id)
    return selectors.interview_list_visible_to(user=staff)


@pytest.mark.parametrize(("series", "queries"), [(False, 4), (True, 7)], ids=["totals", "with weekly series"])
def test_stats_cost_a_fixed_number_of_queries(organization, django_assert_num_queries, series, queries):
    queryset = scope(organization)
    with django_assert_num_queries(queries):
        body = selectors.interview_stats(queryset=queryset, series=series)
    assert body["total"] == 6
    assert body["by_status"]["completed"] == 3
    assert ("series" in body) is series
    # Three times the interviews, the same queries.
    for _ in range(12):
        InterviewFactory(employee=UserFactory(organization_id=organization))
    with django_assert_num_queries(queries):
        assert selectors.interview_stats(queryset=queryset, series=series)["total"] == 18


def test_count_is_one_query_then_none_while_cached(organization, settings, django_assert_num_queries):
    settings.LIST_COUNT_CACHE_SECONDS = 60
    settings.LIST_COUNT_CACHE_MIN_ITEMS = 5
    queryset = scope(organization)
    with django_assert_num_queries(1):
        assert selectors.interview_count(queryset) == 6
    with django_assert_num_queries(0):
        assert selectors.interview_count(queryset) == 6
    # A count below the threshold is never cached: one query each time, always exact.
    running = queryset.filter(status=InterviewStatus.IN_PROGRESS)
    expected = Interview.objects.filter(id__in=queryset, status=InterviewStatus.IN_PROGRESS).count()
    for _ in range(2):
        with django_assert_num_queries(1):
            assert selectors.interview_count(running) == expected == 3
