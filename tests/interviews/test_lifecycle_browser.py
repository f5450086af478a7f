"""The data lifecycle in the admin, in Chromium under the CSP: an admin deletes an interview from
its page and restores it from "Deleted interviews"; a superuser erases an employee's data through
the confirmation page. Screenshots land in ``$BROWSER_SCREENSHOTS`` (deleted_interviews.png,
erase_confirmation.png; docs/admin.md)."""

import pytest

from accounts.models import Role, User
from interviews.models import DataDeletion, Interview
from tests.factories import ORG_A, InterviewFactory, UserFactory, add_messages
from tests.interviews.realtime_support import daphne, shared_database
from tests.interviews.test_realtime_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, admin_sign_in, browser_missing

pytestmark = pytest.mark.django_db(transaction=True)


def test_delete_restore_and_erase_in_the_admin(tmp_path):
    reason = browser_missing()
    if reason:
        print(f"SKIPPED browser test: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with shared_database(tmp_path) as db_env:
        employee = UserFactory(role=Role.EMPLOYEE, organization_id=ORG_A, username="lucia.gomez")
        admin = UserFactory(role=Role.ADMIN, organization_id=ORG_A)
        superuser = UserFactory(role=Role.ADMIN, organization_id=ORG_A, is_superuser=True, username="root")
        interview = InterviewFactory(employee=employee, status="completed")
        add_messages(interview, 4)
        second = InterviewFactory(employee=employee)
        env = {**db_env, "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0", "TEST_SERVE_STATIC": "1"}
        with daphne(env, tmp_path / "daphne.log") as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                problems: list[str] = []
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                page.on("console", lambda m: problems.append(f"{m.text} {m.location}") if m.type == "error" else None)
                page.on("pageerror", lambda e: problems.append(str(e)))
                page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
                admin_sign_in(page, base, admin)

                page.goto(f"{base}/admin/interviews/interview/{interview.id}/delete/")
                page.click("input[type=submit]")
                expect(page.locator(".messagelist")).to_contain_text("restorable there until the purge")
                page.goto(f"{base}/admin/interviews/deletedinterview/")
                expect(page.locator("#result_list")).to_contain_text(str(interview.id))
                page.screenshot(path=str(SCREENSHOTS / "deleted_interviews.png"))
                page.check(f"input[name=_selected_action][value='{interview.id}']")
                page.select_option("select[name=action]", "restore_interviews")
                page.click("button[name=index]")
                expect(page.locator(".messagelist")).to_contain_text("1 interview(s) restored.")

                page = context.new_page()
                page.on("pageerror", lambda e: problems.append(str(e)))
                context.clear_cookies()
                admin_sign_in(page, base, superuser)
                page.goto(f"{base}/admin/accounts/user/?q=lucia.gomez")
                page.check(f"input[name=_selected_action][value='{employee.pk}']")
                page.select_option("select[name=action]", "erase_employee_data")
                page.click("button[name=index]")
                expect(page.locator("#content")).to_contain_text("This cannot be undone.")
                expect(page.locator("#content table")).to_contain_text("lucia.gomez")
                page.screenshot(path=str(SCREENSHOTS / "erase_confirmation.png"))
                page.click("input[value='Erase for good']")
                expect(page.locator(".messagelist")).to_contain_text("Erased 2 interview(s)")
            finally:
                browser.close()
        assert [p for p in problems if "/favicon.ico" not in p] == []
        assert not Interview.all_objects.filter(pk__in=[interview.id, second.id]).exists()
        assert User.objects.get(pk=employee.pk).is_active is False
        record = DataDeletion.objects.get()
        assert (record.reason, record.interview_count, record.requested_by_id) == ("erasure", 2, superuser.pk)
