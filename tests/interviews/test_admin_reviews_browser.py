"""The reviewer's interview page in Chromium, under the CSP: the conversation with score badges
and evaluations in words, the export buttons, and the review form, used. Screenshots land in
``$BROWSER_SCREENSHOTS`` (review_page.png, review_list.png; docs/admin.md, "Reviewing interviews")."""

import pytest

from accounts.models import Role
from interviews.models import InterviewPlan, InterviewReview
from tests.factories import ORG_A, UserFactory
from tests.interviews.realtime_support import daphne, shared_database
from tests.interviews.test_admin_reviews import scored_interview
from tests.interviews.test_realtime_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, admin_sign_in, browser_missing

pytestmark = pytest.mark.django_db(transaction=True)

ANSWERS = (
    (46, "Names SAP but not what it is used for."),
    (78, "Clear month-end steps, in order."),
    (91, "Concrete numbers and a check at the end."),
)


def test_a_reviewer_reads_the_conversation_and_records_a_review(tmp_path):
    reason = browser_missing()
    if reason:
        print(f"SKIPPED browser test: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with shared_database(tmp_path) as db_env:
        employee = UserFactory(role=Role.EMPLOYEE, organization_id=ORG_A, first_name="Lucía", last_name="Gómez")
        reviewer = UserFactory(role=Role.STAFF, organization_id=ORG_A, first_name="Ana", last_name="Ruiz")
        plan = InterviewPlan.objects.create(slug="finance", name="Finance team", topics=[])
        scored_interview(employee, score_pairs=ANSWERS, plan=plan)
        for n in range(3):
            scored_interview(UserFactory(organization_id=ORG_A), score_pairs=((35 + 25 * n, "ok"),))
        env = {**db_env, "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0", "TEST_SERVE_STATIC": "1"}
        with daphne(env, tmp_path / "daphne.log") as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                problems: list[str] = []
                page = browser.new_context(viewport={"width": 1800, "height": 1400}).new_page()
                page.on("console", lambda m: problems.append(f"{m.text} {m.location}") if m.type == "error" else None)
                page.on("pageerror", lambda e: problems.append(str(e)))
                page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
                admin_sign_in(page, base, reviewer)

                page.goto(f"{base}/admin/interviews/interview/")
                expect(page.locator("#result_list")).to_contain_text("Lucía Gómez · 2026-05-04 · Finance team")
                expect(page.locator("#result_list .score-badge").first).to_be_visible()
                page.screenshot(path=str(SCREENSHOTS / "review_list.png"))

                page.click("text=Lucía Gómez · 2026-05-04 · Finance team")
                expect(page.locator("#overall-score")).to_have_text("72")
                turns = page.locator("#conversation .turn")
                expect(turns).to_have_count(6)
                expect(turns.nth(1)).to_contain_text("Answer 1")
                expect(turns.nth(1).locator(".score-badge")).to_have_text("46")
                expect(turns.nth(1).locator(".feedback")).to_have_text(ANSWERS[0][1])
                expect(turns.nth(5).locator(".strengths")).to_contain_text("names tools 2")
                # The badge is drawn by the stylesheet (a static file under the CSP): coloured.
                colour = turns.nth(1).locator(".score-badge").evaluate("e => getComputedStyle(e).backgroundColor")
                assert colour == "rgb(179, 38, 30)"
                expect(page.locator("a.export-link", has_text="PDF")).to_be_visible()
                expect(page.locator("#review-form")).to_be_visible()

                page.click("text=Start review")
                expect(page.locator(".review-summary .review-state")).to_have_text("In review")
                page.check("input[name=decision][value=needs_follow_up]")
                page.fill("textarea[name=notes]", "Ask how the month-end check is documented.")
                page.fill("input[name=score_override]", "75")
                page.fill("input[name=override_reason]", "Answer 1 was better than its score")
                page.click("text=Save review")
                expect(page.locator(".messagelist")).to_contain_text("Review recorded.")
                expect(page.locator("#reviews .review")).to_have_count(1)
                expect(page.locator("#reviews .review")).to_contain_text("Needs follow-up · Ana Ruiz")
                expect(page.locator(".review-summary .review-state")).to_have_text("Flagged")
                page.locator("#reviews").scroll_into_view_if_needed()
                page.screenshot(path=str(SCREENSHOTS / "review_page.png"), full_page=True)
            finally:
                browser.close()
        # The browser asks for /favicon.ico by itself; the service has none (not this page's doing).
        assert [p for p in problems if "/favicon.ico" not in p] == []
        review = InterviewReview.objects.get()
        assert (review.decision, review.score_override, review.reviewer_id) == ("needs_follow_up", 75, reviewer.pk)
