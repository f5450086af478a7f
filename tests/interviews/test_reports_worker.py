"""A real Celery worker makes the report of an interview completed in the web process (the
PostgreSQL + Redis pass; skipped without a Redis broker, like tests/test_tasks_worker.py)."""

import pytest

from interviews import services
from interviews.models import Interview, InterviewReport, InterviewStatus
from tests.interviews.realtime_support import start_interview
from tests.interviews.test_reports import ANSWERS
from tests.test_tasks_worker import enqueue_to_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


def test_a_worker_makes_the_report_of_a_completed_interview(tmp_path, settings, employee, admin_user, client_for):
    with enqueue_to_worker(tmp_path, settings) as log:
        interview = start_interview(employee)
        services.interview_continue(actor=employee, interview_id=interview.id, answer=ANSWERS[1])
        api = client_for(admin_user)
        response = api.patch(f"/api/v1/interviews/{interview.id}", {"status": "completed"}, format="json")
        assert response.status_code == 200
        report = wait_until(
            lambda: InterviewReport.objects.filter(interview=interview).first(),
            within=60,
            what="the worker to make the report",
            log=log,
        )
    assert (report.version, report.request_key, report.generated_by) == (1, "completed", "scripted")
    assert report.document["topics"][0]["messages"] == [2]  # the answer, to the first topic
    assert report.document["process"]["role"][0]["text"].startswith("First I export the hours from Kronos")
    body = api.get(f"/api/v1/interviews/{interview.id}/report").json()
    assert (body["code"], body["data"]["version"]) == (200, 1)
    assert InterviewReport.objects.filter(interview=interview).count() == 1
    assert Interview.objects.get(pk=interview.id).status == InterviewStatus.COMPLETED
