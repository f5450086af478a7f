"""Every event and every error of the interview socket, through the real ASGI application."""

import asyncio
import base64
import json

import pytest
from django.db import OperationalError
from django.urls import reverse
from redis.exceptions import ConnectionError as RedisConnectionError

from interviews.engine import speech
from interviews.models import Interview, InterviewMessage, InterviewStatus
from interviews.realtime import consumer
from tests.interviews import engine_support
from tests.interviews.engine_support import Reply
from tests.interviews.engine_support import error as server_error
from tests.interviews.realtime_support import (
    LONG_ANSWER,
    TIMEOUT,
    bearer_socket,
    closed_with,
    drain,
    frames,
    nothing_more,
    open_socket,
    start_interview,
    sync,
)
from tests.test_error_messages import assert_sentence

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def interview(employee):
    return start_interview(employee)


def rows(interview_id) -> list[tuple[int, str, str]]:
    return list(
        InterviewMessage.objects.filter(interview_id=interview_id)
        .order_by("sequence_number")
        .values_list("sequence_number", "role", "content")
    )


fake_openai = engine_support.fake_openai
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 28
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" * 16


@pytest.fixture
async def voice(settings, fake_openai):
    """Speech for real: the ``openai`` providers of ``interviews.engine.speech`` pointed at a
    local OpenAI-compatible HTTP server (the interviewer stays scripted)."""
    settings.STT_PROVIDER = "openai"
    settings.TTS_PROVIDER = "openai"
    settings.SPEECH_BASE_URL = fake_openai.base_url
    settings.SPEECH_API_KEY = "sk-voice"
    settings.OPENAI_TIMEOUT_SECONDS = 2.0
    yield fake_openai
    await speech.close_client()


def answer(text=LONG_ANSWER, **extra) -> dict:
    return {"type": "text_answer", "answer_text": text, **extra}


# --- a turn ----------------------------------------------------------------------------------


async def test_participant_turn_persists_and_sends_answer_received_evaluation_question(employee, staff, interview):
    participant, hello = await open_socket(employee, interview.id)
    observer, watching = await open_socket(staff, interview.id)
    assert (hello["role"], watching["role"]) == ("participant", "observer")
    assert hello["last_sequence"] == 1

    await participant.send_json_to(answer(client_message_id="c-1", question_id="q-ignored"))
    received, evaluation, question = await frames(participant, 3)
    await nothing_more(participant)

    stored = await sync(rows)(interview.id)
    assert [(s, r) for s, r, _ in stored] == [(1, "assistant"), (2, "user"), (3, "assistant")]
    assert stored[1][2] == LONG_ANSWER
    user_msg, reply = await sync(lambda: list(InterviewMessage.objects.filter(sequence_number__in=[2, 3])))()
    assert received == {
        "type": "answer_received",
        "message_id": str(user_msg.id),
        "sequence_number": 2,
        "client_message_id": "c-1",
        "turn_id": str(user_msg.id),
    }
    assert evaluation["type"] == "evaluation"
    assert evaluation["answer_id"] == str(user_msg.id)
    assert evaluation["score"] == user_msg.evaluation["score"]
    assert set(evaluation) == {"type", "answer_id", "score", "feedback", "strengths", "weaknesses"}
    assert question == {
        "type": "question",
        "message_id": str(reply.id),
        "sequence_number": 3,
        "text": reply.content,
        "index": 2,
        "total": 6,
        "turn_id": str(user_msg.id),
    }

    # The observer sees every event, the messages included, in commit order.
    seen = await frames(observer, 5)
    assert [f["type"] for f in seen] == ["answer_received", "message", "evaluation", "question", "message"]
    assert seen[1]["message"]["sequence_number"] == 2
    assert seen[1]["message"]["content"] == LONG_ANSWER
    assert seen[4]["message"]["content"] == reply.content
    await nothing_more(observer)
    await participant.disconnect()
    await observer.disconnect()


async def test_resent_client_message_id_is_acknowledged_again_and_writes_nothing(employee, interview):
    comm, _ = await open_socket(employee, interview.id)
    await comm.send_json_to(answer(client_message_id="same"))
    first = (await frames(comm, 3))[0]
    await comm.send_json_to(answer("a different text, resent under the same id", client_message_id="same"))
    again = await comm.receive_json_from(timeout=TIMEOUT)
    assert again == first
    await nothing_more(comm)
    assert len(await sync(rows)(interview.id)) == 3
    await comm.disconnect()


async def test_final_answer_sends_interview_complete(employee, interview):
    comm, _ = await open_socket(employee, interview.id)
    for _ in range(5):
        await comm.send_json_to(answer())
        assert [f["type"] for f in await frames(comm, 3)] == ["answer_received", "evaluation", "question"]
    await comm.send_json_to(answer(client_message_id="last"))
    received, evaluation, closing, complete = await frames(comm, 4)
    assert [received["type"], evaluation["type"], closing["type"]] == ["answer_received", "evaluation", "question"]
    assert complete["type"] == "interview_complete"
    assert complete["interview_id"] == str(interview.id)
    assert complete["status"] == "completed"
    assert complete["total_questions"] == 6
    assert isinstance(complete["overall_score"], int)
    assert complete["report_url"] == f"/api/v1/interviews/{interview.id}/report"
    stored = await sync(Interview.objects.get)(pk=interview.id)
    assert stored.status == InterviewStatus.COMPLETED
    assert stored.message_count == 13

    # The final answer resent (its id seen before) is acknowledged again, not refused.
    await comm.send_json_to(answer(client_message_id="last"))
    assert await comm.receive_json_from(timeout=TIMEOUT) == received
    await nothing_more(comm)
    await comm.send_json_to(answer())
    error = await comm.receive_json_from(timeout=TIMEOUT)
    assert (error["type"], error["code"]) == ("error", "interview_not_active")
    assert stored.message_count == (await sync(Interview.objects.get)(pk=interview.id)).message_count
    await comm.disconnect()


# --- events from elsewhere reach open sockets -------------------------------------------------


async def test_rest_continue_reaches_participant_and_observer_sockets(client_for, employee, staff, interview):
    participant, _ = await open_socket(employee, interview.id)
    observer, _ = await open_socket(staff, interview.id)

    def rest_continue():
        body = {"interview_id": str(interview.id), "user_response": LONG_ANSWER, "client_message_id": "rest-1"}
        return client_for(employee).post("/api/v1/interviews/continue", body, format="json")

    response = await sync(rest_continue)()
    assert response.status_code == 200
    data = response.json()["data"]
    received, _, question = await frames(participant, 3)
    assert received["message_id"] == data["user_message"]["id"]
    assert received["client_message_id"] == "rest-1"
    assert question["message_id"] == data["assistant_message"]["id"]
    assert question["text"] == data["question"]
    seen = await frames(observer, 5)
    assert [f["type"] for f in seen] == ["answer_received", "message", "evaluation", "question", "message"]
    await participant.disconnect()
    await observer.disconnect()


async def test_rest_patch_status_reaches_socket_and_blocks_answers(client_for, employee, admin_user, interview):
    comm, _ = await open_socket(employee, interview.id)
    response = await sync(
        lambda: client_for(admin_user).patch(f"/api/v1/interviews/{interview.id}", {"status": "paused"}, format="json")
    )()
    assert response.status_code == 200
    changed = await comm.receive_json_from(timeout=TIMEOUT)
    assert changed["type"] == "status_changed"
    assert changed["status"] == "paused"
    assert changed["interview"]["status"] == "paused"

    await comm.send_json_to(answer())
    error = await comm.receive_json_from(timeout=TIMEOUT)
    assert (error["type"], error["code"]) == ("error", "interview_not_active")
    assert len(await sync(rows)(interview.id)) == 1

    await comm.send_json_to({"type": "get_next_question"})
    error = await comm.receive_json_from(timeout=TIMEOUT)
    assert (error["type"], error["code"]) == ("error", "interview_not_active")
    await comm.disconnect()


async def test_admin_completing_in_the_admin_site_reaches_observer(client, admin_user, staff, interview):
    comm, _ = await open_socket(staff, interview.id)

    def admin_post():
        client.force_login(admin_user)
        url = reverse("admin:interviews_interview_change", args=[interview.id])
        return client.post(url, {"status": "completed", "messages-TOTAL_FORMS": "0", "messages-INITIAL_FORMS": "0"})

    assert (await sync(admin_post)()).status_code == 302
    changed, complete = await frames(comm, 2)
    assert (changed["type"], changed["status"]) == ("status_changed", "completed")
    assert complete["type"] == "interview_complete"
    assert complete["overall_score"] is None
    assert complete["report_url"] == f"/api/v1/interviews/{interview.id}/report"
    await comm.disconnect()


# --- resume, get_next_question, ping --------------------------------------------------------------


async def test_resume_replays_later_messages_in_order(employee, interview):
    comm, _ = await open_socket(employee, interview.id)
    for _ in range(2):
        await comm.send_json_to(answer())
        await frames(comm, 3)
    stored = await sync(rows)(interview.id)
    await comm.send_json_to({"type": "resume", "after_sequence": 1})
    replay = await frames(comm, 4)
    await nothing_more(comm)
    assert all(f["type"] == "message" for f in replay)
    assert [(f["message"]["sequence_number"], f["message"]["role"], f["message"]["content"]) for f in replay] == (
        stored[1:]
    )
    # The replayed answer carries its stored evaluation (the rubric's, for this answer).
    assert replay[0]["message"]["evaluation"]["score"] == 84
    stored_answer = await sync(InterviewMessage.objects.get)(interview_id=interview.id, sequence_number=2)
    assert replay[0]["message"]["evaluation"] == stored_answer.evaluation
    await comm.send_json_to({"type": "resume", "after_sequence": 99})
    await nothing_more(comm)
    await comm.disconnect()


async def test_resume_pages_through_long_histories(monkeypatch, employee, interview):
    monkeypatch.setattr("interviews.realtime.consumer.RESUME_BATCH", 2)
    comm, _ = await open_socket(employee, interview.id)
    for _ in range(2):
        await comm.send_json_to(answer())
        await frames(comm, 3)
    await comm.send_json_to({"type": "resume", "after_sequence": 0})
    replay = await frames(comm, 5)
    await nothing_more(comm)
    assert [f["message"]["sequence_number"] for f in replay] == [1, 2, 3, 4, 5]
    await comm.disconnect()


@pytest.mark.parametrize("after", [-1, "3", None, True, 1.5])
async def test_resume_with_bad_after_sequence_is_invalid_message(employee, interview, after):
    comm, _ = await open_socket(employee, interview.id)
    await comm.send_json_to({"type": "resume", "after_sequence": after})
    error = await comm.receive_json_from(timeout=TIMEOUT)
    assert (error["type"], error["code"]) == ("error", "invalid_message")
    await comm.disconnect()


async def test_get_next_question_resends_the_pending_question(employee, staff, interview):
    comm, _ = await open_socket(employee, interview.id)
    await comm.send_json_to({"type": "get_next_question"})
    first = await comm.receive_json_from(timeout=TIMEOUT)
    first_row = (await sync(rows)(interview.id))[0]
    assert first["type"] == "question"
    assert (first["sequence_number"], first["text"], first["index"], first["total"]) == (1, first_row[2], 1, 6)
    await comm.send_json_to(answer())
    *_, live = await frames(comm, 3)
    await comm.send_json_to({"type": "get_next_question"})
    assert await comm.receive_json_from(timeout=TIMEOUT) == live
    # Observers may ask too: it reads, it does not answer.
    observer, _ = await open_socket(staff, interview.id)
    await observer.send_json_to({"type": "get_next_question"})
    assert await observer.receive_json_from(timeout=TIMEOUT) == live
    await comm.disconnect()
    await observer.disconnect()


async def test_ping_pong(employee, interview):
    comm, _ = await open_socket(employee, interview.id)
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
    await comm.disconnect()


# --- errors that keep the socket open ---------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[1, 2]",
        '"ping"',
        '{"no_type": 1}',
        '{"type": 7}',
        '{"type": "dance"}',
        "[" * 1_000,  # deeper than MAX_JSON_DEPTH, within the frame size limit
        '{"type": "text_answer"}',
        '{"type": "text_answer", "answer_text": "   "}',
        '{"type": "text_answer", "answer_text": 42}',
        '{"type": "text_answer", "answer_text": "hi", "client_message_id": 5}',
        '{"type": "text_answer", "answer_text": "hi", "client_message_id": ""}',
        '{"type": "text_answer", "answer_text": "hi", "question_id": 5}',
        '{"type": "audio_chunk", "chunk_data": "***not base64***", "is_final": true}',
        '{"type": "audio_chunk", "chunk_data": "AAAA", "is_final": "yes"}',
        # The REST limits, the same serializer fields: NUL and a lone surrogate are refused.
        '{"type": "text_answer", "answer_text": "a\\u0000b"}',
        '{"type": "text_answer", "answer_text": "a\\ud800b"}',
        '{"type": "text_answer", "answer_text": "hi", "client_message_id": "\\udc00"}',
        '{"type": "resume", "after_sequence": "3"}',
    ],
)
async def test_invalid_frames_get_invalid_message_and_socket_stays_open(employee, interview, raw):
    comm, _ = await open_socket(employee, interview.id)
    await comm.send_to(text_data=raw)
    error = await comm.receive_json_from(timeout=TIMEOUT)
    assert error["type"] == "error"
    assert error["code"] == "invalid_message"
    assert_sentence(error["message"], raw)  # words for a person, never a Python repr
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
    assert len(await sync(rows)(interview.id)) == 1
    await comm.disconnect()


async def test_binary_frame_and_overlong_answer_are_invalid_message(settings, employee, interview):
    settings.MAX_MESSAGE_CHARS = 10
    comm, _ = await open_socket(employee, interview.id)
    await comm.send_to(bytes_data=b'{"type": "ping"}')
    assert (await comm.receive_json_from(timeout=TIMEOUT))["code"] == "invalid_message"
    await comm.send_json_to(answer("x" * 11))
    assert (await comm.receive_json_from(timeout=TIMEOUT))["code"] == "invalid_message"
    assert len(await sync(rows)(interview.id)) == 1
    await comm.disconnect()


async def test_observer_answers_are_read_only(staff, interview):
    comm, _ = await open_socket(staff, interview.id)
    await comm.send_json_to(answer())
    error = await comm.receive_json_from(timeout=TIMEOUT)
    assert (error["type"], error["code"]) == ("error", "read_only")
    chunk = base64.b64encode(b"RIFF").decode()
    await comm.send_json_to({"type": "audio_chunk", "chunk_data": chunk, "is_final": True})
    assert (await comm.receive_json_from(timeout=TIMEOUT))["code"] == "read_only"
    assert len(await sync(rows)(interview.id)) == 1
    await comm.disconnect()


async def test_audio_without_speech_provider_is_voice_unavailable_and_stores_nothing(settings, employee, interview):
    settings.STT_PROVIDER = ""
    comm, _ = await open_socket(employee, interview.id)
    chunk = base64.b64encode(b"\x00\x01" * 100).decode()
    await comm.send_json_to({"type": "audio_chunk", "chunk_data": chunk, "is_final": False})
    error = await comm.receive_json_from(timeout=TIMEOUT)
    assert (error["type"], error["code"]) == ("error", "voice_unavailable")
    await comm.send_json_to({"type": "audio_chunk", "chunk_data": chunk, "is_final": True})
    assert (await comm.receive_json_from(timeout=TIMEOUT))["code"] == "voice_unavailable"
    await nothing_more(comm)
    assert len(await sync(rows)(interview.id)) == 1
    await comm.disconnect()


async def test_spoken_answer_goes_through_the_speech_server_and_the_next_question_is_spoken(voice, employee, interview):
    """End to end: ``audio_chunk`` frames → the real speech module (``STT_PROVIDER=openai``) →
    a local OpenAI-compatible HTTP server → the transcript stored as the answer → the next
    question, spoken by the same server (``TTS_PROVIDER=openai``)."""
    voice.push(
        Reply(body=json.dumps({"text": f"  {LONG_ANSWER}  "}).encode()),
        Reply(body=MP3, content_type="audio/mpeg"),
    )
    comm, _ = await open_socket(employee, interview.id)
    for part, final in ((WAV[:20], False), (WAV[20:], True)):
        chunk = base64.b64encode(part).decode()
        await comm.send_json_to(
            {"type": "audio_chunk", "chunk_data": chunk, "is_final": final, "client_message_id": "v1"}
        )
    transcription, received, _, question = await frames(comm, 4)
    assert transcription == {"type": "transcription", "text": LONG_ANSWER, "is_final": True}
    assert (received["type"], received["client_message_id"]) == ("answer_received", "v1")
    assert question["type"] == "question"
    assert base64.b64decode(question["audio_data"]) == MP3
    await nothing_more(comm)

    stored = await sync(rows)(interview.id)
    assert stored[1] == (2, "user", LONG_ANSWER)
    assert stored[2][:2] == (3, "assistant")
    assert question["text"] == stored[2][2]
    upload, spoken = voice.requests
    assert upload.path == "/v1/audio/transcriptions"
    assert WAV in upload.body  # both chunks, joined in order, in one upload
    assert b'filename="answer.wav"' in upload.body
    assert b'name="language"\r\n\r\nen' in upload.body
    assert spoken.path == "/v1/audio/speech"
    assert spoken.json["input"] == question["text"]
    await comm.disconnect()


@pytest.mark.parametrize(
    ("provider", "message"),
    [
        ("google", "STT_PROVIDER='google' is not supported"),
        ("openai", "no speech server"),
    ],
)
async def test_speech_provider_that_cannot_serve_is_voice_unavailable(settings, employee, interview, provider, message):
    settings.STT_PROVIDER = provider
    settings.SPEECH_BASE_URL = settings.OPENAI_BASE_URL = ""
    comm, _ = await open_socket(employee, interview.id)
    await comm.send_json_to({"type": "audio_chunk", "chunk_data": "AAAA", "is_final": True})
    error = await comm.receive_json_from(timeout=TIMEOUT)
    assert error["code"] == "voice_unavailable"
    assert message in error["message"]
    await nothing_more(comm)
    assert len(await sync(rows)(interview.id)) == 1
    await comm.disconnect()


async def test_question_carries_audio_with_a_tts_provider(voice, employee, interview):
    voice.push(Reply(body=MP3, content_type="audio/mpeg"))
    comm, _ = await open_socket(employee, interview.id)
    await comm.send_json_to({"type": "get_next_question"})
    question = await comm.receive_json_from(timeout=TIMEOUT)
    assert base64.b64decode(question["audio_data"]) == MP3
    [spoken] = voice.requests
    assert (spoken.path, spoken.json["input"]) == ("/v1/audio/speech", question["text"])
    await comm.disconnect()


# --- limits -----------------------------------------------------------------------------------


async def test_frame_over_the_size_limit_closes_1009(settings, employee, interview):
    settings.WS_MAX_FRAME_BYTES = 200
    comm, _ = await open_socket(employee, interview.id)
    await comm.send_json_to(answer("ü" * 100))  # 100 characters, over 200 bytes in UTF-8
    assert await closed_with(comm) == 1009
    assert len(await sync(rows)(interview.id)) == 1
    await comm.disconnect()


async def test_rate_limit_sends_rate_limited_then_closes_4429(settings, employee, interview):
    settings.WS_RATE_LIMIT_PER_MINUTE = 3
    comm, _ = await open_socket(employee, interview.id)
    for _ in range(3):
        await comm.send_json_to({"type": "ping"})
        assert await comm.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
    for _ in range(3):
        await comm.send_json_to({"type": "ping"})
        error = await comm.receive_json_from(timeout=TIMEOUT)
        assert (error["type"], error["code"]) == ("error", "rate_limited")
    await comm.send_json_to({"type": "ping"})
    assert await closed_with(comm) == 4429
    await comm.disconnect()


async def test_idle_socket_is_closed_4408(settings, employee, interview):
    settings.WS_IDLE_TIMEOUT_SECONDS = 1
    comm, _ = await open_socket(employee, interview.id)
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
    assert await closed_with(comm) == 4408
    await comm.disconnect()


async def test_no_events_leak_to_a_refused_socket(employee, foreign_admin, interview):
    """A socket refused with 4403 joined the group briefly; it must never forward a frame."""
    comm = await bearer_socket(foreign_admin, interview.id)
    await comm.connect(timeout=TIMEOUT)
    assert await closed_with(comm) == 4403
    participant, _ = await open_socket(employee, interview.id)
    await participant.send_json_to(answer())
    await frames(participant, 3)
    assert await drain(comm) == []
    await comm.disconnect()
    await participant.disconnect()


async def test_observer_question_has_no_audio(voice, staff, interview):
    comm, _ = await open_socket(staff, interview.id)
    await comm.send_json_to({"type": "get_next_question"})
    assert "audio_data" not in await comm.receive_json_from(timeout=TIMEOUT)
    assert voice.requests == []  # nothing was synthesised for nobody
    await comm.disconnect()


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (OperationalError, "service_unavailable"),
        (RedisConnectionError, "service_unavailable"),
        (RuntimeError, "internal_error"),
    ],
    ids=["database", "redis", "bug"],
)
async def test_failure_is_an_error_frame_and_socket_stays_open(monkeypatch, employee, interview, failure, code):
    def broken(**kwargs):
        raise failure("gone")

    monkeypatch.setattr("interviews.realtime.consumer._messages_after", broken)
    comm, _ = await open_socket(employee, interview.id)
    await comm.send_json_to({"type": "resume", "after_sequence": 0})
    error = await comm.receive_json_from(timeout=TIMEOUT)
    assert (error["type"], error["code"]) == ("error", code)
    assert "Traceback" not in error["message"]
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
    await comm.disconnect()


async def test_long_lived_socket_renews_its_group_membership(settings, monkeypatch, staff, interview):
    """The in-memory layer drops group members after ``group_expiry``; the socket joins again."""
    from channels.layers import get_channel_layer

    from interviews.events import group_name

    # The in-memory layer whatever REDIS_URL says: its group membership can be inspected.
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    monkeypatch.setattr(consumer, "GROUP_RENEW_SECONDS", 0.2)
    comm, _ = await open_socket(staff, interview.id)
    layer = get_channel_layer()
    [channel] = list(layer.groups[group_name(interview.id)])
    rejoined = asyncio.Event()
    group_add = layer.group_add

    async def watched_group_add(group, channel_name):
        await group_add(group, channel_name)
        if (group, channel_name) == (group_name(interview.id), channel):
            rejoined.set()

    monkeypatch.setattr(layer, "group_add", watched_group_add)
    await layer.group_discard(group_name(interview.id), channel)  # as if the membership expired
    await asyncio.wait_for(rejoined.wait(), TIMEOUT)  # the renewal; the timeout only bounds a hang
    await layer.group_send(group_name(interview.id), {"type": "interview.frames", "frames": [{"type": "pong"}]})
    assert await comm.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
    await comm.disconnect()


@pytest.mark.postgres
async def test_two_sockets_answering_at_once_take_turns_gaplessly(employee, interview):
    """Two tabs of the participant answer at the same moment: the row lock orders them, and an
    answer that arrives while the other's turn is pending is refused with ``turn_in_progress``
    and stores nothing."""
    one, _ = await open_socket(employee, interview.id)
    two, _ = await open_socket(employee, interview.id)
    await asyncio.gather(
        one.send_json_to(answer("First tab: " + LONG_ANSWER, client_message_id="tab-1")),
        two.send_json_to(answer("Second tab: " + LONG_ANSWER, client_message_id="tab-2")),
    )
    seen_one, seen_two = await drain(one), await drain(two)
    stored = await sync(rows)(interview.id)
    refused = [f for f in seen_one + seen_two if f["type"] == "error"]
    assert {f["code"] for f in refused} <= {"turn_in_progress"}
    assert len(stored) == 5 - 2 * len(refused)
    assert [s for s, _, _ in stored] == list(range(1, len(stored) + 1))
    # Turns never interleave: after the first question, answer and reply alternate.
    assert [r for _, r, _ in stored] == ["assistant"] + ["user", "assistant"] * ((len(stored) - 1) // 2)
    # Every socket hears every stored turn.
    expected = [(n, t) for n in range(2, len(stored) + 1, 2) for t in ("answer_received", "question")]
    expected = sorted((n + (t == "question"), t) for n, t in expected)
    for seen in (seen_one, seen_two):
        numbered = sorted(
            (f["sequence_number"], f["type"]) for f in seen if f["type"] in ("answer_received", "question")
        )
        assert numbered == expected
    await one.disconnect()
    await two.disconnect()


async def test_failing_speech_provider_is_transcription_failed(voice, employee, interview):
    voice.default = server_error(500)
    comm, _ = await open_socket(employee, interview.id)
    await comm.send_json_to({"type": "audio_chunk", "chunk_data": base64.b64encode(WAV).decode(), "is_final": True})
    failure = await comm.receive_json_from(timeout=TIMEOUT)
    assert (failure["type"], failure["code"]) == ("error", "transcription_failed")
    assert [r.path for r in voice.requests] == ["/v1/audio/transcriptions"] * 2  # the SDK's one retry
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
    assert len(await sync(rows)(interview.id)) == 1
    await comm.disconnect()


async def test_answering_a_deleted_interview_is_interview_not_found_then_4404(employee, interview):
    comm, _ = await open_socket(employee, interview.id)
    await sync(lambda: Interview.objects.filter(pk=interview.id).delete())()
    await comm.send_json_to(answer())
    error = await comm.receive_json_from(timeout=TIMEOUT)
    assert (error["type"], error["code"]) == ("error", "interview_not_found")
    assert await closed_with(comm) == 4404
    await comm.disconnect()
