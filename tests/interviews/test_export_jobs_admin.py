"""The admin's "export selected interviews" action: an export job, its progress page, the ZIP."""

import io
import zipfile

import pytest
from django.urls import reverse
from docx import Document

from interviews.exports.models import ExportJob, ExportJobState
from interviews.models import InterviewExport, InterviewMessage
from tests.factories import ORG_B, InterviewFactory, UserFactory
from tests.interviews.export_job_support import three_interviews, use_export_dir

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    return use_export_dir(settings, tmp_path)


@pytest.fixture
def interviews(employee, other_employee):
    return three_interviews(employee, other_employee)


@pytest.fixture
def admin_export(client, django_capture_on_commit_callbacks):
    def run(ids, fmt="json"):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                reverse("admin:interviews_interview_changelist"),
                {"action": "export_selected_interviews", "_selected_action": [str(i) for i in ids], "format": fmt},
            )

    return run


def download(client, job) -> zipfile.ZipFile:
    response = client.get(f"/api/v1/export-jobs/{job.id}/download")
    assert response.status_code == 200
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_the_action_starts_a_job_and_shows_its_progress_page(client, staff, interviews, admin_export):
    client.force_login(staff)
    response = admin_export([interviews[0].id, interviews[1].id], "docx")

    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/interviews/exportjob/{job.id}/progress/"
    assert (job.kind, job.format, job.total, job.created_by) == ("admin", "docx", 2, staff)
    record = InterviewExport.objects.get()
    assert (record.kind, record.format, record.interview_count, record.job_id) == ("admin", "docx", 2, job.id)

    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "Export of 2 interviews" in html
    assert '<progress id="export-progress" max="2" value="2">' in html
    assert "Ready: 2 interviews" in html
    assert f'href="/api/v1/export-jobs/{job.id}/download"' in html
    assert f'data-status-url="/api/v1/export-jobs/{job.id}"' in html
    # The script is a static file (the CSP allows 'self'); no inline script to need a nonce.
    assert 'src="/static/interviews/export_job.js"' in html

    # The admin's session downloads it.
    archive = download(client, job)
    assert archive.namelist() == [f"interview-{i.id}.docx" for i in (interviews[1], interviews[0])]
    paragraphs = [p.text for p in Document(io.BytesIO(archive.read(f"interview-{interviews[1].id}.docx"))).paragraphs]
    contents = InterviewMessage.objects.filter(interview=interviews[1]).values_list("content", flat=True)
    assert set(contents) <= set(paragraphs)


def test_a_queued_job_shows_an_empty_bar_and_no_download(client, staff, interviews):
    job = ExportJob.objects.create(created_by=staff, format="csv", total=40, done=10, state=ExportJobState.RUNNING)
    client.force_login(staff)
    html = client.get(f"/admin/interviews/exportjob/{job.id}/progress/").content.decode()
    assert '<progress id="export-progress" max="40" value="10">25%</progress>' in html
    assert "Writing: 10 of 40 interviews" in html
    assert 'class="button default hidden"' in html


def test_the_action_is_scoped_to_the_reviewer(client, staff, interviews, admin_export):
    foreign = InterviewFactory(employee=UserFactory(organization_id=ORG_B))
    client.force_login(staff)
    admin_export([interviews[0].id, foreign.id])
    archive = download(client, ExportJob.objects.get())
    assert archive.namelist() == [f"interview-{interviews[0].id}.json"]


def test_the_progress_page_is_the_creators_alone(client, staff, admin_user, interviews, admin_export):
    client.force_login(staff)
    admin_export([interviews[0].id])
    job = ExportJob.objects.get()
    client.force_login(admin_user)
    assert client.get(f"/admin/interviews/exportjob/{job.id}/progress/").status_code == 404
    assert client.get(f"/api/v1/export-jobs/{job.id}/download").status_code == 404
    client.logout()
    assert client.get(f"/admin/interviews/exportjob/{job.id}/progress/").status_code == 302  # to the login


def test_the_action_refuses_more_than_a_job_may_hold(client, staff, interviews, settings, admin_export):
    settings.EXPORT_JOB_MAX_INTERVIEWS = 2
    client.force_login(staff)
    response = admin_export([i.id for i in interviews])
    assert response.status_code == 302
    assert "at most 2 interviews" in client.get(response["Location"]).content.decode()
    assert (ExportJob.objects.count(), InterviewExport.objects.count()) == (0, 0)


def test_the_action_refuses_past_the_active_job_limit(client, staff, interviews, settings, admin_export):
    settings.EXPORT_JOB_MAX_ACTIVE_PER_USER = 1
    ExportJob.objects.create(created_by=staff, format="json", total=1)
    client.force_login(staff)
    response = admin_export([interviews[0].id])
    assert response.status_code == 302
    assert "wait for one to finish" in client.get(response["Location"]).content.decode()
    assert ExportJob.objects.count() == 1
