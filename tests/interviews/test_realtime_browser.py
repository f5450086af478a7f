"""The built-in interview page in a real browser: headless Chromium driven by Playwright.

Uses Debian's ``chromium`` (``./dev test`` installs it when missing and it can); Playwright's own
browser download is never used. Skips, saying why, only when no browser can be had.
"""

import os
import shutil

import pytest

from accounts.models import Role
from interviews.engine.scripted import DEFAULT_PLAN
from interviews.models import Interview, MessageRole
from tests.factories import ORG_A, PASSWORD, UserFactory
from tests.interviews.realtime_support import LONG_ANSWER, daphne, shared_database

pytestmark = pytest.mark.django_db(transaction=True)

CHROMIUM = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECOND_ANSWER = "Every Monday I collect 40 timesheets, check overtime against the rota and fix mistakes by phone."


def browser_missing() -> str | None:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (./dev test installs Debian's chromium when run as root with apt-get)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"playwright is not installed ({exc})"
    return None


def test_employee_takes_two_turns_in_the_browser_while_staff_watch(tmp_path):
    reason = browser_missing()
    if reason:
        print(f"SKIPPED browser test: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    with shared_database(tmp_path) as db_env:
        user = UserFactory(role=Role.EMPLOYEE, organization_id=ORG_A)
        reviewer = UserFactory(role=Role.STAFF, organization_id=ORG_A)
        # Plain http on loopback: cookies without the Secure flag, as with `./dev run`.
        env = {**db_env, "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0"}
        with daphne(env, tmp_path / "daphne.log") as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page()
                page.set_default_timeout(15_000)
                page.goto(f"{base}/login/")
                page.fill("#id_username", user.username)
                page.fill("#id_password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(f"{base}/")

                page.select_option("select[name=language]", "en")
                page.click("text=Start a new interview")
                page.wait_for_url(f"{base}/interviews/*/")
                expect(page.locator("#connection")).to_have_text("live")
                expect(page.locator("#role")).to_have_text("participant")
                expect(page.locator("#current-question")).to_have_text(DEFAULT_PLAN[0]["en"])
                interview_id = page.url.rstrip("/").rsplit("/", 1)[-1]

                # A reviewer follows it live: admin sign-in, the interview's admin page, "Watch live".
                watcher = browser.new_context().new_page()
                watcher.set_default_timeout(15_000)
                watcher.goto(f"{base}/admin/login/")
                watcher.fill("#id_username", reviewer.username)
                watcher.fill("#id_password", PASSWORD)
                watcher.click("input[type=submit]")
                watcher.goto(f"{base}/admin/interviews/interview/{interview_id}/change/")
                watcher.click("text=Watch live")
                expect(watcher.locator("#role")).to_have_text("observer")
                expect(watcher.locator("#transcript li")).to_have_count(1)
                expect(watcher.locator("#answer-form")).to_be_hidden()

                for answer, next_question in (
                    (LONG_ANSWER, DEFAULT_PLAN[1]["en"]),
                    (SECOND_ANSWER, DEFAULT_PLAN[2]["en"]),
                ):
                    page.fill("#answer", answer)
                    page.click("#send")
                    expect(page.locator("#current-question")).to_have_text(next_question)

                transcript = page.locator("#transcript li")
                expect(transcript).to_have_count(5)
                expect(transcript.nth(3)).to_contain_text(SECOND_ANSWER)
                expect(transcript.nth(4)).to_contain_text(DEFAULT_PLAN[2]["en"])
                expect(page.locator("#error")).to_have_text("")

                # The observer saw both turns arrive, with the evaluations of the answers.
                expect(watcher.locator("#transcript li")).to_have_count(5)
                expect(watcher.locator("#transcript li").nth(3)).to_contain_text(SECOND_ANSWER)
                expect(watcher.locator("#transcript .score")).to_have_count(2)

                # A reload rebuilds the transcript from the server (``resume``), not from memory.
                page.reload()
                expect(page.locator("#transcript li")).to_have_count(5)
            finally:
                browser.close()

        interview = Interview.objects.get(employee=user)
        stored = list(interview.messages.order_by("sequence_number").values_list("sequence_number", "role", "content"))
        assert stored == [
            (1, MessageRole.ASSISTANT, DEFAULT_PLAN[0]["en"]),
            (2, MessageRole.USER, LONG_ANSWER),
            (3, MessageRole.ASSISTANT, DEFAULT_PLAN[1]["en"]),
            (4, MessageRole.USER, SECOND_ANSWER),
            (5, MessageRole.ASSISTANT, DEFAULT_PLAN[2]["en"]),
        ]
        assert interview.message_count == 5
