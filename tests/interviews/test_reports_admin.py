"""The report on the admin interview page: readable sections (no raw JSON) and the
"Regenerate report" button (POST, CSRF, admins only)."""

import pytest
from django.test import Client

from interviews.models import InterviewReport, InterviewStatus
from tests.factories import InterviewFactory
from tests.interviews.test_reports import complete_by_answering

committed = pytest.mark.django_db(transaction=True)


def page_url(interview) -> str:
    return f"/admin/interviews/interview/{interview.id}/change/"


def regenerate_url(interview) -> str:
    return f"/admin/interviews/interview/{interview.id}/report/regenerate/"


def versions(interview) -> list[int]:
    return list(
        InterviewReport.objects.filter(interview=interview).order_by("version").values_list("version", flat=True)
    )


@committed
def test_the_page_shows_the_report_as_sections_for_people(employee, superuser, client):
    interview = complete_by_answering(employee)
    client.force_login(superuser)
    page = client.get(page_url(interview)).content.decode()
    report = page[page.index('id="report"') : page.index('id="conversation"')]
    assert "Version 1, written by the scripted interviewer (offline)" in report
    for title in ("Summary", "Findings by topic", "Steps, in order", "Tools and systems", "Strengths", "Weaknesses"):
        assert f">{title}</h" in report
    assert "First I export the hours from Kronos" in report
    assert "(message #4)" in report
    assert "schema_version" not in page
    assert "Regenerate report" in report


def test_a_report_being_made_says_so_and_an_open_interview_has_no_report_section(employee, superuser, client):
    client.force_login(superuser)
    done = InterviewFactory(employee=employee, status=InterviewStatus.COMPLETED)
    assert "The report is being made" in client.get(page_url(done)).content.decode()
    running = InterviewFactory(employee=employee, status=InterviewStatus.IN_PROGRESS)
    assert 'id="report"' not in client.get(page_url(running)).content.decode()


@committed
def test_regenerate_adds_a_version(employee, superuser):
    interview = complete_by_answering(employee)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(superuser)
    page = browser.get(page_url(interview))
    token = page.cookies["csrftoken"].value
    response = browser.post(regenerate_url(interview), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert response["Location"].endswith(f"{interview.id}/change/#report")
    assert versions(interview) == [1, 2]
    assert "Version 2, written by" in browser.get(page_url(interview)).content.decode()


@committed
def test_regenerate_needs_post_csrf_and_an_admin(employee, superuser, staff, client):
    interview = complete_by_answering(employee)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(superuser)
    assert browser.post(regenerate_url(interview)).status_code == 403  # no CSRF token
    assert browser.get(regenerate_url(interview)).status_code == 405
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    page = client.get(page_url(interview)).content.decode()
    assert "First I export the hours from Kronos" in page  # staff read the report...
    assert "Regenerate report" not in page  # ...but do not regenerate it
    response = client.post(regenerate_url(interview), follow=True)
    assert "Only admins may regenerate a report." in response.content.decode()
    assert versions(interview) == [1]
