"""The Content-Security-Policy in a real browser: every page people open works under it and
Chromium reports no violation (issue 15, "Production settings")."""

import pytest

from accounts.models import Role
from tests.factories import ORG_A, UserFactory
from tests.interviews.realtime_support import daphne, shared_database
from tests.interviews.test_realtime_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    admin_sign_in,
    browser_missing,
    sign_in,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_built_in_pages_admin_and_swagger_ui_run_under_the_csp_without_violations(tmp_path):
    reason = browser_missing()
    if reason:
        print(f"SKIPPED browser test: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with shared_database(tmp_path) as db_env:
        user = UserFactory(role=Role.EMPLOYEE, organization_id=ORG_A)
        reviewer = UserFactory(role=Role.STAFF, organization_id=ORG_A)
        env = {**db_env, "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0", "TEST_SERVE_STATIC": "1"}
        with daphne(env, tmp_path / "daphne.log") as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                violations: list[str] = []
                context = browser.new_context()
                page = context.new_page()
                page.on("console", lambda msg: violations.append(msg.text) if "Content Security" in msg.text else None)
                headers = []
                page.on("response", lambda r: headers.append(r.headers.get("content-security-policy")))

                # The employee: sign in, start, the live page connects and shows its first question
                # (the inline script and style run with the nonce).
                sign_in(page, base, user)
                page.select_option("select[name=language]", "en")
                page.click("text=Start a new interview")
                page.wait_for_url(f"{base}/interviews/*/")
                expect(page.locator("#connection")).to_have_text("live")
                expect(page.locator("#current-question")).not_to_be_empty()
                interview_id = page.url.rstrip("/").rsplit("/", 1)[-1]
                page.screenshot(path=str(SCREENSHOTS / "csp-live.png"))

                # Swagger UI renders the schema.
                page.goto(f"{base}/api/v1/docs/")
                expect(page.locator(".swagger-ui .info .title")).to_contain_text("interviewsvc API")
                expect(page.locator(".opblock").first).to_be_visible()
                page.screenshot(path=str(SCREENSHOTS / "csp-swagger.png"))

                # A reviewer in the admin: list, the interview page, the watch page.
                admin = browser.new_context().new_page()
                admin.on("console", lambda msg: violations.append(msg.text) if "Content Security" in msg.text else None)
                admin_sign_in(admin, base, reviewer)
                admin.goto(f"{base}/admin/interviews/interview/")
                expect(admin.locator("#result_list")).to_be_visible()
                admin.goto(f"{base}/admin/interviews/interview/{interview_id}/change/")
                admin.click("text=Watch live")
                expect(admin.locator("#role")).to_have_text("observer")
                admin.screenshot(path=str(SCREENSHOTS / "csp-watch.png"))
            finally:
                browser.close()

        assert violations == []
        assert any(h and "script-src 'self' 'nonce-" in h for h in headers)
