from datetime import UTC, datetime, timedelta

import pytest

from interviews.models import InterviewStatus
from interviews.services import interview_message_append
from tests.factories import ORG_B, InterviewFactory, UserFactory, add_messages

pytestmark = pytest.mark.django_db
URL = "/api/v1/interviews"


def ids(response):
    return [row["id"] for row in response.json()["data"]]


def test_empty_list_is_200_with_zeros(client_for, employee):
    response = client_for(employee).get(URL)
    body = response.json()
    assert response.status_code == 200
    assert body["data"] == []
    assert body["meta"]["pagination"] == {
        "total_items": 0,
        "total_pages": 0,
        "current_page": 1,
        "page_size": 20,
        "has_next": False,
        "has_previous": False,
    }
    assert body["meta"]["scope"] == "own"


def test_employee_sees_only_own_and_employee_filter_is_ignored(client_for, employee, other_employee):
    mine = InterviewFactory(employee=employee)
    theirs = InterviewFactory(employee=other_employee)
    client = client_for(employee)
    assert ids(client.get(URL)) == [str(mine.id)]
    assert ids(client.get(URL, {"employee_id": str(other_employee.employee_id)})) == [str(mine.id)]
    assert str(theirs.id) not in ids(client.get(URL))


def test_staff_sees_organization_and_can_filter_by_employee(client_for, staff, employee, other_employee):
    mine = InterviewFactory(employee=employee)
    theirs = InterviewFactory(employee=other_employee)
    InterviewFactory(employee=UserFactory(organization_id=ORG_B))
    client = client_for(staff)
    response = client.get(URL)
    assert sorted(ids(response)) == sorted([str(mine.id), str(theirs.id)])
    assert response.json()["meta"]["scope"] == "organization"
    filtered = client.get(URL, {"employee_id": str(other_employee.employee_id)})
    assert ids(filtered) == [str(theirs.id)]
    assert filtered.json()["meta"]["filters"] == {"employee_id": str(other_employee.employee_id)}


def test_superuser_sees_all(client_for, superuser, employee):
    InterviewFactory(employee=employee)
    InterviewFactory(employee=UserFactory(organization_id=ORG_B))
    response = client_for(superuser).get(URL)
    assert response.json()["meta"]["pagination"]["total_items"] == 2
    assert response.json()["meta"]["scope"] == "all"


def test_filters_and_ordering(client_for, staff, employee):
    day = datetime(2026, 3, 10, 12, tzinfo=UTC)
    a = InterviewFactory(employee=employee, started_at=day, status=InterviewStatus.COMPLETED, language="en")
    b = InterviewFactory(employee=employee, started_at=day + timedelta(days=1), technical_level="advanced")
    c = InterviewFactory(employee=employee, started_at=day + timedelta(days=2))
    client = client_for(staff)
    assert ids(client.get(URL)) == [str(c.id), str(b.id), str(a.id)]
    assert ids(client.get(URL, {"ordering": "started_at"})) == [str(a.id), str(b.id), str(c.id)]
    assert ids(client.get(URL, {"status": "completed"})) == [str(a.id)]
    assert ids(client.get(URL, {"language": "en"})) == [str(a.id)]
    assert ids(client.get(URL, {"technical_level": "advanced"})) == [str(b.id)]
    # Dates are inclusive whole days on started_at.
    assert ids(client.get(URL, {"start_date": "2026-03-11", "end_date": "2026-03-11"})) == [str(b.id)]
    assert ids(client.get(URL, {"start_date": "2026-03-11"})) == [str(c.id), str(b.id)]
    assert ids(client.get(URL, {"end_date": "2026-03-10"})) == [str(a.id)]


def test_search_matches_message_text(client_for, employee):
    a = InterviewFactory(employee=employee)
    b = InterviewFactory(employee=employee)
    interview_message_append(interview_id=a.id, role="user", content="Uso SAP y Excel a diario")
    interview_message_append(interview_id=b.id, role="user", content="Nothing relevant")
    assert ids(client_for(employee).get(URL, {"search": "sap"})) == [str(a.id)]


def test_pagination(client_for, employee):
    for _ in range(5):
        InterviewFactory(employee=employee)
    client = client_for(employee)
    body = client.get(URL, {"page": 2, "page_size": 2}).json()
    assert len(body["data"]) == 2
    assert body["meta"]["pagination"] == {
        "total_items": 5,
        "total_pages": 3,
        "current_page": 2,
        "page_size": 2,
        "has_next": True,
        "has_previous": True,
    }
    past_end = client.get(URL, {"page": 9, "page_size": 2}).json()
    assert past_end["data"] == []
    assert past_end["meta"]["pagination"]["total_items"] == 5


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page_size": 101}, "page_size"),
        ({"page": 0}, "page"),
        ({"page": "x"}, "page"),
        ({"status": "done"}, "status"),
        ({"employee_id": "not-a-uuid"}, "employee_id"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"ordering": "id"}, "ordering"),
    ],
)
def test_bad_query_parameters_are_422_before_any_query(client_for, staff, params, field, django_assert_num_queries):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(staff)
    with django_assert_num_queries(0):
        response = client.get(URL, params)
    assert response.status_code == 422
    assert response.json()["error_code"] == "validation_error"
    assert response.json()["errors"][0]["field"] == field


def test_list_never_loads_messages(client_for, staff, employee, django_assert_max_num_queries):
    for _ in range(30):
        add_messages(InterviewFactory(employee=employee), 5)
    client = client_for(staff)
    # auth user + count + page
    with django_assert_max_num_queries(3):
        response = client.get(URL, {"page_size": 100})
    assert len(response.json()["data"]) == 30
    assert "messages" not in response.json()["data"][0]


def test_stats_in_scope(client_for, staff, employee):
    start = datetime(2026, 1, 1, 9, tzinfo=UTC)
    done = InterviewFactory(
        employee=employee, status="completed", started_at=start, completed_at=start + timedelta(minutes=30)
    )
    add_messages(done, 4)
    add_messages(InterviewFactory(employee=employee, language="en"), 2)
    InterviewFactory(employee=UserFactory(organization_id=ORG_B))
    data = client_for(staff).get(f"{URL}/stats").json()["data"]
    assert data["total"] == 2
    assert data["by_status"]["completed"] == 1
    assert data["by_status"]["in_progress"] == 1
    assert data["by_language"] == {"es": 1, "en": 1}
    assert data["average_duration_minutes"] == 30.0
    assert data["average_messages"] == 3.0
    assert data["scope"] == "organization"


def test_the_filter_form_class_is_built_once_and_each_request_validates_on_its_own(db):
    from interviews.filters import InterviewFilter
    from interviews.models import Interview

    bad = InterviewFilter({"status": "bogus"}, queryset=Interview.objects.none())
    good = InterviewFilter({"status": "completed"}, queryset=Interview.objects.none())
    assert not bad.is_valid()
    assert "status" in bad.errors
    assert good.is_valid()
    assert not good.errors
    assert type(bad.form) is type(good.form)
    assert bad.form is not good.form
