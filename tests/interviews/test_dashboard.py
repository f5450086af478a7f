"""The admin dashboard (``/admin/dashboard/``, interviews/dashboard.py): who may open it, what it
counts, what it costs, and that its charting library is the project's own static file."""

import hashlib
import json
import re
from datetime import timedelta

import pytest
from django.contrib.staticfiles import finders

from accounts.models import Role
from tests.factories import ORG_B, InterviewFactory, UserFactory
from tests.interviews.test_api_stats_series import W1, W2, scored

pytestmark = pytest.mark.django_db
URL = "/admin/dashboard/"
CHART_JS_SHA256 = "87364cc2b2a76a6684929e7d6b80b18a897794db38400caff1fcf1791c6925d2"  # chart.js@4.6.1
CANVASES = ["chart-volume", "chart-rates", "chart-score", "chart-language", "chart-level", "chart-plan"]


def page_data(response) -> dict:
    match = re.search(rb'<script id="dashboard-data" type="application/json">(.*?)</script>', response.content)
    assert match, "no json_script block"
    return json.loads(match.group(1))


@pytest.fixture
def interviews(employee):
    scored(
        InterviewFactory(employee=employee, status="completed", started_at=W1, completed_at=W1 + timedelta(hours=1)),
        40,
        60,
    )
    InterviewFactory(employee=employee, language="en", started_at=W2)
    InterviewFactory(employee=UserFactory(organization_id=ORG_B), started_at=W2)  # another organization
    return employee


def test_staff_see_the_charts_of_their_organization(client, staff, interviews, django_assert_max_num_queries):
    client.force_login(staff)
    # session + user, the user's and groups' permissions (the admin's navigation), four totals,
    # three series: whatever the number of interviews and weeks
    for week in range(2, 10):
        InterviewFactory(employee=interviews, started_at=W1 + timedelta(weeks=week))
    with django_assert_max_num_queries(11):
        response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    for canvas in CANVASES:
        assert f'<canvas id="{canvas}"' in html
    data = page_data(response)
    assert data["series"]["weeks"][:2] == ["2026-01-05", "2026-01-12"]
    assert data["series"]["started"] == [1, 1] + [1] * 8
    assert data["series"]["average_score"] == [50.0] + [None] * 9
    assert data["labels"]["language"] == {"es": "Español", "en": "English"}
    assert 'id="total-interviews">10<' in html
    # The charts are drawn by static files of this service, not by an inline script or a CDN.
    assert re.findall(r'<script src="([^"]+)"', html)[-2:] == [
        "/static/interviews/vendor/chart.umd.min.js",
        "/static/interviews/dashboard.js",
    ]
    assert "<script>" not in html
    directives = dict(d.strip().split(" ", 1) for d in response["Content-Security-Policy"].split(";"))
    assert directives["script-src"] == "'self'"  # no nonce needed: no inline script at all


def test_a_superuser_sees_every_organization(client, superuser, interviews):
    client.force_login(superuser)
    assert page_data(client.get(URL))["series"]["started"] == [1, 2]


def test_the_dashboard_takes_the_list_filters(client, staff, interviews):
    client.force_login(staff)
    data = page_data(client.get(URL, {"language": "en"}))
    assert (data["series"]["weeks"], data["series"]["started"]) == (["2026-01-12"], [1])
    response = client.get(URL, {"language": "es", "start_date": "2026-02-01"})
    assert response.status_code == 200
    assert 'id="dashboard-empty"' in response.content.decode()
    bad = client.get(URL, {"start_date": "yesterday"})
    assert bad.status_code == 400
    assert "start_date: Enter a valid date." in bad.content.decode()
    assert 'id="dashboard-data"' not in bad.content.decode()


def test_the_admin_index_links_the_dashboard_for_reviewers(client, staff):
    client.force_login(staff)
    assert 'href="/admin/dashboard/"' in client.get("/admin/").content.decode()


@pytest.mark.parametrize("is_staff", [False, True])
def test_employees_have_no_dashboard(client, is_staff):
    employee = UserFactory(role=Role.EMPLOYEE, is_staff=is_staff)
    client.force_login(employee)
    response = client.get(URL)
    if is_staff:  # in the admin by mistake: still not a reviewer
        assert response.status_code == 403
        assert 'href="/admin/dashboard/"' not in client.get("/admin/").content.decode()
    else:
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_anonymous_visitors_are_sent_to_the_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/dashboard/"


def test_chart_js_is_the_vendored_release():
    path = finders.find("interviews/vendor/chart.umd.min.js")
    assert path, "Chart.js is not among the static files"
    content = open(path, "rb").read()  # noqa: SIM115
    assert content.startswith(b"/*!\n * Chart.js v4.6.1\n")
    assert hashlib.sha256(content).hexdigest() == CHART_JS_SHA256
    assert finders.find("interviews/vendor/chart.js-LICENSE.md")


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"start_date": "2026-13-45"}, "start_date: Enter a valid date."),
        ({"end_date": "9999-12-31"}, "end_date: Enter a date from 1900-01-01 to 2999-12-31."),
        ({"language": "<script>alert(1)</script>"}, "language: Select a valid choice. &lt;script&gt;"),
        ({"technical_level": "x" * 100_000}, "technical_level: Select a valid choice."),
        ({"language": "a\x00b"}, "The address contains a null character."),
    ],
)
def test_hostile_filters_are_refused_with_a_sentence(client, staff, params, says):
    client.force_login(staff)
    response = client.get(URL, params)
    assert response.status_code == 400
    assert says in response.content.decode()
    assert "<script>alert(1)" not in response.content.decode()
