"""What interviews/services/turns.py promises that the other tests left unpinned: each test here
kills mutants that survived them (docs/mutation.md, `./dev mutate interviews/services/turns.py`).

Most of them drive the recovery functions directly, as a second worker would meet them: a turn
held by someone else (``turn_poll``, ``turn_wait``), a claim that changed hands (``turn_extend``,
``turn_release``), a turn taken over (``_takeover``).
"""

import logging
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from interviews import services
from interviews.engine import Turn
from interviews.exceptions import InterviewNotActive
from interviews.models import Interview, InterviewMessage, InterviewStatus, MessageRole
from interviews.services import turns
from tests.interviews.realtime_support import LONG_ANSWER, start_interview

pytestmark = pytest.mark.django_db


def _pending(employee, cmid: str = "a1", answer: str = LONG_ANSWER):
    """An interview whose answer #2 is stored and whose turn is held by another worker."""
    interview = start_interview(employee)
    job = services.turn_answer_store(actor=employee, interview_id=interview.id, answer=answer, client_message_id=cmid)
    assert isinstance(job, services.TurnJob)
    return interview, job


def _overdue(interview_id, seconds: float = 1) -> datetime:
    deadline = timezone.now() - timedelta(seconds=seconds)
    Interview.objects.filter(pk=interview_id).update(turn_deadline=deadline)
    return deadline


def _stored(interview_id) -> Interview:
    return Interview.objects.get(pk=interview_id)


# --- turn_poll ---------------------------------------------------------------------------------


def test_poll_of_a_turn_still_held_is_its_deadline_and_takes_nothing_over(employee):
    interview, job = _pending(employee)
    before = _stored(interview.id)

    state = turns.turn_poll(interview_id=interview.id, turn_id=job.turn_id)

    assert isinstance(state, datetime)
    assert state == before.turn_deadline > timezone.now()
    after = _stored(interview.id)
    assert (after.turn_claim, after.turn_deadline) == (job.claim, before.turn_deadline)


def test_poll_after_the_deadline_takes_the_turn_over_with_the_same_answer(employee):
    interview, job = _pending(employee)
    _overdue(interview.id)

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
    interview, job = _pending(employee)
    passed = _overdue(interview.id)
    monkeypatch.setattr(turns, "turn_takeover", lambda *, interview_id: None)

    state = turns.turn_poll(interview_id=interview.id, turn_id=job.turn_id)

    assert state == passed
    assert _stored(interview.id).turn_claim == job.claim


def test_poll_of_a_stored_turn_is_its_first_result(employee):
    interview, job = _pending(employee)
    reply = turns.turn_reply_store(job=job, turn=_turn(job, "What comes after the upload?"))
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
    interview, job = _pending(employee)
    turns.turn_reply_store(job=job, turn=_turn(job, "Second question?"))
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
    result = turns.turn_reply_store(job=job, turn=Turn("How does your week start?", False, None, 1, 9))

    polled = turns.turn_poll(interview_id=job.interview_id, turn_id=job.turn_id)

    assert isinstance(polled, services.StartResult)
    assert polled.interview.id == job.interview_id
    assert polled.message.id == result.message.id
    turn = polled.turn
    assert (turn.question, turn.is_final, turn.evaluation, turn.index, turn.total) == (
        "How does your week start?",
        False,
        None,
        1,
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
    interview, job = _pending(employee)
    services.interview_status_change(interview_id=interview.id, status="cancelled", actor=employee)

    with pytest.raises(InterviewNotActive) as raised:
        turns.turn_poll(interview_id=interview.id, turn_id=job.turn_id)

    assert raised.value.message == "The interview is cancelled; the interviewer's reply was not stored."


# --- helpers -----------------------------------------------------------------------------------


def _turn(job, question: str, *, is_final: bool = False):
    """The scripted interviewer's turn for ``job``, asking ``question``."""
    from asgiref.sync import async_to_sync

    from interviews.engine.scripted import ScriptedProvider

    turn = async_to_sync(ScriptedProvider().next_turn)(
        job.snapshot, list(job.history), job.answer.content, lambda text: None
    )
    return Turn(question, is_final, turn.evaluation, turn.index, turn.total, turn.engine_state)
