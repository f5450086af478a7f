"""An export job run by a real Celery worker against the real Redis (the PostgreSQL + Redis
pass): the API answers 202 with the job queued, the worker writes the ZIP to the shared export
directory, and the API then reports it done and serves it."""

import io
import zipfile

import pytest

from tests.interviews.export_job_support import three_interviews, use_export_dir
from tests.test_tasks_worker import enqueue_to_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


def test_a_worker_runs_the_job_and_the_api_serves_its_zip(
    client_for, staff, employee, other_employee, tmp_path, settings
):
    export_dir = use_export_dir(settings, tmp_path)
    interviews = three_interviews(employee, other_employee)
    with enqueue_to_worker(tmp_path, settings, EXPORT_FILES_DIR=str(export_dir)) as log:
        response = client_for(staff).post("/api/v1/interviews/export-jobs?format=md")
        assert response.status_code == 202
        job = response.json()["data"]
        assert (job["state"], job["progress"]) == ("queued", {"done": 0, "total": 3})

        def finished():
            body = client_for(staff).get(job["status_url"]).json()["data"]
            return body if body["state"] in ("done", "failed") else None

        done = wait_until(finished, within=60, what="the export job", log=log)
    assert (done["state"], done["progress"]) == ("done", {"done": 3, "total": 3})
    download = client_for(staff).get(done["download_url"])
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    assert archive.namelist() == [f"interview-{i.id}.md" for i in reversed(interviews)]
