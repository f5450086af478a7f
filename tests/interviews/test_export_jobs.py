"""Export jobs (POST interviews/export-jobs, GET export-jobs/{id}, …/download): statuses and
bodies, who may see a job, the ZIP read back against the rows, progress, limits, failure, expiry,
idempotency and the purge receiver. Tasks run in-process after commit (both databases)."""

import io
import json
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from interviews.exports import archive, jobs
from interviews.exports.jobs import export_job_run, export_jobs_expire
from interviews.exports.models import ExportJob, ExportJobInterview, ExportJobState
from interviews.models import InterviewExport, InterviewMessage
from interviews.signals import interviews_purged
from tests.factories import ORG_B, UserFactory
from tests.interviews.export_job_support import files, three_interviews, use_export_dir

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/interviews/export-jobs"


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    return use_export_dir(settings, tmp_path)


@pytest.fixture
def interviews(employee, other_employee):
    return three_interviews(employee, other_employee)


@pytest.fixture
def start_job(client_for, django_capture_on_commit_callbacks):
    """``start_job(user, query)``: POST the job; the in-process task runs at the commit."""

    def start(user, query: str = ""):
        with django_capture_on_commit_callbacks(execute=True):
            return client_for(user).post(f"{JOBS}{query}")

    return start


@pytest.fixture
def run_job(client_for, start_job):
    """``run_job(user, query)``: start a job and return its state once the task has run."""

    def run(user, query: str = ""):
        response = start_job(user, query)
        assert response.status_code == 202, response.json()
        return client_for(user).get(response["Location"]).json()["data"]

    return run


def read_zip(response) -> zipfile.ZipFile:
    assert response.status_code == 200, getattr(response, "content", b"")
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="interviews-')
    assert response["Cache-Control"] == "private, no-store"
    zipped = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert zipped.testzip() is None
    return zipped


def test_staff_starts_a_job_and_downloads_the_zip_of_the_rows(client_for, start_job, staff, interviews, export_dir):
    response = start_job(staff, "?language=es&format=json")

    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["status"], body["code"], body["message"]) == ("success", 202, "Export job queued")
    job = body["data"]
    assert response["Location"] == job["status_url"] == f"http://testserver/api/v1/export-jobs/{job['job_id']}"
    # The test's transaction commits (and the task runs) after the answer, as with a worker.
    assert (job["state"], job["progress"], job["download_url"]) == ("queued", {"done": 0, "total": 2}, None)
    assert (job["filters"], job["format"]) == ({"language": "es"}, "json")

    polled = client_for(staff).get(job["status_url"])
    assert (polled.status_code, polled["Cache-Control"]) == (200, "private, no-store")
    job = polled.json()["data"]
    assert (job["state"], job["progress"], job["error"]) == ("done", {"done": 2, "total": 2}, None)
    assert job["download_url"] == f"http://testserver/api/v1/export-jobs/{job['job_id']}/download"
    assert job["file_size"] > 0
    expires = datetime.fromisoformat(job["expires_at"].replace("Z", "+00:00"))
    assert timedelta(hours=23) < expires - timezone.now() <= timedelta(hours=24)
    assert files(export_dir) == [f"{job['job_id']}.zip"]

    zipped = read_zip(client_for(staff).get(job["download_url"]))
    newest_first = [interviews[2], interviews[0]]
    assert zipped.namelist() == [f"interview-{i.id}.json" for i in newest_first]
    for interview in newest_first:
        data = json.loads(zipped.read(f"interview-{interview.id}.json"))
        rows = InterviewMessage.objects.filter(interview=interview).order_by("sequence_number")
        assert [(t["sequence_number"], t["role"], t["content"]) for t in data["conversation_history"]] == [
            (m.sequence_number, m.role, m.content) for m in rows
        ]
        assert data["exported_by"] == staff.username

    # Which interviews the job holds, in archive order (what the purge receiver looks up).
    held = ExportJobInterview.objects.filter(job_id=job["job_id"]).order_by("position")
    assert [h.interview_id for h in held] == [i.id for i in newest_first]
    # The audit log: who, filters, count, format, the job.
    record = InterviewExport.objects.get(job_id=job["job_id"])
    assert (record.kind, record.format, record.interview_count, record.exported_by) == ("job", "json", 2, staff)
    assert record.filters == {"language": "es", "format": "json"}
    assert record.interview_ids == [str(i.id) for i in newest_first]


def test_csv_job_members_are_the_csv_export(client_for, start_job, staff, interviews, run_job):
    job = run_job(staff, "?format=csv&status=completed")
    zipped = read_zip(client_for(staff).get(job["download_url"]))
    assert zipped.namelist() == [f"interview-{interviews[0].id}.csv"]
    text = zipped.read(zipped.namelist()[0]).decode("utf-8-sig")
    assert text.count("\r\n") == 1 + 3  # header + one row per turn


def test_an_empty_match_is_a_done_job_with_an_empty_zip(client_for, start_job, staff, interviews, run_job):
    job = run_job(staff, "?language=en&status=completed")
    assert (job["state"], job["progress"]) == ("done", {"done": 0, "total": 0})
    assert read_zip(client_for(staff).get(job["download_url"])).namelist() == []


@pytest.mark.parametrize("who", ["other_staff", "admin_of_org", "foreign_staff", "employee"])
def test_only_the_creator_sees_the_job_and_its_file(
    client_for, start_job, staff, admin_user, employee, interviews, who, run_job
):
    job = run_job(staff)
    other = {
        "other_staff": lambda: UserFactory(role="staff", organization_id=staff.organization_id),
        "admin_of_org": lambda: admin_user,
        "foreign_staff": lambda: UserFactory(role="staff", organization_id=ORG_B),
        "employee": lambda: employee,
    }[who]()
    for url in (job["status_url"], job["download_url"]):
        response = client_for(other).get(url)
        assert response.status_code == 404
        assert response.json()["error_code"] == "export_job_not_found"
        assert response.json()["message"] == "Export job not found."


def test_unknown_ids_bad_ids_and_no_credentials(client_for, staff, interviews):
    response = client_for(staff).get("/api/v1/export-jobs/0193a1b2-0000-7000-8000-000000000001")
    assert (response.status_code, response.json()["error_code"]) == (404, "export_job_not_found")
    response = client_for(staff).get("/api/v1/export-jobs/not-a-uuid/download")
    assert (response.status_code, response.json()["errors"][0]["type"]) == (422, "invalid_uuid")
    assert client_for().post(JOBS).status_code == 401
    assert client_for().get("/api/v1/export-jobs/0193a1b2-0000-7000-8000-000000000001").status_code == 401


def test_employees_may_not_start_jobs(start_job, employee, interviews):
    response = start_job(employee)
    assert (response.status_code, response.json()["error_code"]) == (403, "permission_denied")
    assert not ExportJob.objects.exists()


@pytest.mark.parametrize(
    ("query", "field", "kind"),
    [("?format=exe", "format", "invalid_choice"), ("?status=lost", "status", "invalid_choice")],
)
def test_bad_format_or_filter_is_422_and_no_job(start_job, staff, interviews, query, field, kind):
    response = start_job(staff, query)
    assert response.status_code == 422
    assert (response.json()["errors"][0]["field"], response.json()["errors"][0]["type"]) == (field, kind)
    assert (ExportJob.objects.count(), InterviewExport.objects.count()) == (0, 0)


def test_more_interviews_than_a_job_may_hold_is_422(start_job, staff, interviews, settings):
    settings.EXPORT_JOB_MAX_INTERVIEWS = 2
    response = start_job(staff)
    assert response.status_code == 422
    body = response.json()
    assert body["message"] == "More than 2 interviews match; narrow the filters."
    assert body["errors"] == [{"field": None, "error": "At most 2 interviews per export job.", "type": "too_many"}]
    assert not ExportJob.objects.exists()
    assert start_job(staff, "?language=es").status_code == 202  # two fit


def test_pdf_and_docx_jobs_have_their_own_lower_cap(start_job, staff, interviews, settings):
    settings.EXPORT_JOB_MAX_DOCUMENT_INTERVIEWS = 2
    for export_format in ("pdf", "docx"):
        response = start_job(staff, f"?format={export_format}")
        assert response.status_code == 422, export_format
        assert response.json()["errors"][0]["error"] == "At most 2 interviews per export job."
    assert not ExportJob.objects.exists()
    assert start_job(staff, "?format=csv").status_code == 202  # the text formats keep the general cap
    assert start_job(staff, "?format=pdf&language=es").status_code == 202  # two fit


def test_more_active_jobs_than_allowed_is_429_until_one_finishes(start_job, staff, interviews, settings):
    settings.EXPORT_JOB_MAX_ACTIVE_PER_USER = 2
    queued = [ExportJob.objects.create(created_by=staff, format="json", total=1) for _ in range(2)]
    response = start_job(staff)
    assert response.status_code == 429
    assert response["Retry-After"] == "30"
    body = response.json()
    assert body["error_code"] == "too_many_export_jobs"
    assert body["message"] == "You have 2 export jobs queued or running (at most 2); wait for one to finish."
    assert ExportJob.objects.count() == 2
    # Another user's limit is their own; and once one of ours is finished, we may start again.
    assert start_job(UserFactory(role="staff", organization_id=staff.organization_id)).status_code == 202
    ExportJob.objects.filter(pk=queued[0].pk).update(state=ExportJobState.DONE)
    assert start_job(staff).status_code == 202


def test_progress_is_reported_while_the_zip_is_written(client_for, start_job, staff, interviews, monkeypatch, run_job):
    seen = []
    export_turns = archive.export_turns

    def watching(*, interview_id, imported):
        if interview_id == interviews[0].id:  # the third member (newest first)
            job = ExportJob.objects.get()
            response = client_for(staff).get(f"/api/v1/export-jobs/{job.id}")
            download = client_for(staff).get(f"/api/v1/export-jobs/{job.id}/download")
            seen.append((response.json()["data"], download.status_code, download.json()["error_code"]))
        return export_turns(interview_id=interview_id, imported=imported)

    monkeypatch.setattr(archive, "export_turns", watching)
    job = run_job(staff)

    [(running, download_status, error_code)] = seen
    assert (running["state"], running["progress"], running["download_url"]) == (
        "running",
        {"done": 2, "total": 3},
        None,
    )
    assert running["started_at"] is not None
    assert (download_status, error_code) == (409, "export_job_not_ready")
    done = client_for(staff).get(job["status_url"]).json()["data"]
    assert (done["state"], done["progress"]) == ("done", {"done": 3, "total": 3})


def test_a_failing_job_is_failed_without_its_text_and_leaves_no_file(
    start_job, staff, interviews, export_dir, monkeypatch, run_job
):
    def broken(*, interview_id, imported):
        raise ValueError("could not render: Señal secreta del empleado")

    monkeypatch.setattr(archive, "export_turns", broken)
    job = run_job(staff)
    assert (job["state"], job["error"]) == ("failed", "The export could not be written; start a new one.")
    assert job["download_url"] is None
    assert job["finished_at"] is not None
    assert files(export_dir) == []


def test_expired_files_are_deleted_by_the_sweep_and_the_job_says_expired(
    client_for, start_job, staff, interviews, export_dir, run_job
):
    job = run_job(staff)
    other = run_job(staff, "?language=es")
    ExportJob.objects.filter(pk=job["job_id"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert export_jobs_expire() == 1
    assert files(export_dir) == [f"{other['job_id']}.zip"]
    expired = client_for(staff).get(job["status_url"]).json()["data"]
    assert (expired["state"], expired["download_url"], expired["file_size"]) == ("expired", None, None)
    response = client_for(staff).get(job["download_url"])
    assert (response.status_code, response.json()["error_code"]) == (410, "export_job_expired")
    assert export_jobs_expire() == 0  # nothing left to do


def test_a_job_past_its_time_is_expired_when_read_before_the_sweep(
    client_for, start_job, staff, interviews, export_dir, run_job
):
    job = run_job(staff)
    ExportJob.objects.filter(pk=job["job_id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client_for(staff).get(job["download_url"])
    assert (response.status_code, response.json()["error_code"]) == (410, "export_job_expired")
    assert files(export_dir) == []
    assert ExportJob.objects.get(pk=job["job_id"]).state == ExportJobState.EXPIRED


def test_a_job_that_never_finished_is_failed_by_the_sweep(client_for, staff, settings):
    stuck = ExportJob.objects.create(created_by=staff, format="json", state=ExportJobState.RUNNING)
    fresh = ExportJob.objects.create(created_by=staff, format="json")
    ExportJob.objects.filter(pk=stuck.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.EXPORT_JOB_STALE_SECONDS + 1)
    )
    assert export_jobs_expire() == 1
    body = client_for(staff).get(f"/api/v1/export-jobs/{stuck.id}").json()["data"]
    assert (body["state"], body["error"]) == ("failed", "The export did not finish in time; start a new one.")
    assert ExportJob.objects.get(pk=fresh.pk).state == ExportJobState.QUEUED


def test_the_task_is_idempotent(client_for, start_job, staff, interviews, export_dir, run_job):
    job = run_job(staff)
    before = client_for(staff).get(job["download_url"])
    first = b"".join(before.streaming_content)
    # A repeated message for a finished job changes nothing.
    assert export_job_run.apply(args=[job["job_id"]]).get() == "skipped"
    assert ExportJob.objects.get(pk=job["job_id"]).finished_at.isoformat().startswith(job["finished_at"][:19])
    # A redelivery of a job left running by a dead worker writes it again, over the old file.
    ExportJob.objects.filter(pk=job["job_id"]).update(state=ExportJobState.RUNNING, done=1)
    assert export_job_run.apply(args=[job["job_id"]]).get() == "done"
    assert files(export_dir) == [f"{job['job_id']}.zip"]
    again = zipfile.ZipFile(io.BytesIO(b"".join(client_for(staff).get(job["download_url"]).streaming_content)))
    assert again.namelist() == zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert client_for(staff).get(job["status_url"]).json()["data"]["progress"] == {"done": 3, "total": 3}


def test_a_purge_deletes_the_files_of_the_jobs_holding_a_purged_interview(
    client_for, start_job, staff, interviews, export_dir, run_job
):
    spanish = run_job(staff, "?language=es")  # interviews 0 and 2
    english = run_job(staff, "?language=en")  # interview 1
    (export_dir / f"{english['job_id']}.zip").unlink()  # a file already gone is no error either
    interviews_purged.send(sender=None, interview_ids=[interviews[2].id, interviews[1].id], reason="retention")

    assert files(export_dir) == []
    for job in (spanish, english):
        assert client_for(staff).get(job["status_url"]).json()["data"]["state"] == "expired"
        assert client_for(staff).get(job["download_url"]).status_code == 410


def test_a_purge_leaves_other_jobs_alone(client_for, start_job, staff, interviews, export_dir, run_job):
    english = run_job(staff, "?language=en")
    interviews_purged.send(sender=None, interview_ids=[interviews[0].id], reason="erasure")
    assert files(export_dir) == [f"{english['job_id']}.zip"]
    assert client_for(staff).get(english["status_url"]).json()["data"]["state"] == "done"


def test_a_purge_during_the_job_stops_it_and_leaves_no_file(
    client_for, start_job, staff, interviews, export_dir, monkeypatch, run_job
):
    export_turns = archive.export_turns

    def purging(*, interview_id, imported):
        if interview_id == interviews[1].id:  # the second member: the purge lands mid-job
            interviews_purged.send(sender=None, interview_ids=[interviews[0].id], reason="retention")
        return export_turns(interview_id=interview_id, imported=imported)

    monkeypatch.setattr(archive, "export_turns", purging)
    job = run_job(staff)
    assert job["state"] == "expired"
    assert files(export_dir) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_requests_cannot_both_pass_the_active_job_limit(
    client_for, staff, interviews, settings, monkeypatch
):
    """Count-then-insert under the user's row lock: of requests racing for the last slot, one
    gets a job and the others 429 (the tasks are held back so every job stays queued)."""
    settings.EXPORT_JOB_MAX_ACTIVE_PER_USER = 1
    monkeypatch.setattr(jobs, "enqueue", lambda *args, **kwargs: None)
    barrier = threading.Barrier(4)

    def post(_):
        try:
            barrier.wait()
            return client_for(staff).post(JOBS).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(post, range(4)))
    assert statuses == [202, 429, 429, 429]
    assert ExportJob.objects.count() == 1


def test_polling_a_job_is_a_fixed_number_of_queries(client_for, run_job, staff, interviews, django_assert_num_queries):
    job = run_job(staff)
    client = client_for(staff)
    with django_assert_num_queries(2):  # the user (token), the job
        assert client.get(job["status_url"]).status_code == 200
