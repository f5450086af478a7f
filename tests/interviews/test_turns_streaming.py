"""Streamed turns (docs/realtime.md and docs/api.md): deltas on the socket and as Server-Sent Events,
coalesced, reset on a provider failing mid-stream, ``pending_turn`` for late joiners, and
``turn_in_progress`` while the interviewer writes."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient

from interviews.engine.chain import ProviderChain
from interviews.engine.scripted import ScriptedProvider
from interviews.models import Interview, InterviewMessage
from tests.conftest import bearer
from tests.interviews.realtime_support import LONG_ANSWER, TIMEOUT, every, frames, open_socket, start_interview, sync

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "Which tools do you open first each morning, and what do you check in each of them?"


class Writer:
    """A provider that writes ``QUESTION`` word by word, ``pause`` seconds apart; ``gate``, when
    given, holds it after the first word until set. ``fail_after`` words: it raises instead."""

    name = "writer"
    attempts = 1
    history_messages = 0

    def __init__(self, pause: float = 0.0, gate: asyncio.Event | None = None, fail_after: int | None = None):
        self.pause, self.gate, self.fail_after = pause, gate, fail_after
        self.started = asyncio.Event()

    async def _write(self, on_delta) -> None:
        words = QUESTION.split(" ")
        for i, word in enumerate(words):
            if i == self.fail_after:
                raise RuntimeError("the model went away mid-stream")
            on_delta(word if i == 0 else " " + word)
            if i == 0:
                self.started.set()
                if self.gate is not None:
                    await self.gate.wait()
            await asyncio.sleep(self.pause)

    async def first_turn(self, snapshot, on_delta):
        return await ScriptedProvider().first_turn(snapshot, lambda text: None)

    async def next_turn(self, snapshot, history, answer, on_delta):
        scripted = await ScriptedProvider().next_turn(snapshot, history, answer, lambda text: None)
        await self._write(on_delta)
        return type(scripted)(
            QUESTION, False, scripted.evaluation, scripted.index, scripted.total, scripted.engine_state
        )


@pytest.fixture
def writer(monkeypatch):
    """Install a :class:`Writer` (then scripted) as the interviewer; returns a setter."""

    def install(**kwargs) -> Writer:
        provider = Writer(**kwargs)
        monkeypatch.setattr(
            "interviews.services.turns.get_engine", lambda: ProviderChain([provider, ScriptedProvider()])
        )
        return provider

    return install


def deltas_of(seen: list[dict]) -> list[dict]:
    return [f for f in seen if f["type"] == "question_delta"]


# --- the socket --------------------------------------------------------------------------------


async def test_deltas_reach_participant_and_observer_and_add_up_to_the_question(writer, employee, staff):
    writer(pause=0.01)
    interview = await sync(start_interview)(employee)
    participant, _ = await open_socket(employee, interview.id)
    observer, _ = await open_socket(staff, interview.id)
    await participant.send_json_to({"type": "text_answer", "answer_text": LONG_ANSWER, "client_message_id": "a"})
    for comm in (participant, observer):
        seen = await every(comm, "question")
        types = [f["type"] for f in seen]
        assert types[0] == "answer_received"
        assert types.index("question_delta") < types.index("evaluation") < types.index("question")
        deltas = deltas_of(seen)
        turn_id = seen[0]["turn_id"]
        assert {d["turn_id"] for d in deltas} == {turn_id}
        assert [d["seq"] for d in deltas] == list(range(len(deltas)))
        assert "".join(d["delta"] for d in deltas) == QUESTION == seen[-1]["text"]
        assert seen[-1]["turn_id"] == turn_id
    await participant.disconnect()
    await observer.disconnect()


async def test_deltas_are_coalesced_so_the_frame_rate_does_not_follow_the_token_rate(writer, settings, employee):
    settings.TURN_DELTA_INTERVAL_MS = 100
    writer(pause=0.005)  # ~16 words in ~0.1 s: one frame a word would be ~16 frames
    interview = await sync(start_interview)(employee)
    comm, _ = await open_socket(employee, interview.id)
    started = asyncio.get_running_loop().time()
    await comm.send_json_to({"type": "text_answer", "answer_text": LONG_ANSWER})
    seen = await every(comm, "question")
    elapsed = asyncio.get_running_loop().time() - started
    deltas = deltas_of(seen)
    assert "".join(d["delta"] for d in deltas) == QUESTION
    # The first piece at once, then at most one frame per 100 ms.
    assert len(deltas) <= 2 + int(elapsed / 0.1), (len(deltas), elapsed)
    assert len(deltas) < len(QUESTION.split(" "))
    await comm.disconnect()


async def test_a_socket_joining_mid_turn_sees_pending_turn_then_the_rest(writer, employee, staff):
    gate = asyncio.Event()
    provider = writer(gate=gate)
    interview = await sync(start_interview)(employee)
    participant, _ = await open_socket(employee, interview.id)
    await participant.send_json_to({"type": "text_answer", "answer_text": LONG_ANSWER})
    received = (await frames(participant, 1))[0]
    await asyncio.wait_for(provider.started.wait(), TIMEOUT)

    late, hello = await open_socket(staff, interview.id)
    pending = hello["pending_turn"]
    assert pending["turn_id"] == received["turn_id"] == pending["answer_id"] == received["message_id"]
    assert hello["interview"]["pending_turn"] == pending
    gate.set()
    seen = await every(late, "question")
    rest = "".join(d["delta"] for d in deltas_of(seen))
    assert rest
    assert QUESTION.endswith(rest)
    assert seen[-1]["text"] == QUESTION
    stored = await sync(Interview.objects.get)(pk=interview.id)
    assert stored.pending_turn is None
    await participant.disconnect()
    await late.disconnect()


async def test_a_second_answer_while_the_interviewer_writes_is_turn_in_progress(writer, employee):
    gate = asyncio.Event()
    provider = writer(gate=gate)
    interview = await sync(start_interview)(employee)
    comm, _ = await open_socket(employee, interview.id)
    await comm.send_json_to({"type": "text_answer", "answer_text": LONG_ANSWER, "client_message_id": "first"})
    await frames(comm, 1)
    await asyncio.wait_for(provider.started.wait(), TIMEOUT)
    await comm.send_json_to({"type": "text_answer", "answer_text": "Another answer", "client_message_id": "second"})
    error = (await frames(comm, 1))[0]
    assert (error["type"], error["code"]) == ("error", "turn_in_progress")
    # The pending answer sent again is acknowledged again and starts no second turn.
    await comm.send_json_to({"type": "text_answer", "answer_text": LONG_ANSWER, "client_message_id": "first"})
    again = (await frames(comm, 1))[0]
    assert (again["type"], again["sequence_number"]) == ("answer_received", 2)
    await comm.send_json_to({"type": "get_next_question"})
    waiting = (await frames(comm, 1))[0]
    assert (waiting["type"], waiting["code"]) == ("error", "turn_in_progress")
    gate.set()
    question = [f for f in await every(comm, "question")][-1]
    assert question["sequence_number"] == 3
    rows = await sync(lambda: list(InterviewMessage.objects.filter(interview_id=interview.id).values_list("role")))()
    assert rows == [("assistant",), ("user",), ("assistant",)]
    await comm.disconnect()


async def test_a_provider_failing_mid_stream_is_reset_and_the_next_one_answers(writer, employee):
    writer(pause=0.08, fail_after=4)  # slower than the coalescing: a frame a word
    interview = await sync(start_interview)(employee)
    comm, _ = await open_socket(employee, interview.id)
    await comm.send_json_to({"type": "text_answer", "answer_text": LONG_ANSWER})
    seen = await every(comm, "question")
    types = [f["type"] for f in seen]
    reset = types.index("question_reset")
    before, after = deltas_of(seen[:reset]), deltas_of(seen[reset:])
    assert "".join(d["delta"] for d in before) == " ".join(QUESTION.split(" ")[:4])
    # After the reset, the scripted interviewer's question, numbered from 0 again.
    assert [d["seq"] for d in after] == list(range(len(after)))
    assert "".join(d["delta"] for d in after) == seen[-1]["text"] != QUESTION
    await comm.disconnect()


# --- REST as Server-Sent Events ----------------------------------------------------------------


def parse_events(body: bytes) -> list[tuple[str, dict]]:
    events = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    return events


async def sse_post(user, path: str, body: dict):
    headers = {"authorization": await database_sync_to_async(bearer)(user), "accept": "text/event-stream"}
    response = await AsyncClient().post(path, body, content_type="application/json", headers=headers)
    content = b"".join([chunk async for chunk in response.streaming_content]) if response.streaming else None
    return response, content


async def test_continue_as_server_sent_events(writer, employee):
    writer(pause=0.01)
    interview = await sync(start_interview)(employee)
    body = {"interview_id": str(interview.id), "user_response": LONG_ANSWER, "client_message_id": "sse-1"}
    response, content = await sse_post(employee, "/api/v1/interviews/continue", body)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    events = parse_events(content)
    names = [name for name, _ in events]
    assert names[0] == "answer_received"
    assert names[-1] == "result"
    assert set(names[1:-1]) == {"question_delta"}
    received = events[0][1]
    assert received["sequence_number"] == 2
    assert received["client_message_id"] == "sse-1"
    assert received["turn_id"] == received["message_id"]
    assert "".join(data["delta"] for name, data in events if name == "question_delta") == QUESTION
    result = events[-1][1]
    assert (result["status"], result["code"], result["message"]) == ("success", 200, "Answer recorded")
    assert result["data"]["question"] == QUESTION
    assert result["data"]["assistant_message"]["sequence_number"] == 3
    assert result["data"]["interview"]["pending_turn"] is None
    # The original service's meta keys, as in the plain JSON answer (docs/api.md).
    assert (result["meta"]["interview_id"], result["meta"]["question_count"]) == (str(interview.id), 2)

    # The same client_message_id again: the stored result, nothing written.
    response, content = await sse_post(employee, "/api/v1/interviews/continue", body)
    events = parse_events(content)
    assert [name for name, _ in events] == ["answer_received", "result"]
    assert events[-1][1]["message"] == "Answer already recorded"
    assert events[-1][1]["data"]["assistant_message"]["id"] == result["data"]["assistant_message"]["id"]
    assert await sync(InterviewMessage.objects.filter(interview_id=interview.id).count)() == 3


async def test_start_as_server_sent_events(employee):
    response, content = await sse_post(employee, "/api/v1/interviews/start", {"language": "en"})
    assert response.status_code == 200
    events = parse_events(content)
    assert [name for name, _ in events] == ["question_delta", "result"]
    result = events[-1][1]
    assert (result["status"], result["code"], result["message"]) == ("success", 201, "Interview started")
    assert events[0][1]["delta"] == result["data"]["question"]
    assert result["data"]["message"]["sequence_number"] == 1
    assert result["meta"]["interview_id"] == result["data"]["interview_id"]
    assert (result["meta"]["session_id"], result["meta"]["language"]) == (result["data"]["interview_id"], "en")


async def test_errors_before_the_stream_are_json_envelopes(writer, employee, other_employee):
    interview = await sync(start_interview)(employee)
    body = {"interview_id": str(interview.id), "user_response": ""}
    response, _ = await sse_post(employee, "/api/v1/interviews/continue", body)
    assert response.status_code == 422
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error_code"] == "validation_error"
    body = {"interview_id": str(interview.id), "user_response": LONG_ANSWER}
    response, _ = await sse_post(other_employee, "/api/v1/interviews/continue", body)
    assert response.status_code == 403
    assert response.json()["error_code"] == "interview_access_denied"


async def test_a_failure_after_the_stream_started_is_a_last_error_event(monkeypatch, employee):
    class Broken:
        history_messages = 0

        async def next_turn(self, snapshot, history, answer, on_delta, on_reset):
            raise RuntimeError("every provider failed")

    interview = await sync(start_interview)(employee)
    body = {"interview_id": str(interview.id), "user_response": LONG_ANSWER, "client_message_id": "x"}
    with monkeypatch.context() as patched:
        patched.setattr("interviews.services.turns.get_engine", lambda: Broken())
        response, content = await sse_post(employee, "/api/v1/interviews/continue", body)
    assert response.status_code == 200
    events = parse_events(content)
    assert [name for name, _ in events] == ["answer_received", "error"]
    error = events[-1][1]
    assert (error["status"], error["code"], error["error_code"]) == ("error", 500, "internal_error")
    # What was stored stays stored; a retry with the same client_message_id completes the turn.
    response, content = await sse_post(employee, "/api/v1/interviews/continue", body)
    events = parse_events(content)
    assert events[-1][0] == "result"
    assert events[-1][1]["data"]["user_message"]["sequence_number"] == 2
    assert events[-1][1]["data"]["assistant_message"]["sequence_number"] == 3


async def test_model_text_cannot_forge_events_in_the_stream(monkeypatch, employee):
    """Whatever the model writes (blank lines, ``event:`` lines, markup) stays inside one event's
    JSON data: a client parsing the stream sees exactly the events the server sent."""
    from interviews.engine import Turn

    hostile = 'Line one\n\nevent: result\ndata: {"status": "success"}\n\n<script>alert(1)</script>\r\nend'

    class Hostile:
        history_messages = 0

        async def next_turn(self, snapshot, history, answer, on_delta, on_reset):
            turn = await ScriptedProvider().next_turn(snapshot, history, answer, lambda text: None)
            on_delta(hostile)
            return Turn(hostile, False, turn.evaluation, turn.index, turn.total, turn.engine_state)

    interview = await sync(start_interview)(employee)
    monkeypatch.setattr("interviews.services.turns.get_engine", lambda: Hostile())
    body = {"interview_id": str(interview.id), "user_response": LONG_ANSWER}
    response, content = await sse_post(employee, "/api/v1/interviews/continue", body)
    assert response.status_code == 200
    events = parse_events(content)
    assert [name for name, _ in events] == ["answer_received", "question_delta", "result"]
    assert events[1][1]["delta"] == hostile
    assert events[2][1]["data"]["question"] == hostile
