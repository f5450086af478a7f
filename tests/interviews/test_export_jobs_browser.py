"""The export job progress page in Chromium, under the CSP: the admin action leads to it and it
offers the ZIP; a queued job's page follows the job by itself (polling the API with the admin's
session) until the download appears. The screenshot of the done state lands in
``$BROWSER_SCREENSHOTS/export_job.png``."""

import io
import subprocess
import sys
import zipfile

import pytest

from accounts.models import Role
from interviews.exports.models import ExportJob, ExportJobInterview
from tests.factories import ORG_A, UserFactory
from tests.interviews.export_job_support import three_interviews, use_export_dir
from tests.interviews.realtime_support import BASE_DIR, daphne, server_env, shared_database
from tests.interviews.test_realtime_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, admin_sign_in, browser_missing

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_progress_page_follows_the_job_and_offers_the_zip(tmp_path, settings):
    reason = browser_missing()
    if reason:
        print(f"SKIPPED browser test: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    export_dir = use_export_dir(settings, tmp_path)
    with shared_database(tmp_path) as db_env:
        reviewer = UserFactory(role=Role.STAFF, organization_id=ORG_A)
        employees = [UserFactory(role=Role.EMPLOYEE, organization_id=ORG_A) for _ in range(2)]
        interviews = three_interviews(*employees)
        # A job no worker has taken yet (rows are written here: the browser's block below runs
        # an event loop, where the ORM may not be used).
        queued = ExportJob.objects.create(created_by=reviewer, format="json", total=1)
        ExportJobInterview.objects.create(job=queued, position=0, interview_id=interviews[0].id)
        env = {
            **db_env,
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "TEST_SERVE_STATIC": "1",
            "EXPORT_FILES_DIR": str(export_dir),  # the daphne process writes where this test reads
        }
        with daphne(env, tmp_path / "daphne.log") as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                context = browser.new_context(viewport={"width": 1100, "height": 600}, accept_downloads=True)
                page = context.new_page()
                problems: list[str] = []
                page.on(
                    "console",
                    lambda m: problems.append(f"{m.text} {m.location}") if m.type in ("error", "warning") else None,
                )
                page.on("pageerror", lambda e: problems.append(str(e)))

                # The action: select every interview, CSV, Go → the job's page (in-process: done).
                admin_sign_in(page, base, reviewer)
                page.goto(f"{base}/admin/interviews/interview/")
                page.check("#action-toggle")
                page.select_option("select[name=action]", "export_selected_interviews")
                page.select_option("select[name=format]", "csv")
                page.click("button[name=index]")
                page.wait_for_url("**/admin/interviews/exportjob/*/progress/")
                expect(page.locator("#export-status")).to_contain_text("Ready: 3 interviews")
                expect(page.locator("#export-download")).to_be_visible()
                bar = page.locator("#export-progress").evaluate("el => [el.value, el.max]")
                page.screenshot(path=str(SCREENSHOTS / "export_job.png"), full_page=True)
                with page.expect_download() as download_info:
                    page.click("#export-download")
                archive = zipfile.ZipFile(io.BytesIO(download_info.value.path().read_bytes()))

                # A job a worker has not taken yet: the page waits, then follows it to done.
                page.goto(f"{base}/admin/interviews/exportjob/{queued.id}/progress/")
                expect(page.locator("#export-status")).to_have_text("Waiting for a worker…")
                expect(page.locator("#export-download")).to_be_hidden()
                run_task = (
                    f"from interviews.exports.jobs import export_job_run; export_job_run.apply(args=['{queued.id}'])"
                )
                subprocess.run(
                    [sys.executable, "manage.py", "shell", "-c", run_task],
                    cwd=BASE_DIR,
                    env=server_env(env),
                    check=True,
                    timeout=120,
                )
                expect(page.locator("#export-status")).to_contain_text("Ready: 1 interview,")
                expect(page.locator("#export-download")).to_be_visible()
            finally:
                browser.close()

    assert bar == [3, 3]
    assert sorted(archive.namelist()) == sorted(f"interview-{i.id}.csv" for i in interviews)
    # The browser asks for /favicon.ico by itself; the service has none (not this page's doing).
    assert [p for p in problems if "/favicon.ico" not in p] == []
