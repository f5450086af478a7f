"""The export job part of ``bench/export_bench.py``: one job of many interviews, end to end.

The web process is a real daphne (the API: create the job's rows, answer the polls, stream the
download); the worker is a separate process that runs the job's task body exactly as a Celery
worker does (``export_job_run.apply``), so the figures need no Redis. Memory is the kernel's
view of each process (``/proc/<pid>/status``): the worker's ``VmHWM`` (peak resident set) against
its size before the task, and the web process's ``VmRSS`` sampled every 50 ms before, while the
job runs (polled by the bench every 250 ms) and while the ZIP is downloaded.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _support import BENCH_ENV, ROOT, daphne_servers

WORKER = """
import json, sys, time, django
django.setup()
from interviews.exports.jobs import export_job_run

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])

before = status("VmRSS:")
start = time.perf_counter()
result = export_job_run.apply(args=[sys.argv[1]])
print(json.dumps({"result": result.result, "seconds": time.perf_counter() - start,
                  "before_kib": before, "peak_kib": status("VmHWM:")}))
"""


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


class Sampler(threading.Thread):
    """The largest ``VmRSS`` of ``pid`` since the last :meth:`take`."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.05)

    def take(self) -> int:
        peak, self.peak = self.peak, rss_kib(self.pid)
        return peak


def build_interviews(count: int, messages: int, sentences: list[str]):
    from accounts.models import Role, User
    from interviews.models import Interview, InterviewMessage, InterviewStatus, MessageRole

    org = uuid.uuid4()
    staff = User.objects.create(username=f"bench-staff-{org.hex[:8]}", role=Role.STAFF, organization_id=org)
    employee = User.objects.create(username=f"bench-emp-{org.hex[:8]}", role=Role.EMPLOYEE, organization_id=org)
    started = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
    interviews = Interview.objects.bulk_create(
        Interview(
            employee=employee,
            organization_id=org,
            status=InterviewStatus.COMPLETED,
            started_at=started + timedelta(minutes=n),
            completed_at=started + timedelta(minutes=n + 30),
            message_count=messages,
            question_count=(messages + 1) // 2,
        )
        for n in range(count)
    )
    batch = []
    for interview in interviews:
        for n in range(1, messages + 1):
            content = " ".join(sentences[(n + k) % len(sentences)] for k in range(1 + n % 4))
            role = MessageRole.ASSISTANT if n % 2 else MessageRole.USER
            at = interview.started_at + timedelta(seconds=20 * n)
            batch.append(
                InterviewMessage(interview=interview, role=role, content=content, sequence_number=n, created_at=at)
            )
        if len(batch) >= 5000:
            InterviewMessage.objects.bulk_create(batch)
            batch = []
    InterviewMessage.objects.bulk_create(batch)
    return staff, employee


def run_job(*, interviews: int, messages: int, export_format: str, sentences: list[str]) -> list[tuple[str, str]]:
    """Rows ``(label, value)`` of the job's figures."""
    from django.conf import settings
    from django.db import connection

    from accounts.serializers import TokenObtainSerializer
    from interviews.models import Interview

    print(f"  export job: building {interviews:,} interviews of {messages} messages…", flush=True)
    staff, employee = build_interviews(interviews, messages, sentences)
    files = tempfile.TemporaryDirectory(prefix="export-job-bench-")
    env = {
        **os.environ,
        **BENCH_ENV,
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "SECRET_KEY": settings.SECRET_KEY,
        "EXPORT_FILES_DIR": files.name,
        "TASKS_IN_PROCESS": "0",  # the web process only queues; the worker below runs the job
        "CELERY_BROKER_URL": "memory://",  # a broker nobody reads: the bench starts the task itself
        "LOG_LEVEL": "WARNING",
    }
    token = TokenObtainSerializer.get_token(staff).access_token
    headers = {"Authorization": f"Bearer {token}"}
    connection.close()  # SQLite: let the other processes write
    try:
        with daphne_servers(1, env) as servers:
            base, pid = servers.base_urls[0], servers.pids[0]
            sampler = Sampler(pid)
            sampler.start()
            time.sleep(1)
            web_idle = sampler.take()
            request = urllib.request.Request(
                f"{base}/api/v1/interviews/export-jobs?format={export_format}", method="POST", headers=headers
            )
            with urllib.request.urlopen(request) as response:
                job = json.load(response)["data"]
            web_create = sampler.take()
            start = time.perf_counter()
            worker = subprocess.Popen(
                [sys.executable, "-c", WORKER, job["job_id"]], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
            )
            polls = 0
            while worker.poll() is None:
                with urllib.request.urlopen(urllib.request.Request(job["status_url"], headers=headers)) as response:
                    state = json.load(response)["data"]
                polls += 1
                time.sleep(0.25)
            figures = json.loads(worker.stdout.read())
            elapsed = time.perf_counter() - start
            web_job = sampler.take()
            with urllib.request.urlopen(urllib.request.Request(job["status_url"], headers=headers)) as response:
                state = json.load(response)["data"]
            zip_path = Path(files.name) / "download.zip"
            start = time.perf_counter()
            download = urllib.request.Request(state["download_url"], headers=headers)
            with urllib.request.urlopen(download) as response, open(zip_path, "wb") as out:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
            download_seconds = time.perf_counter() - start
            web_download = sampler.take()
            sampler.running = False
            members = len(zipfile.ZipFile(zip_path).namelist())
    finally:
        files.cleanup()
        Interview.objects.filter(employee=employee).delete()
        employee.delete()
        staff.delete()
    assert (state["state"], members) == ("done", interviews), (state, members)
    mib = 1024
    return [
        ("job", f"{interviews:,} interviews x {messages} messages, format {export_format}"),
        (
            "worker: task time",
            f"{figures['seconds']:.1f} s (wall {elapsed:.1f} s with process start, {polls} polls answered meanwhile)",
        ),
        ("worker: resident before", f"{figures['before_kib'] / mib:.0f} MiB"),
        (
            "worker: peak resident",
            f"{figures['peak_kib'] / mib:.0f} MiB (+{(figures['peak_kib'] - figures['before_kib']) / mib:.0f})",
        ),
        ("ZIP", f"{state['file_size'] / 2**20:.1f} MiB, {members:,} members; download {download_seconds:.2f} s"),
        ("web: resident idle", f"{web_idle / mib:.0f} MiB"),
        ("web: peak creating the job", f"{web_create / mib:.0f} MiB"),
        ("web: peak while the job runs", f"{web_job / mib:.0f} MiB"),
        ("web: peak while downloading", f"{web_download / mib:.0f} MiB"),
    ]
