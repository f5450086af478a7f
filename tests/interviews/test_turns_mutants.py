"""What interviews/services/turns.py promises that the other tests left unpinned: each test here
kills mutants that survived them (docs/mutation.md, `./dev mutate interviews/services/turns.py`).

Most of them drive the recovery functions directly, as a second worker would meet them: a turn
held by someone else (``turn_poll``, ``turn_wait``), a claim that changed hands (``turn_extend``,
``turn_release``), a turn taken over (``_takeover``).
"""

import asyncio
import logging
import threading
import uuid
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from channels.layers import get_channel_layer
from django.utils import timezone

from interviews import services
from interviews.engine import Evaluation, Turn
from interviews.events import group_name
from interviews.exceptions import InterviewNotActive
from interviews.models import Interview, InterviewMessage, InterviewSource, MessageRole
from interviews.services import turns
from tests.interviews.realtime_support import LONG_ANSWER, overdue, pending_answer, scripted_turn, start_interview

pytestmark = pytest.mark.django_db


def _stored(interview_id) -> Interview:
    return Interview.objects.get(pk=interview_id)


# --- step 1: what a pending turn says, and the history the interviewer is sent ----------------------


def test_detail_shows_the_pending_first_question_and_the_pending_answer(employee, client_for):
    client = client_for(employee)
    job = services.turn_start_begin(user=employee, language="en", technical_level="basic")
    other = services.turn_start_begin(user=employee, language="en", technical_level="basic")

    pending = client.get(f"/api/v1/interviews/{job.interview_id}").json()["data"]["pending_turn"]

    assert uuid.UUID(pending["turn_id"])
    assert pending["turn_id"] == job.turn_id != other.turn_id
    assert pending["answer_id"] is None
    assert datetime.fromisoformat(pending["since"]) == _stored(job.interview_id).started_at

    turns.turn_reply_store(job=job, turn=Turn("What is your role?", False, None, 1, 9))
    answer = services.turn_answer_store(actor=employee, interview_id=job.interview_id, answer="Payroll.")
    pending = client.get(f"/api/v1/interviews/{job.interview_id}").json()["data"]["pending_turn"]
    assert pending["turn_id"] == pending["answer_id"] == str(answer.answer.id)
    assert datetime.fromisoformat(pending["since"]) == answer.answer.created_at


def test_an_answer_to_an_interview_not_in_progress_says_its_status(employee):
    interview = start_interview(employee)
    services.interview_status_change(interview_id=interview.id, status="paused", actor=employee)

    with pytest.raises(InterviewNotActive) as raised:
        services.turn_answer_store(actor=employee, interview_id=interview.id, answer="Hello?")

    assert raised.value.message == "The interview is paused; only an interview in progress takes answers."


class _Remembering:
    """An interviewer that is sent the recent history (the scripted one is sent none)."""

    history_messages = 10


def test_history_is_this_interviews_recent_messages_oldest_first(employee, other_employee, monkeypatch):
    interview = start_interview(employee)
    _answered(employee, interview, "c1", "I run payroll.", "Which tools?")
    elsewhere = start_interview(other_employee)
    _answered(other_employee, elsewhere, "c1", "I audit.", "Elsewhere?")
    monkeypatch.setattr(turns, "get_engine", lambda: _Remembering())

    history = turns._history(_stored(interview.id), before=4)

    assert [(m.sequence_number, m.role, m.content, m.imported) for m in history][1:] == [
        (2, MessageRole.USER, "I run payroll.", False),
        (3, MessageRole.ASSISTANT, "Which tools?", False),
    ]
    assert history[0].sequence_number == 1
    monkeypatch.setattr(_Remembering, "history_messages", 1)
    assert [m.content for m in turns._history(_stored(interview.id), before=4)] == ["Which tools?"]
    monkeypatch.setattr(_Remembering, "history_messages", 0)
    assert turns._history(_stored(interview.id), before=4) == ()


def test_history_of_an_imported_interview_is_marked_imported(employee, monkeypatch):
    interview = start_interview(employee)
    Interview.objects.filter(pk=interview.id).update(source=InterviewSource.MIGRATED)
    monkeypatch.setattr(turns, "get_engine", lambda: _Remembering())

    [first] = turns._history(_stored(interview.id), before=2)

    assert (first.sequence_number, first.imported) == (1, True)


def test_snapshot_is_a_deep_copy_of_this_interviews_state(employee):
    interview = start_interview(employee)
    Interview.objects.filter(pk=interview.id).update(engine_state={"topic": 2, "asked": {"tools": [1]}})
    stored = _stored(interview.id)

    snapshot = turns._snapshot(stored)
    snapshot.engine_state["asked"]["tools"].append(2)  # the interviewer works on its own copy

    assert stored.engine_state == {"topic": 2, "asked": {"tools": [1]}}
    assert (snapshot.interview_id, snapshot.language, snapshot.technical_level) == (interview.id, "en", "basic")
    assert snapshot.question_count == stored.question_count == 1


@pytest.mark.parametrize("state", [None, ["not", "a", "dict"], "text"])
def test_snapshot_of_a_state_that_is_not_an_object_starts_empty(employee, state):
    interview = start_interview(employee)
    stored = _stored(interview.id)
    stored.engine_state = state

    assert turns._snapshot(stored).engine_state == {}


def test_snapshot_of_an_imported_interview_counts_its_own_questions(employee, other_employee):
    """No engine state (imported): the questions are counted in this interview's transcript."""
    for _ in range(2):
        start_interview(other_employee)  # other interviews' questions do not count
    interview = start_interview(employee)
    _answered(employee, interview, "c1", "I run payroll.", "Which tools?")
    Interview.objects.filter(pk=interview.id).update(engine_state={}, question_count=0)

    assert turns._snapshot(_stored(interview.id)).question_count == 2


def test_the_first_questions_job_holds_the_stored_claim(employee):
    job = services.turn_start_begin(user=employee, language="en", technical_level="basic")

    assert job.claim == _stored(job.interview_id).turn_claim is not None
    assert (job.history, job.answer, job.takeover) == ((), None, False)


def test_a_first_question_may_come_with_an_evaluation_and_an_answer_without_one(employee):
    """Neither the first question (no answer to evaluate) nor an answer the interviewer did not
    score gets an evaluation, whatever the other one has."""
    job = services.turn_start_begin(user=employee, language="en", technical_level="basic")
    scored = Evaluation(80, "Good start.")
    assert turns.turn_reply_store(job=job, turn=Turn("Your role?", False, scored, 1, 9)) is not None

    answer = services.turn_answer_store(actor=employee, interview_id=job.interview_id, answer="Payroll.")
    result = turns.turn_reply_store(job=answer, turn=Turn("Which tools?", False, None, 2, 9))

    assert result.user_message.evaluation is None
    assert InterviewMessage.objects.get(pk=answer.answer.id).evaluation is None


# --- turn_poll ---------------------------------------------------------------------------------


def test_poll_of_a_turn_still_held_is_its_deadline_and_takes_nothing_over(employee):
    interview, job = pending_answer(employee)
    before = _stored(interview.id)

    state = turns.turn_poll(interview_id=interview.id, turn_id=job.turn_id)

    assert isinstance(state, datetime)
    assert state == before.turn_deadline > timezone.now()
    after = _stored(interview.id)
    assert (after.turn_claim, after.turn_deadline) == (job.claim, before.turn_deadline)


def test_poll_after_the_deadline_takes_the_turn_over_with_the_same_answer(employee):
    interview, job = pending_answer(employee)
    overdue(interview.id)

    state = turns.turn_poll(interview_id=interview.id, turn_id=job.turn_id)

    assert isinstance(state, services.TurnJob)
    assert state.takeover is True
    assert (state.interview_id, state.turn_id, state.answer.id) == (interview.id, job.turn_id, job.answer.id)
    assert state.answer.content == LONG_ANSWER
    assert state.claim != job.claim
    stored = _stored(interview.id)
    assert stored.turn_claim == state.claim
    assert stored.turn_deadline > timezone.now()
    # A second poll right after: the new claim's deadline is ahead, nothing more is taken over.
    assert turns.turn_poll(interview_id=interview.id, turn_id=job.turn_id) == stored.turn_deadline


def test_poll_that_loses_the_takeover_to_another_worker_waits_on(employee, monkeypatch):
    """The deadline passed, but between the poll's read and its takeover another worker took
    the turn (staged: the takeover finds nothing to take). The poll then waits, as before."""
    interview, job = pending_answer(employee)
    passed = overdue(interview.id)
    monkeypatch.setattr(turns, "turn_takeover", lambda *, interview_id: None)

    state = turns.turn_poll(interview_id=interview.id, turn_id=job.turn_id)

    assert state == passed
    assert _stored(interview.id).turn_claim == job.claim


def test_poll_of_a_stored_turn_is_its_first_result(employee):
    interview, job = pending_answer(employee)
    reply = turns.turn_reply_store(job=job, turn=scripted_turn(job, "What comes after the upload?"))
    assert reply is not None

    result = turns.turn_poll(interview_id=interview.id, turn_id=job.turn_id)

    assert isinstance(result, services.ContinueResult)
    assert result.replayed is True
    assert result.user_message.id == job.answer.id
    assert result.assistant_message.id == reply.assistant_message.id
    assert result.assistant_message.content == "What comes after the upload?"
    assert (result.question_number, result.is_final) == (reply.question_number, False)


def test_poll_of_a_stored_turn_while_a_later_turn_is_pending(employee):
    """Another answer's turn is pending now: this one's result is still the stored one."""
    interview, job = pending_answer(employee)
    turns.turn_reply_store(job=job, turn=scripted_turn(job, "Second question?"))
    later = services.turn_answer_store(
        actor=employee, interview_id=interview.id, answer="Then I check totals.", client_message_id="a2"
    )
    assert isinstance(later, services.TurnJob)

    result = turns.turn_poll(interview_id=interview.id, turn_id=job.turn_id)

    assert isinstance(result, services.ContinueResult)
    assert result.assistant_message.content == "Second question?"
    assert result.assistant_message.sequence_number == 3


def test_poll_of_the_first_question_is_the_stored_question(employee):
    job = services.turn_start_begin(user=employee, language="en", technical_level="basic")
    assert isinstance(turns.turn_poll(interview_id=job.interview_id, turn_id=job.turn_id), datetime)
    # Numbered by the interviewer (a plan whose opening counts as question 2), not by a default.
    result = turns.turn_reply_store(job=job, turn=Turn("How does your week start?", False, None, 2, 9))

    polled = turns.turn_poll(interview_id=job.interview_id, turn_id=job.turn_id)

    assert isinstance(polled, services.StartResult)
    assert polled.interview.id == job.interview_id
    assert polled.message.id == result.message.id
    turn = polled.turn
    assert (turn.question, turn.is_final, turn.evaluation, turn.index, turn.total) == (
        "How does your week start?",
        False,
        None,
        2,
        9,
    )


def test_poll_of_a_final_first_question(employee):
    """A plan of one closing message: the first question is also the last."""
    job = services.turn_start_begin(user=employee, language="en", technical_level="basic")
    turns.turn_reply_store(job=job, turn=Turn("Thank you, that is all.", True, None, 1, 1))

    polled = turns.turn_poll(interview_id=job.interview_id, turn_id=job.turn_id)

    assert (polled.turn.is_final, polled.turn.index, polled.turn.total) == (True, 1, 1)


def test_poll_of_a_first_question_without_numbers_counts_it_first(employee):
    """A first question stored without ``index``/``total`` (an older row): number 1 of 0."""
    job = services.turn_start_begin(user=employee, language="en", technical_level="basic")
    turns.turn_reply_store(job=job, turn=Turn("Hello?", False, None, 1, 9))
    InterviewMessage.objects.filter(interview_id=job.interview_id).update(metadata={})

    polled = turns.turn_poll(interview_id=job.interview_id, turn_id=job.turn_id)

    assert (polled.turn.question, polled.turn.is_final, polled.turn.index, polled.turn.total) == ("Hello?", False, 1, 0)


def test_poll_of_a_first_question_the_interview_ended_before(employee):
    job = services.turn_start_begin(user=employee, language="en", technical_level="basic")
    services.interview_status_change(interview_id=job.interview_id, status="cancelled", actor=employee)

    with pytest.raises(InterviewNotActive) as raised:
        turns.turn_poll(interview_id=job.interview_id, turn_id=job.turn_id)

    assert raised.value.message == "The interview ended before the interviewer asked a question."


def test_poll_of_an_answer_whose_interview_ended_before_the_reply(employee):
    interview, job = pending_answer(employee)
    services.interview_status_change(interview_id=interview.id, status="cancelled", actor=employee)

    with pytest.raises(InterviewNotActive) as raised:
        turns.turn_poll(interview_id=interview.id, turn_id=job.turn_id)

    assert raised.value.message == "The interview is cancelled; the interviewer's reply was not stored."


# --- _replay: a resent answer's first result ----------------------------------------------------


def _answered(employee, interview, cmid: str, answer: str, question: str):
    job = services.turn_answer_store(actor=employee, interview_id=interview.id, answer=answer, client_message_id=cmid)
    return turns.turn_reply_store(job=job, turn=scripted_turn(job, question))


def test_a_resent_early_answer_replays_its_own_question_number(employee):
    interview = start_interview(employee)
    first = _answered(employee, interview, "c1", "I run payroll.", "Which tools?")
    _answered(employee, interview, "c2", "Kronos.", "What goes wrong?")
    assert first.question_number != _stored(interview.id).question_count  # what a default would give

    again = services.turn_answer_store(
        actor=employee, interview_id=interview.id, answer="I run payroll.", client_message_id="c1"
    )

    assert again.replayed is True
    assert (again.user_message.id, again.assistant_message.id) == (first.user_message.id, first.assistant_message.id)
    assert (again.question_number, again.is_final) == (first.question_number, False)


def test_a_replay_finds_its_reply_in_its_own_interview(employee, other_employee):
    """Another interview has a reply with the same number: never taken for this one's."""
    elsewhere = start_interview(other_employee)
    _answered(other_employee, elsewhere, "c1", "I audit.", "Elsewhere's question?")
    interview, _ = pending_answer(employee, cmid="c1")
    services.interview_status_change(interview_id=interview.id, status="cancelled", actor=employee)

    with pytest.raises(InterviewNotActive):
        services.turn_answer_store(
            actor=employee, interview_id=interview.id, answer=LONG_ANSWER, client_message_id="c1"
        )

    mine = start_interview(employee)
    answered = _answered(employee, mine, "c9", "I plan.", "Mine?")
    again = services.turn_answer_store(actor=employee, interview_id=mine.id, answer="I plan.", client_message_id="c9")
    assert again.assistant_message.id == answered.assistant_message.id
    assert again.assistant_message.content == "Mine?"


def test_a_replay_of_an_answer_whose_reply_was_never_stored(employee):
    """An answer left without its reply and without a pending turn (a row from before turns were
    claimed): the replay says so, no question, numbered where the interview stands, not final."""
    interview, job = pending_answer(employee, cmid="c1")
    Interview.objects.filter(pk=interview.id).update(pending_turn=None, turn_claim=None, turn_deadline=None)

    again = services.turn_answer_store(
        actor=employee, interview_id=interview.id, answer=LONG_ANSWER, client_message_id="c1"
    )

    assert again.replayed is True
    assert (again.user_message.id, again.assistant_message) == (job.answer.id, None)
    assert (again.question_number, again.is_final) == (_stored(interview.id).question_count, False)


def test_a_replay_of_a_reply_without_its_final_flag_is_not_final(employee):
    interview = start_interview(employee)
    first = _answered(employee, interview, "c1", "I run payroll.", "Which tools?")
    InterviewMessage.objects.filter(pk=first.assistant_message.id).update(metadata={"index": 2, "total": 9})

    again = services.turn_answer_store(
        actor=employee, interview_id=interview.id, answer="I run payroll.", client_message_id="c1"
    )

    assert (again.question_number, again.is_final) == (2, False)


def test_a_sync_resend_while_its_turn_is_pending_waits_and_says_replayed(employee):
    """The sync entry point (REST without SSE): a resent answer whose worker died is taken over,
    answered, and reported as the replay it is."""
    interview, job = pending_answer(employee, cmid="c1")
    overdue(interview.id)

    result = services.interview_continue(
        interview_id=interview.id, answer=LONG_ANSWER, client_message_id="c1", actor=employee
    )

    assert result.replayed is True
    assert result.user_message.id == job.answer.id
    assert result.assistant_message.sequence_number == 3
    assert _stored(interview.id).pending_turn is None


# --- the claim: extend, release, take over ------------------------------------------------------


def test_extend_moves_the_deadline_a_timeout_ahead_while_the_claim_holds(employee, settings):
    settings.TURN_TIMEOUT_SECONDS = 600
    interview, job = pending_answer(employee)
    overdue(interview.id)

    assert turns.turn_extend(job=job) is True

    deadline = _stored(interview.id).turn_deadline
    ahead = (deadline - timezone.now()).total_seconds()
    assert 590 < ahead <= 600


def test_extend_of_a_lost_claim_is_false_and_moves_nothing(employee):
    interview, job = pending_answer(employee)
    passed = overdue(interview.id)
    taker = services.turn_takeover(interview_id=interview.id)
    taken = _stored(interview.id).turn_deadline
    other, _ = pending_answer(employee, cmid="b1")  # another interview, whose claim stays put
    other_deadline = _stored(other.id).turn_deadline

    assert turns.turn_extend(job=job) is False

    assert _stored(interview.id).turn_deadline == taken != passed
    assert _stored(interview.id).turn_claim == taker.claim
    assert _stored(other.id).turn_deadline == other_deadline


def test_release_lets_the_next_caller_take_over_at_once(employee):
    interview, job = pending_answer(employee)
    other, _ = pending_answer(employee, cmid="b1")
    other_deadline = _stored(other.id).turn_deadline
    assert services.turn_takeover(interview_id=interview.id) is None

    turns.turn_release(job=job)

    stored = _stored(interview.id)
    assert stored.turn_deadline <= timezone.now()
    assert stored.turn_claim == job.claim  # released, not taken: the claim is only given up
    assert _stored(other.id).turn_deadline == other_deadline  # only this interview's turn
    taker = services.turn_takeover(interview_id=interview.id)
    assert taker is not None
    assert (taker.turn_id, taker.answer.id) == (job.turn_id, job.answer.id)


def test_release_of_a_lost_claim_leaves_the_new_holder_alone(employee):
    interview, job = pending_answer(employee)
    overdue(interview.id)
    taker = services.turn_takeover(interview_id=interview.id)
    held = _stored(interview.id).turn_deadline

    turns.turn_release(job=job)

    assert _stored(interview.id).turn_deadline == held > timezone.now()
    assert services.turn_takeover(interview_id=interview.id) is None
    assert _stored(interview.id).turn_claim == taker.claim


def test_takeover_carries_the_answer_its_history_and_snapshot(employee, monkeypatch, caplog):
    interview = start_interview(employee)
    monkeypatch.setattr(turns, "get_engine", lambda: _Remembering())
    first = services.turn_answer_store(actor=employee, interview_id=interview.id, answer="I run payroll.")
    turns.turn_reply_store(job=first, turn=scripted_turn(first, "Which tools?"))
    job = services.turn_answer_store(
        actor=employee, interview_id=interview.id, answer="Kronos and Excel.", client_message_id="t2"
    )
    assert [m.sequence_number for m in job.history] == [1, 2, 3]
    overdue(interview.id)

    with caplog.at_level(logging.WARNING, logger="interviews.turns"):
        taker = services.turn_takeover(interview_id=interview.id)

    assert taker.takeover is True
    assert (taker.interview_id, taker.turn_id) == (interview.id, job.turn_id)
    assert (taker.answer.id, taker.answer.sequence_number, taker.answer.content) == (
        job.answer.id,
        4,
        "Kronos and Excel.",
    )
    assert taker.history == job.history
    assert [(m.role, m.content) for m in taker.history][1:] == [
        (MessageRole.USER, "I run payroll."),
        (MessageRole.ASSISTANT, "Which tools?"),
    ]
    assert taker.snapshot == job.snapshot
    stored = _stored(interview.id)
    assert (stored.turn_claim, stored.pending_turn["turn_id"]) == (taker.claim, job.turn_id)
    assert stored.turn_deadline > timezone.now()
    assert [r.getMessage() for r in caplog.records] == [
        f"taking over turn {job.turn_id} of interview {interview.id} (its deadline passed)"
    ]


def test_takeover_of_a_first_question_has_no_answer(employee):
    job = services.turn_start_begin(user=employee, language="en", technical_level="basic")
    overdue(job.interview_id)

    taker = services.turn_takeover(interview_id=job.interview_id)

    assert taker.answer is None
    assert (taker.turn_id, taker.history, taker.takeover) == (job.turn_id, (), True)
    assert taker.claim != job.claim


def test_takeover_of_a_turn_no_longer_pending_is_none(employee):
    """A deadline left behind without a pending turn (written by hand, or by an older release):
    nothing to take over, and no crash on the missing turn."""
    interview, job = pending_answer(employee)
    Interview.objects.filter(pk=interview.id).update(
        pending_turn=None, turn_deadline=timezone.now() - timedelta(seconds=1)
    )

    assert services.turn_takeover(interview_id=interview.id) is None
    assert _stored(interview.id).turn_claim == job.claim


def test_sweep_takes_the_longest_overdue_first_up_to_its_limit(employee):
    started = [pending_answer(employee, cmid=f"s{n}") for n in range(3)]
    for n, (interview, _) in enumerate(started):
        overdue(interview.id, seconds=10 + n)  # the last one has waited longest
    not_due, _ = pending_answer(employee, cmid="s9")

    jobs = turns.turn_sweep(limit=2)

    assert [job.interview_id for job in jobs] == [started[2][0].id, started[1][0].id]
    assert all(job.takeover for job in jobs)
    assert [job.turn_id for job in jobs] == [started[2][1].turn_id, started[1][1].turn_id]
    assert _stored(started[0][0].id).turn_claim == started[0][1].claim  # past the limit: untouched
    rest = turns.turn_sweep()
    assert [job.interview_id for job in rest] == [started[0][0].id]
    assert _stored(not_due.id).turn_deadline > timezone.now()


def test_takeover_reads_one_row_when_nothing_is_due(employee, django_assert_num_queries):
    """The common case (every poll, every sweep candidate) costs one indexed read and no lock,
    even while another interview's turn is overdue."""
    interview, _ = pending_answer(employee)
    overdue_elsewhere, _ = pending_answer(employee, cmid="b1")
    overdue(overdue_elsewhere.id)

    with django_assert_num_queries(1):
        assert services.turn_takeover(interview_id=interview.id) is None


def test_takeover_loads_the_plan_with_the_locked_row(employee, django_assert_num_queries):
    """The snapshot needs the interview's plan: it comes in the lock's query, not one more."""
    interview, _ = pending_answer(employee)
    overdue(interview.id)

    # exists, the lock (with the plan), the claim, the answer; and the savepoint pair the test's
    # own transaction adds around the takeover's
    with django_assert_num_queries(6):
        taker = services.turn_takeover(interview_id=interview.id)
    assert taker.snapshot.plan is not None


# --- turn_wait, turn_continue, turn_run, _keep_alive: the async steps, with a stand-in ``db`` -----


def _job(*, takeover: bool = False, answer: str | None = "I check the hours.") -> services.TurnJob:
    return services.TurnJob(
        interview_id=uuid.uuid4(),
        turn_id="turn-1",
        claim=uuid.uuid4(),
        snapshot=object(),
        history=(object(), object()),
        answer=SimpleNamespace(content=answer) if answer is not None else None,
        takeover=takeover,
    )


class _Db:
    """``db(fn, **kwargs)`` that records each call and answers from ``answers[fn.__name__]``
    (a list, one item per call; an exception is raised)."""

    def __init__(self, **answers):
        self.answers = {name: list(values) for name, values in answers.items()}
        self.calls: list[tuple[str, dict]] = []

    async def __call__(self, fn, **kwargs):
        self.calls.append((fn.__name__, kwargs))
        answer = self.answers[fn.__name__].pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


class _Engine:
    """Records what it is asked; writes ``text`` as two deltas; fails with ``error`` if set."""

    def __init__(self, *, text="Which tool next?", error: Exception | None = None, seconds: float = 0):
        self.text = text
        self.error = error
        self.seconds = seconds
        self.asked: list[tuple] = []
        self.turn = Turn(text, False, None, 2, 9, {"topic": 1})

    async def first_turn(self, snapshot, on_delta, on_reset):
        self.asked.append(("first_turn", snapshot))
        on_delta("Hel")
        on_reset()  # a provider that failed mid-stream; the next one starts again
        return await self._answer(on_delta)

    async def next_turn(self, snapshot, history, answer, on_delta, on_reset):
        self.asked.append(("next_turn", snapshot, history, answer))
        return await self._answer(on_delta)

    async def _answer(self, on_delta):
        if self.seconds:
            await asyncio.sleep(self.seconds)
        if self.error is not None:
            raise self.error
        on_delta(self.text[:5])
        on_delta(self.text[5:])
        return self.turn


async def test_wait_polls_the_turn_until_its_result_is_stored(monkeypatch):
    monkeypatch.setattr(turns, "POLL_SECONDS", 0.01)
    deadline = timezone.now() + timedelta(seconds=60)
    result = object()
    db = _Db(turn_poll=[deadline, deadline, result])
    interview_id = uuid.uuid4()

    assert await turns.turn_wait(interview_id=interview_id, turn_id="turn-1", db=db) is result

    assert db.calls == [("turn_poll", {"interview_id": interview_id, "turn_id": "turn-1"})] * 3


async def test_wait_runs_a_turn_it_took_over_with_its_listener(monkeypatch):
    job = _job(takeover=True)
    ran = []

    async def run(state, *, db, listener=None):
        ran.append((state, db, listener))
        return "the reply"

    monkeypatch.setattr(turns, "turn_run", run)
    db = _Db(turn_poll=[job])
    listener = [].append

    assert await turns.turn_wait(interview_id=job.interview_id, turn_id=job.turn_id, db=db, listener=listener) == (
        "the reply"
    )
    assert ran == [(job, db, listener)]


async def test_continue_waits_for_a_resent_answer_and_runs_a_new_one(monkeypatch):
    seen = []

    async def wait(*, interview_id, turn_id, db, listener=None):
        seen.append(("wait", interview_id, turn_id, db, listener))
        return "waited"

    async def run(job, *, db, listener=None):
        seen.append(("run", job, db, listener))
        return "ran"

    monkeypatch.setattr(turns, "turn_wait", wait)
    monkeypatch.setattr(turns, "turn_run", run)
    job, db, listener = _job(), _Db(), [].append
    waiting = services.TurnWait(job.interview_id, "turn-7", job.answer)

    assert await turns.turn_continue(waiting, db=db, listener=listener) == "waited"
    assert await turns.turn_continue(job, db=db, listener=listener) == "ran"
    assert seen == [("wait", job.interview_id, "turn-7", db, listener), ("run", job, db, listener)]


async def test_run_asks_for_the_next_turn_streams_it_and_stores_it(monkeypatch):
    engine = _Engine()
    monkeypatch.setattr(turns, "get_engine", lambda: engine)
    job = _job()
    db = _Db(turn_reply_store=["stored"])
    frames_seen = []

    assert await turns.turn_run(job, db=db, listener=frames_seen.append) == "stored"

    assert engine.asked == [("next_turn", job.snapshot, list(job.history), "I check the hours.")]
    assert db.calls == [("turn_reply_store", {"job": job, "turn": engine.turn})]
    assert frames_seen[0] == {"type": "question_delta", "turn_id": "turn-1", "delta": "Which", "seq": 0}
    assert "".join(f["delta"] for f in frames_seen) == "Which tool next?"
    assert [f["seq"] for f in frames_seen] == list(range(len(frames_seen)))


async def test_run_of_the_first_question_asks_for_the_first_turn(monkeypatch):
    engine = _Engine(text="Hello, what is your role?")
    monkeypatch.setattr(turns, "get_engine", lambda: engine)
    job = _job(answer=None)

    frames_seen = []

    assert await turns.turn_run(job, db=_Db(turn_reply_store=["stored"]), listener=frames_seen.append) == "stored"
    assert engine.asked == [("first_turn", job.snapshot)]
    assert [f["type"] for f in frames_seen][:3] == ["question_delta", "question_reset", "question_delta"]
    assert "".join(f["delta"] for f in frames_seen[2:]) == "Hello, what is your role?"


async def test_run_of_a_turn_taken_over_starts_with_a_reset(monkeypatch):
    monkeypatch.setattr(turns, "get_engine", lambda: _Engine())
    job = _job(takeover=True)
    frames_seen = []

    await turns.turn_run(job, db=_Db(turn_reply_store=["stored"]), listener=frames_seen.append)

    assert frames_seen[0] == {"type": "question_reset", "turn_id": "turn-1"}
    assert frames_seen[1]["type"] == "question_delta"
    assert frames_seen[1]["seq"] == 0


async def test_run_whose_engine_fails_releases_the_claim_and_raises(monkeypatch):
    monkeypatch.setattr(turns, "get_engine", lambda: _Engine(error=RuntimeError("model down")))
    job = _job()
    db = _Db(turn_release=[None])

    with pytest.raises(RuntimeError, match="model down"):
        await turns.turn_run(job, db=db)

    assert db.calls == [("turn_release", {"job": job})]


async def test_run_that_cannot_release_logs_it_and_raises_the_first_failure(monkeypatch, caplog):
    monkeypatch.setattr(turns, "get_engine", lambda: _Engine(error=RuntimeError("model down")))
    job = _job()
    db = _Db(turn_release=[OSError("database away")])

    with caplog.at_level(logging.WARNING, logger="interviews.turns"), pytest.raises(RuntimeError, match="model down"):
        await turns.turn_run(job, db=db)

    [record] = caplog.records
    assert record.getMessage() == f"could not release turn turn-1 of interview {job.interview_id}"
    assert record.exc_info[0] is OSError


async def test_run_whose_reply_was_refused_returns_the_one_stored_by_the_taker(monkeypatch):
    monkeypatch.setattr(turns, "get_engine", lambda: _Engine())
    waited = []

    async def wait(*, interview_id, turn_id, db, listener=None):
        waited.append((interview_id, turn_id, db, listener))
        return "the taker's reply"

    monkeypatch.setattr(turns, "turn_wait", wait)
    job, db, listener = _job(), _Db(turn_reply_store=[None]), [].append

    assert await turns.turn_run(job, db=db, listener=listener) == "the taker's reply"
    assert waited == [(job.interview_id, "turn-1", db, listener)]


async def test_run_keeps_the_deadline_ahead_while_the_engine_works_and_stops_after(monkeypatch, settings):
    settings.TURN_TIMEOUT_SECONDS = 0.06  # extended every 0.02 s
    monkeypatch.setattr(turns, "get_engine", lambda: _Engine(seconds=0.3))
    job = _job()
    db = _Db(turn_extend=[True] * 100, turn_reply_store=["stored"])

    assert await turns.turn_run(job, db=db) == "stored"
    extended = db.names().count("turn_extend")
    assert extended >= 2
    assert db.names()[-1] == "turn_reply_store"
    assert all(kwargs == {"job": job} for name, kwargs in db.calls if name == "turn_extend")
    await asyncio.sleep(0.1)
    assert db.names().count("turn_extend") == extended  # the heartbeat ended with the engine


async def test_keep_alive_carries_on_past_a_failure_and_stops_when_the_claim_is_lost(settings, caplog):
    settings.TURN_TIMEOUT_SECONDS = 0.03
    job = _job()
    db = _Db(turn_extend=[True, OSError("database away"), True, False])

    with caplog.at_level(logging.WARNING, logger="interviews.turns"):
        await asyncio.wait_for(turns._keep_alive(job, db), timeout=30)  # bounds a hang only

    assert db.calls == [("turn_extend", {"job": job})] * 4
    [record] = caplog.records
    assert record.getMessage() == f"could not extend turn turn-1 of interview {job.interview_id}"
    assert record.exc_info[0] is OSError


# --- the threads and tasks turns run on -----------------------------------------------------------


async def test_turns_database_steps_run_on_their_own_threads(monkeypatch, settings):
    settings.TURN_DB_THREADS = 3
    monkeypatch.setattr(turns, "_DB_EXECUTOR", None)
    executor = turns._db_executor()
    try:
        assert turns._db_executor() is executor  # one pool per process
        assert executor._max_workers == 3

        name = await turns.db_async(lambda: threading.current_thread().name)

        assert name.startswith("turn-db")
    finally:
        executor.shutdown(wait=False)


async def test_a_spawned_turn_is_held_until_it_ends():
    """Nothing else references a turn whose socket closed: the set keeps it from being collected."""
    gate = asyncio.Event()

    async def turn():
        await gate.wait()
        return "done"

    task = turns.turn_spawn(turn())
    assert task in turns._running
    gate.set()
    assert await asyncio.wait_for(task, timeout=10) == "done"
    await asyncio.sleep(0)  # done callbacks run on the next pass of the loop
    assert task not in turns._running


@pytest.mark.parametrize(("in_transaction", "closed"), [(False, [True]), (True, [])])
def test_connection_goes_back_to_the_pool_only_outside_a_transaction(monkeypatch, in_transaction, closed):
    """Closing inside a transaction would break it (tests, a caller's atomic block); outside
    one, the thread's connection is let go before the interviewer is asked."""
    calls = []
    fake = SimpleNamespace(in_atomic_block=in_transaction, close=lambda: calls.append(True))
    monkeypatch.setattr(turns, "connection", fake)

    turns.connection_release()

    assert calls == closed


async def test_a_delta_that_cannot_be_published_is_a_warning(monkeypatch, caplog):
    """Deltas are a preview (the stored question follows): losing one is logged as a warning."""

    class Down:
        async def group_send(self, group, message):
            raise OSError("redis away")

    monkeypatch.setattr("interviews.events.get_channel_layer", lambda: Down())
    interview_id = uuid.uuid4()
    stream = turns.DeltaStream(interview_id, "turn-1")

    with caplog.at_level(logging.WARNING, logger="interviews"):
        stream.delta("Which")
        await stream.close()

    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", f"could not publish a question delta for interview {interview_id}")
    ]


# --- DeltaStream ---------------------------------------------------------------------------------


async def _group_frames(layer, channel, count: int) -> list[dict]:
    out = []
    while len(out) < count:
        message = await asyncio.wait_for(layer.receive(channel), timeout=10)  # bounds a hang only
        out.extend(message["frames"])
    return out


async def test_stream_sends_the_first_piece_at_once_and_coalesces_the_rest(settings):
    settings.TURN_DELTA_INTERVAL_MS = 50
    interview_id = uuid.uuid4()
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group_name(interview_id), channel)
    seen = []
    try:
        stream = turns.DeltaStream(interview_id, "turn-1", seen.append)
        stream.delta("Which")
        assert seen == [{"type": "question_delta", "turn_id": "turn-1", "delta": "Which", "seq": 0}]
        stream.delta("")  # nothing to send, and no timer for it
        stream.delta(" tool")
        stream.delta(" next?")
        assert len(seen) == 1  # inside the interval: buffered
        await asyncio.sleep(0.3)  # the interval's timer fires on this loop before the sleep ends
        assert seen[1:] == [{"type": "question_delta", "turn_id": "turn-1", "delta": " tool next?", "seq": 1}]
        stream.delta(" Or")  # the interval since the last frame has passed: at once again
        assert seen[2:] == [{"type": "question_delta", "turn_id": "turn-1", "delta": " Or", "seq": 2}]
        stream.delta(" which")
        await stream.close()  # sends what is buffered, and returns once it has left
        assert seen[3:] == [{"type": "question_delta", "turn_id": "turn-1", "delta": " which", "seq": 3}]
        published = await _group_frames(layer, channel, 4)
    finally:
        await layer.group_discard(group_name(interview_id), channel)
    assert published == seen


async def test_stream_reset_drops_what_is_buffered_and_counts_again(settings):
    settings.TURN_DELTA_INTERVAL_MS = 50
    seen = []
    stream = turns.DeltaStream(uuid.uuid4(), "turn-1", seen.append)
    stream.delta("Wh")
    stream.delta("ich")  # buffered, then dropped by the reset

    stream.reset()
    await asyncio.sleep(0.2)  # the dropped piece's timer would have fired by now
    stream.delta("What")
    await stream.close()

    assert seen == [
        {"type": "question_delta", "turn_id": "turn-1", "delta": "Wh", "seq": 0},
        {"type": "question_reset", "turn_id": "turn-1"},
        {"type": "question_delta", "turn_id": "turn-1", "delta": "What", "seq": 0},
    ]


async def test_stream_without_a_listener_still_publishes():
    interview_id = uuid.uuid4()
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group_name(interview_id), channel)
    try:
        stream = turns.DeltaStream(interview_id, "turn-2")
        stream.reset()
        stream.delta("Hi")
        await stream.close()
        published = await _group_frames(layer, channel, 2)
    finally:
        await layer.group_discard(group_name(interview_id), channel)
    assert published == [
        {"type": "question_reset", "turn_id": "turn-2"},
        {"type": "question_delta", "turn_id": "turn-2", "delta": "Hi", "seq": 0},
    ]
