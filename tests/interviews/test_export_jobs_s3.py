"""Export jobs on S3-compatible storage (django-storages' S3 backend), against a local S3 server
(``moto_server`` from moto[server], a dev requirement, run as a subprocess): the ZIP is uploaded
to the bucket, downloaded through the API, and deleted from the bucket when it expires."""

import io
import json
import subprocess
import sys
import time
import urllib.request
import zipfile
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from django.utils import timezone

from interviews.exports.jobs import export_jobs_expire
from interviews.exports.models import ExportJob
from interviews.models import InterviewMessage
from tests.interviews.export_job_support import three_interviews
from tests.interviews.realtime_support import free_port

pytestmark = pytest.mark.django_db

BUCKET = "interviewsvc-exports"


@pytest.fixture
def s3(settings, monkeypatch, tmp_path):
    """A local S3 server with an empty bucket, and the "exports" storage pointed at it."""
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    log = open(tmp_path / "moto.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError((tmp_path / "moto.log").read_text()) from None
                time.sleep(0.2)
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        settings.STORAGES = {
            **settings.STORAGES,
            "exports": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {
                    "bucket_name": BUCKET,
                    "endpoint_url": endpoint,
                    "region_name": "us-east-1",
                    "location": "exports",
                    "default_acl": None,
                    "file_overwrite": True,
                    "transfer_config": TransferConfig(use_threads=False),
                },
            },
        }
        yield client
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def keys(client) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_a_job_writes_its_zip_to_the_bucket_and_serves_it(
    s3, client_for, staff, employee, other_employee, django_capture_on_commit_callbacks
):
    interviews = three_interviews(employee, other_employee)
    with django_capture_on_commit_callbacks(execute=True):
        created = client_for(staff).post("/api/v1/interviews/export-jobs?format=json")
    job = client_for(staff).get(created["Location"]).json()["data"]
    assert job["state"] == "done"
    assert keys(s3) == [f"exports/{job['job_id']}.zip"]
    stored = s3.head_object(Bucket=BUCKET, Key=f"exports/{job['job_id']}.zip")
    assert stored["ContentLength"] == job["file_size"]
    assert stored["ContentType"] == "application/zip"

    response = client_for(staff).get(job["download_url"])
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.namelist() == [f"interview-{i.id}.json" for i in reversed(interviews)]
    data = json.loads(archive.read(f"interview-{interviews[1].id}.json"))
    rows = InterviewMessage.objects.filter(interview=interviews[1]).order_by("sequence_number")
    assert [t["content"] for t in data["conversation_history"]] == [m.content for m in rows]

    ExportJob.objects.filter(pk=job["job_id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert export_jobs_expire() == 1
    assert keys(s3) == []
    assert client_for(staff).get(job["download_url"]).status_code == 410


def test_the_settings_choose_s3_when_a_bucket_is_configured():
    """EXPORT_S3_* in the environment select django-storages' S3 backend; nothing: local files."""
    show = (
        "from django.conf import settings; s = settings.STORAGES['exports']; "
        "print(s['BACKEND'], s['OPTIONS'].get('bucket_name'), s['OPTIONS'].get('endpoint_url'), "
        "s['OPTIONS'].get('location'))"
    )
    base = {"SECRET_KEY": "x" * 50, "DJANGO_SETTINGS_MODULE": "interviewsvc.settings", "PATH": "/usr/bin:/bin"}
    s3_env = {**base, "EXPORT_S3_BUCKET": "b1", "EXPORT_S3_ENDPOINT_URL": "http://minio:9000", "EXPORT_S3_PREFIX": "x"}
    local_env = {**base, "EXPORT_FILES_DIR": "/srv/exports"}
    command = [sys.executable, "-c", f"import django; django.setup(); {show}"]
    root = Path(__file__).resolve().parents[2]
    s3_out = subprocess.run(command, env=s3_env, cwd=root, capture_output=True, text=True, check=True).stdout
    local_out = subprocess.run(command, env=local_env, cwd=root, capture_output=True, text=True, check=True).stdout
    assert s3_out.split() == ["storages.backends.s3.S3Storage", "b1", "http://minio:9000", "x"]
    assert local_out.split() == ["django.core.files.storage.FileSystemStorage", "None", "None", "/srv/exports"]
