"""The admin dashboard in Chromium: a reviewer opens it from the admin index and every chart is
drawn, with data, by the vendored Chart.js under the CSP, without a console error. The
screenshot lands in ``$BROWSER_SCREENSHOTS/dashboard.png`` (docs/admin.md)."""

from datetime import timedelta

import pytest

from accounts.models import Role
from interviews.models import Interview, InterviewPlan
from tests.factories import ORG_A, ORG_B, InterviewFactory, UserFactory
from tests.interviews.realtime_support import daphne, shared_database
from tests.interviews.test_api_stats_series import W1, scored, stale
from tests.interviews.test_realtime_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, admin_sign_in, browser_missing

pytestmark = pytest.mark.django_db(transaction=True)

CHARTS = ["chart-volume", "chart-rates", "chart-score", "chart-language", "chart-level", "chart-plan", "chart-backlog"]
# For each chart: its datasets, how many non-empty values they hold, and how many of the
# canvas's pixels were painted (a chart object with data that drew nothing would show 0).
CHART_STATE = """ids => ids.map(id => {
  const canvas = document.getElementById(id);
  const chart = canvas && Chart.getChart(canvas);
  if (!chart) return {id, drawn: false};
  const values = chart.data.datasets.flatMap(d => d.data).filter(v => v !== null && v !== 0);
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) painted++;
  return {id, drawn: true, datasets: chart.data.datasets.length, values: values.length, painted};
})"""


def ten_weeks_of_interviews() -> None:
    """Interviews of organization A over ten weeks, in both languages, three levels, two plans,
    every status and review state, scored; and one of organization B that the reviewer must not
    count."""
    employees = [UserFactory(role=Role.EMPLOYEE, organization_id=ORG_A) for _ in range(3)]
    custom = InterviewPlan.objects.create(slug="warehouse", name="Warehouse roles", topics=[])
    levels = ["basic", "intermediate", "advanced"]
    for week in range(10):
        for n in range(3 + week % 4):
            started = W1 + timedelta(weeks=week, days=n % 5, hours=9 + n)
            kind = (week + n) % 5
            interview = InterviewFactory(
                employee=employees[n % 3],
                language="en" if (week + n) % 3 == 0 else "es",
                technical_level=levels[(week * 2 + n) % 3],
                plan=custom if n % 4 == 3 else None,
                started_at=started,
                status={0: "cancelled", 1: "in_progress", 2: "paused"}.get(kind, "completed"),
                completed_at=started + timedelta(minutes=25 + n) if kind > 2 else None,
            )
            if kind > 2:
                scored(interview, 50 + week * 3 + n, 60 + n * 2)
                # Older interviews reviewed, recent ones waiting: a backlog with every state.
                state = "unreviewed" if week > 6 else ["reviewed", "in_review", "reviewed", "flagged"][(week + n) % 4]
                Interview.objects.filter(pk=interview.pk).update(review_state=state)
            elif kind in (1, 2) and n % 2:
                stale(interview)
    InterviewFactory(employee=UserFactory(organization_id=ORG_B), started_at=W1)


def test_a_reviewer_sees_the_dashboard_drawn_with_data(tmp_path):
    reason = browser_missing()
    if reason:
        print(f"SKIPPED browser test: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with shared_database(tmp_path) as db_env:
        reviewer = UserFactory(role=Role.STAFF, organization_id=ORG_A)
        ten_weeks_of_interviews()
        env = {**db_env, "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0", "TEST_SERVE_STATIC": "1"}
        with daphne(env, tmp_path / "daphne.log") as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                # Reduced motion: the page turns Chart.js's animations off, so what is drawn is final.
                context = browser.new_context(viewport={"width": 1400, "height": 1000}, reduced_motion="reduce")
                page = context.new_page()
                problems: list[str] = []
                page.on(
                    "console",
                    lambda m: problems.append(f"{m.text} {m.location}") if m.type in ("error", "warning") else None,
                )
                page.on("pageerror", lambda e: problems.append(str(e)))
                failed: list[str] = []
                page.on("requestfailed", lambda r: failed.append(r.url))
                page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)

                admin_sign_in(page, base, reviewer)
                page.click("text=Interview dashboard")
                page.wait_for_url(f"{base}/admin/dashboard/")
                expect(page.locator("#total-interviews")).to_have_text("43")
                drawn = "ids => ids.every(id => Chart.getChart(document.getElementById(id)))"
                page.wait_for_function(drawn, arg=CHARTS)
                state = page.evaluate(CHART_STATE, CHARTS)
                page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)

                # Filtered to one language: the page reloads with fewer interviews, still drawn.
                page.select_option("select[name=language]", "en")
                page.click("input[type=submit][value=Apply]")
                page.wait_for_url("**/admin/dashboard/?*language=en*")
                page.wait_for_function("() => Chart.getChart(document.getElementById('chart-volume'))")
                english = page.evaluate(
                    "() => Chart.getChart(document.getElementById('chart-volume')).data.datasets[0].data"
                )
            finally:
                browser.close()

    for chart in state:
        assert chart["drawn"], chart
        assert chart["datasets"] >= 1, chart
        assert chart["values"] >= 1, chart
        assert chart["painted"] > 1000, chart
    assert 0 < sum(english) < 43
    assert failed == []
    # The browser asks for /favicon.ico by itself; the service has none (not this page's doing).
    assert [p for p in problems if "/favicon.ico" not in p] == []
