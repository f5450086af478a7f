"""The built-in interview page in a real browser: headless Chromium driven by Playwright.

Uses Debian's ``chromium`` (``./dev test`` installs it when missing and it can); Playwright's own
browser download is never used. Skips, saying why, only when no browser can be had.

Screenshots of the streaming test go to ``$BROWSER_SCREENSHOTS`` (default
``/tmp/interviewsvc-browser``).
"""

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from accounts.models import Role
from bench.fake_llm import QUESTIONS, FakeLLM, running
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
SCREENSHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS") or Path(tempfile.gettempdir()) / "interviewsvc-browser")
SECOND_ANSWER = "Every Monday I collect 40 timesheets, check overtime against the rota and fix mistakes by phone."


def browser_missing() -> str | None:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (./dev test installs Debian's chromium when run as root with apt-get)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"playwright is not installed ({exc})"
    return None


def sign_in(page, base: str, user) -> None:
    """The employee signs in on the built-in pages."""
    page.set_default_timeout(15_000)
    page.goto(f"{base}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def admin_sign_in(page, base: str, user) -> None:
    """A staff member signs in to the admin."""
    page.set_default_timeout(15_000)
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")


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
                sign_in(page, base, user)

                page.select_option("select[name=language]", "en")
                page.click("text=Start a new interview")
                page.wait_for_url(f"{base}/interviews/*/")
                expect(page.locator("#connection")).to_have_text("live")
                expect(page.locator("#role")).to_have_text("participant")
                expect(page.locator("#current-question")).to_have_text(DEFAULT_PLAN[0]["en"])
                interview_id = page.url.rstrip("/").rsplit("/", 1)[-1]

                # A reviewer follows it live: admin sign-in, the interview's admin page, "Watch live".
                watcher = browser.new_context().new_page()
                admin_sign_in(watcher, base, reviewer)
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


# Every text the preview showed, in order (a MutationObserver on the transcript): the test reads
# the whole growth afterwards instead of racing the stream with polls.
RECORD_PREVIEWS = """() => {
  window.previews = [];
  const note = () => {
    const shown = document.querySelector("#transcript #writing .writing-text");
    if (shown && window.previews.at(-1) !== shown.textContent) window.previews.push(shown.textContent);
  };
  const options = {subtree: true, childList: true, characterData: true};
  new MutationObserver(note).observe(document.getElementById("transcript"), options);
}"""
# The preview is on screen, between ``low`` and ``high`` characters long: the question is being written.
WRITING_BETWEEN = """([low, high]) => {
  const shown = document.querySelector("#transcript #writing .writing-text");
  return shown !== null && shown.textContent.length >= low && shown.textContent.length <= high;
}"""


def assert_grew(previews: list[str], final: str, who: str) -> None:
    """The preview of ``who`` grew through prefixes of the final question, from a short one (it
    shows the writing indicator alone, with no text, until the first delta)."""
    previews = [text for text in previews if text]
    assert previews, f"{who}: the preview never showed any text"
    assert all(final.startswith(text) for text in previews), f"{who}: {previews!r} vs {final!r}"
    lengths = [len(text) for text in previews]
    assert lengths == sorted(lengths), f"{who}: the preview shrank: {previews!r}"
    assert 0 < lengths[0] < len(final) / 2, f"{who}: the preview started at {previews[0]!r}"
    assert len(set(lengths)) >= 5, f"{who}: the question appeared in {len(set(lengths))} steps, not as it was written"


def test_the_question_grows_as_the_interviewer_writes_it(tmp_path):
    """An ``openai`` interviewer pointed at a slow streaming model: the employee's page and the
    observer's watch page show the next question as it is written, then the persisted text; an
    observer who opens the page mid-turn sees the writing indicator and the rest of it."""
    reason = browser_missing()
    if reason:
        print(f"SKIPPED browser test: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots = {name: SCREENSHOTS / f"{name}.png" for name in ("participant-half", "observer-half", "late-observer")}
    shots |= {name: SCREENSHOTS / f"{name}.png" for name in ("participant-final", "observer-final")}
    fake = FakeLLM(ttft=0.1, tokens_per_second=400.0)  # the first question, asked on "Start": quick
    with running(fake) as llm_url, shared_database(tmp_path) as db_env:
        user = UserFactory(role=Role.EMPLOYEE, organization_id=ORG_A)
        reviewer = UserFactory(role=Role.STAFF, organization_id=ORG_A)
        env = {
            **db_env,
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "INTERVIEWER_PROVIDERS": "openai,scripted",
            "OPENAI_BASE_URL": llm_url,
            "OPENAI_API_KEY": "x",
            "OPENAI_TIMEOUT_SECONDS": "20",
        }
        with daphne(env, tmp_path / "daphne.log") as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 900, "height": 900})
                sign_in(page, base, user)
                page.select_option("select[name=language]", "en")
                page.click("text=Start a new interview")
                page.wait_for_url(f"{base}/interviews/*/")
                expect(page.locator("#connection")).to_have_text("live")
                first = page.locator("#current-question")
                expect(first).not_to_have_text("")
                assert first.text_content() == QUESTIONS["en"][0], (
                    "the first question is not the fake model's: the openai provider did not answer "
                    f"(scripted fallback?); daphne log:\n{(tmp_path / 'daphne.log').read_text()[-3000:]}"
                )
                interview_id = page.url.rstrip("/").rsplit("/", 1)[-1]
                watch_url = f"{base}/interviews/{interview_id}/watch/"

                watcher = browser.new_context(viewport={"width": 900, "height": 900}).new_page()
                admin_sign_in(watcher, base, reviewer)
                watcher.goto(f"{base}/admin/interviews/interview/{interview_id}/change/")
                watcher.click("text=Watch live")
                watcher.wait_for_url(watch_url)
                expect(watcher.locator("#role")).to_have_text("observer")
                expect(watcher.locator("#transcript li")).to_have_count(1)
                # Another reviewer, signed in already, opens the watch page only once the turn is underway.
                late = browser.new_context(viewport={"width": 900, "height": 900}).new_page()
                admin_sign_in(late, base, reviewer)
                for each in (page, watcher):
                    each.evaluate(RECORD_PREVIEWS)

                # The next question at 32 characters a second, 2 at a time (about 5 s; the whole reply,
                # with the evaluation after the question, about 14 s: within OPENAI_TIMEOUT_SECONDS).
                fake.ttft, fake.tokens_per_second, fake.chars_per_token = 0.5, 16.0, 2
                expected = QUESTIONS["en"][1]
                page.fill("#answer", LONG_ANSWER)
                page.click("#send")
                expect(page.locator("#send")).to_be_disabled()
                page.wait_for_function(WRITING_BETWEEN, arg=[1, len(expected) // 4])
                expect(page.locator("#send")).to_be_disabled()  # while the interviewer writes
                expect(page.locator("#writing .writing-label")).to_have_text("The interviewer is writing…")
                # The late observer joins now: ``pending_turn`` in ``connected``, then the rest of the deltas.
                late.goto(watch_url)
                expect(late.locator("#writing .writing-label")).to_be_visible()

                half = [len(expected) * 2 // 5, len(expected) * 3 // 5]
                page.wait_for_function(WRITING_BETWEEN, arg=half)
                page.screenshot(path=shots["participant-half"], full_page=True)
                watcher.wait_for_function(WRITING_BETWEEN, arg=half)
                watcher.screenshot(path=shots["observer-half"], full_page=True)
                late.wait_for_function(WRITING_BETWEEN, arg=[20, len(expected)])
                late.screenshot(path=shots["late-observer"], full_page=True)
                late_preview = late.locator("#writing .writing-text")
                expect(late_preview).to_have_text(re.compile(r"^… \S"))  # the rest of it, marked as such
                rest = late_preview.text_content().removeprefix("… ")
                assert rest in expected, rest
                assert not expected.startswith(rest), f"the late observer got the whole question: {rest!r}"

                for each in (page, watcher, late):
                    expect(each.locator("#writing")).to_have_count(0, timeout=20_000)
                    expect(each.locator("#transcript li")).to_have_count(3)
                    expect(each.locator("#transcript li").nth(2)).to_have_text(expected)
                expect(page.locator("#current-question")).to_have_text(expected)
                expect(page.locator("#send")).to_be_enabled()
                expect(watcher.locator("#transcript .score")).to_have_count(1)
                page.screenshot(path=shots["participant-final"], full_page=True)
                watcher.screenshot(path=shots["observer-final"], full_page=True)
                previews = {
                    "participant": page.evaluate("window.previews"),
                    "observer": watcher.evaluate("window.previews"),
                }
                for each in (page, watcher, late):
                    expect(each.locator("#error")).to_have_text("")

                check_preview_rules(browser, base, user, interview_id)
            finally:
                browser.close()

        interview = Interview.objects.get(pk=interview_id)
        stored = list(interview.messages.order_by("sequence_number").values_list("role", "content"))
        assert stored[:3] == [
            (MessageRole.ASSISTANT, QUESTIONS["en"][0]),
            (MessageRole.USER, LONG_ANSWER),
            (MessageRole.ASSISTANT, expected),
        ]
        for who, seen in previews.items():
            assert_grew(seen, expected, who)
        print("screenshots:", *shots.values())


def check_preview_rules(browser, base: str, user, interview_id: str) -> None:
    """The page's rules for previews, with frames injected into the socket of another tab of the
    employee (the server's frames still pass through): deltas of another turn and repeats are
    ignored, ``question_reset`` clears, the text is never parsed as HTML, ``turn_in_progress`` is
    a notice and keeps the answer, the persisted ``question`` replaces the preview and late
    deltas of a finished turn are ignored."""
    from playwright.sync_api import expect

    context = browser.new_context()
    tab = context.new_page()
    sign_in(tab, base, user)
    sockets = []

    def through(ws):
        ws.connect_to_server()
        sockets.append(ws)

    tab.route_web_socket("**/ws/interviews/**", through)
    tab.goto(f"{base}/interviews/{interview_id}/")
    expect(tab.locator("#connection")).to_have_text("live")
    expect(tab.locator("#transcript li")).to_have_count(3)
    [ws] = sockets

    def inject(**frame):
        ws.send(json.dumps(frame))

    preview = tab.locator("#writing .writing-text")
    inject(type="question_delta", turn_id="t-1", delta="What ", seq=0)
    expect(preview).to_have_text("What ")
    expect(tab.locator("#send")).to_be_disabled()
    inject(type="question_delta", turn_id="t-1", delta="What ", seq=0)  # a repeat
    inject(type="question_delta", turn_id="t-other", delta="NO", seq=1)  # another turn
    inject(type="question_delta", turn_id="t-1", delta="<img src=x onerror=alert(1)>", seq=1)
    expect(preview).to_have_text("What <img src=x onerror=alert(1)>")
    expect(tab.locator("#transcript img")).to_have_count(0)
    inject(type="question_reset", turn_id="t-1")
    expect(preview).to_have_text("")
    expect(tab.locator("#writing .writing-label")).to_be_visible()
    inject(type="question_delta", turn_id="t-1", delta="Which tools", seq=0)
    expect(preview).to_have_text("Which tools")

    tab.fill("#answer", "An answer typed while the question is written.")
    tab.evaluate("document.getElementById('send').disabled = false")  # as if it raced the frames
    inject(type="error", code="turn_in_progress", message="The interviewer is still answering.")
    expect(tab.locator("#notice")).to_contain_text("still being written")
    expect(tab.locator("#error")).to_have_text("")
    expect(tab.locator("#answer")).to_have_value("An answer typed while the question is written.")
    expect(tab.locator("#send")).to_be_disabled()
    tab.screenshot(path=SCREENSHOTS / "turn-in-progress.png", full_page=True)

    inject(type="question", message_id="m-9", sequence_number=9, text="Which tools do you use?", index=3, total=6)
    expect(tab.locator("#writing")).to_have_count(0)
    expect(tab.locator("#transcript li").last).to_have_text("Which tools do you use?")
    expect(tab.locator("#notice")).to_have_text("")
    expect(tab.locator("#send")).to_be_enabled()
    inject(type="question_delta", turn_id="t-1", delta="late", seq=1)  # the finished turn
    tab.wait_for_timeout(200)
    expect(tab.locator("#writing")).to_have_count(0)
    context.close()
