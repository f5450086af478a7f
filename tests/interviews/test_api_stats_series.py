"""``GET /api/v1/interviews/stats?series=week``: weekly series in the caller's scope, with the
list's filters (interviews/stats.py). Runs on SQLite and, in the PostgreSQL pass, on PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from interviews.engine.plans import builtin_plan_data
from interviews.models import Interview, InterviewMessage, InterviewPlan, MessageRole
from interviews.stats import ABANDONED_AFTER
from tests.factories import ORG_A, ORG_B, InterviewFactory, UserFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/interviews/stats"
W1 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
W2, W3, W4 = W1 + timedelta(weeks=1), W1 + timedelta(weeks=2), W1 + timedelta(weeks=3)


def scored(interview: Interview, *scores: int) -> Interview:
    """Answers with these evaluation scores (the interview's overall score is their rounded mean)."""
    InterviewMessage.objects.bulk_create(
        InterviewMessage(
            interview=interview,
            role=MessageRole.USER,
            content=f"answer {n}",
            sequence_number=n + 1,
            evaluation={"score": score, "feedback": "", "strengths": [], "weaknesses": []},
            created_at=interview.started_at,
        )
        for n, score in enumerate(scores)
    )
    # What the services store on the interview as its answers are scored.
    Interview.objects.filter(pk=interview.pk).update(overall_score=round(sum(scores) / len(scores)))
    return interview


def stale(interview: Interview) -> Interview:
    """No activity for longer than ``ABANDONED_AFTER``."""
    Interview.objects.filter(pk=interview.pk).update(updated_at=timezone.now() - ABANDONED_AFTER - timedelta(hours=1))
    return interview


@pytest.fixture
def weeks_of_interviews(employee):
    """Four weeks of org A (the third without interviews) and one interview of org B."""
    custom = InterviewPlan.objects.create(slug="custom", name="Custom", topics=builtin_plan_data()["topics"])
    make = InterviewFactory
    scored(
        make(
            employee=employee,
            status="completed",
            started_at=W1 + timedelta(days=1),
            completed_at=W1 + timedelta(days=2),
        ),
        60,
        80,
    )
    # Started on the last minutes of week 1's Sunday (UTC), completed on week 2's Monday.
    scored(
        make(
            employee=employee,
            language="en",
            technical_level="advanced",
            status="completed",
            started_at=W2 - timedelta(minutes=30),
            completed_at=W2 + timedelta(minutes=30),
        ),
        90,
    )
    make(employee=employee, technical_level="intermediate", status="cancelled", started_at=W1 + timedelta(days=3))
    stale(make(employee=employee, language="en", started_at=W2 + timedelta(days=1)))
    make(employee=employee, started_at=W2 + timedelta(days=2))  # open, active: neither completed nor abandoned
    stale(make(employee=employee, status="paused", plan=custom, started_at=W4 + timedelta(hours=1)))
    outsider = UserFactory(organization_id=ORG_B)
    scored(
        make(employee=outsider, status="completed", started_at=W1, completed_at=W1 + timedelta(hours=1)),
        10,
    )
    return custom


def test_weekly_series_count_the_interviews_in_scope(client_for, staff, weeks_of_interviews):
    response = client_for(staff).get(URL, {"series": "week"})
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["total"] == 6  # the totals stay as they were
    series = data["series"]
    assert series["bucket"] == "week"
    assert series["weeks"] == ["2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26"]
    assert series["started"] == [3, 2, 0, 1]
    assert series["completed"] == [1, 1, 0, 0]  # by the week of completed_at
    assert series["abandoned"] == [1, 1, 0, 1]
    # Of the interviews started in each week: both completions belong to week 1's cohort.
    assert series["completion_rate"] == [66.7, 0.0, None, 0.0]
    assert series["abandonment_rate"] == [33.3, 50.0, None, 100.0]
    assert series["average_score"] == [70.0, 90.0, None, None]
    assert series["scored"] == [1, 1, 0, 0]
    assert series["by_language"] == {"es": [2, 1, 0, 1], "en": [1, 1, 0, 0]}
    assert series["by_technical_level"] == {
        "basic": [1, 2, 0, 1],
        "intermediate": [1, 0, 0, 0],
        "advanced": [1, 0, 0, 0],
    }
    builtin = builtin_plan_data()
    assert series["by_plan"] == {builtin["slug"]: [3, 2, 0, 0], "custom": [0, 0, 0, 1]}
    assert series["plan_names"] == {builtin["slug"]: builtin["name"], "custom": "Custom"}
    assert series["abandoned_after_days"] == ABANDONED_AFTER.days


def test_the_review_backlog_counts_completed_interviews_by_review_state(client_for, staff, employee):
    for state in ["reviewed", "reviewed", "flagged", "unreviewed"]:
        InterviewFactory(employee=employee, status="completed", completed_at=W1, review_state=state, started_at=W1)
    # Open and cancelled interviews are not waiting for a review; nor is another organization's.
    InterviewFactory(employee=employee, started_at=W1)
    InterviewFactory(employee=employee, status="cancelled", started_at=W1)
    InterviewFactory(employee=UserFactory(organization_id=ORG_B), status="completed", completed_at=W1, started_at=W1)
    series = client_for(staff).get(URL, {"series": "week"}).json()["data"]["series"]
    assert series["review_backlog"] == {"unreviewed": 1, "in_review": 0, "reviewed": 2, "flagged": 1}


def test_series_of_another_organization_and_of_an_employee(client_for, employee, weeks_of_interviews):
    other_staff = UserFactory(role=Role.STAFF, organization_id=ORG_B)
    series = client_for(other_staff).get(URL, {"series": "week"}).json()["data"]["series"]
    assert series["weeks"] == ["2026-01-05"]
    assert (series["started"], series["completed"], series["average_score"]) == ([1], [1], [10.0])

    mine = InterviewFactory(employee=UserFactory(role=Role.EMPLOYEE, organization_id=ORG_A), started_at=W3)
    series = client_for(mine.employee).get(URL, {"series": "week"}).json()["data"]["series"]
    assert (series["weeks"], series["started"]) == (["2026-01-19"], [1])


def test_series_follow_the_list_filters(client_for, staff, weeks_of_interviews):
    data = client_for(staff).get(URL, {"series": "week", "language": "en"}).json()["data"]
    assert data["total"] == 2
    series = data["series"]
    assert series["weeks"] == ["2026-01-05", "2026-01-12"]
    assert series["started"] == [1, 1]
    assert series["completed"] == [0, 1]
    assert series["average_score"] == [None, 90.0]
    # end_date is inclusive, on started_at
    series = client_for(staff).get(URL, {"series": "week", "end_date": "2026-01-11"}).json()["data"]["series"]
    assert series["started"] == [3, 0]  # week 2 only holds the completion of week 1's interview
    assert series["completed"] == [1, 1]


def test_no_interviews_no_weeks(client_for, staff):
    series = client_for(staff).get(URL, {"series": "week"}).json()["data"]["series"]
    assert series["weeks"] == series["started"] == series["average_score"] == []
    assert series["by_language"] == {"es": [], "en": []}
    assert series["by_plan"] == series["plan_names"] == {}


def test_without_series_the_body_is_unchanged(client_for, staff, weeks_of_interviews):
    data = client_for(staff).get(URL).json()["data"]
    assert "series" not in data
    assert set(data) == {"total", "by_status", "by_language", "average_duration_minutes", "average_messages", "scope"}


def test_an_empty_series_parameter_is_no_series(client_for, staff):
    response = client_for(staff).get(URL, {"series": ""})
    assert response.status_code == 200
    assert "series" not in response.json()["data"]


@pytest.mark.parametrize("value", ["month", "WEEK", "week,month"])
def test_unknown_series_is_422_in_the_envelope(client_for, staff, value, django_assert_max_num_queries):
    client = client_for(staff)
    with django_assert_max_num_queries(1):  # the caller's user row; nothing is counted
        response = client.get(URL, {"series": value})
    body = response.json()
    assert response.status_code == 422
    assert (body["status"], body["error_code"]) == ("error", "validation_error")
    assert body["errors"][0]["field"] == "series"


def test_series_cost_a_fixed_number_of_queries(client_for, staff, employee, django_assert_max_num_queries):
    for week in range(12):
        for language in ("es", "en"):
            scored(
                InterviewFactory(
                    employee=employee,
                    language=language,
                    status="completed",
                    started_at=W1 + timedelta(weeks=week),
                    completed_at=W1 + timedelta(weeks=week, hours=1),
                ),
                50,
                70,
            )
    client = client_for(staff)
    # the user + the four totals + three for the series, whatever the number of weeks
    with django_assert_max_num_queries(8):
        response = client.get(URL, {"series": "week"})
    series = response.json()["data"]["series"]
    assert series["started"] == [2] * 12
    assert series["average_score"] == [60.0] * 12


def test_the_series_keep_to_the_latest_weeks_when_data_spans_decades(client_for, staff, employee):
    from interviews.stats import SERIES_MAX_WEEKS

    InterviewFactory(employee=employee, started_at=datetime(1990, 1, 1, tzinfo=UTC))
    InterviewFactory(employee=employee, started_at=W1)
    series = client_for(staff).get(URL, {"series": "week"}).json()["data"]["series"]
    assert len(series["weeks"]) == SERIES_MAX_WEEKS
    assert series["weeks"][-1] == "2026-01-05"
    assert sum(series["started"]) == 1


def test_series_is_in_the_openapi_schema(client):
    spec = client.get("/api/v1/schema/?format=json").json()
    operation = spec["paths"]["/api/v1/interviews/stats/"]["get"]
    [series] = [p for p in operation["parameters"] if p["name"] == "series"]
    assert series["schema"]["enum"] == ["week"]
    assert "series" in str(spec["components"]["schemas"])
    assert "StatsSeriesOutput" in spec["components"]["schemas"]
