"""Two daphne processes sharing Redis: a participant on one, an observer on the other.

Proves what a load balancer in front of several processes relies on: events travel through the
Redis channel layer, a ticket issued by one process is redeemed by the other (shared cache), and
the observer sees every event in commit order.
"""

import asyncio
import json
import uuid
from urllib.request import Request, urlopen

import pytest
import websockets

from tests.interviews.realtime_support import (
    LONG_ANSWER,
    REDIS_URL,
    daphne,
    participant_and_observer,
    redis_answers,
    shared_database,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


def post_json(url: str, token: str, body: dict | None = None, method: str = "POST") -> dict:
    request = Request(
        url,
        data=json.dumps(body or {}).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urlopen(request, timeout=10) as response:
        return json.loads(response.read())


async def recv(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout=10))


async def committed(ws, previews: list) -> dict:
    """The next frame about something stored; ``question_delta`` frames on the way go to ``previews``."""
    while (frame := await recv(ws))["type"] == "question_delta":
        previews.append(frame)
    return frame


async def conversation(a: str, b: str, interview_id, participant_token: str, staff_token: str) -> tuple[list, ...]:
    ws_a = a.replace("http", "ws") + f"/ws/interviews/{interview_id}/"
    ws_b = b.replace("http", "ws") + f"/ws/interviews/{interview_id}/"
    # A ticket issued by process A, redeemed on process B: tickets live in the shared cache.
    ticket = (await asyncio.to_thread(post_json, f"{a}/api/v1/interviews/{interview_id}/ws-ticket", staff_token))[
        "data"
    ]["ticket"]
    async with (
        websockets.connect(ws_a, subprotocols=["bearer", participant_token], origin=a) as participant,
        websockets.connect(f"{ws_b}?ticket={ticket}", origin=b) as observer,
    ):
        assert participant.subprotocol == "bearer"
        hello_p, hello_o = await recv(participant), await recv(observer)
        assert (hello_p["type"], hello_p["role"]) == ("connected", "participant")
        assert (hello_o["type"], hello_o["role"]) == ("connected", "observer")

        participant_frames, participant_deltas, observer_deltas = [], [], []
        for turn in range(3):
            await participant.send(json.dumps({"type": "text_answer", "answer_text": LONG_ANSWER}))
            for _ in range(3):
                participant_frames.append(await committed(participant, participant_deltas))
            assert participant_frames[-1]["type"] == "question", participant_frames
            assert participant_frames[-1]["sequence_number"] == 3 + 2 * turn
        # A status change through REST on process B reaches the participant on process A.
        await asyncio.to_thread(
            post_json, f"{b}/api/v1/interviews/{interview_id}", participant_token, {"status": "paused"}, "PATCH"
        )
        participant_frames.append(await committed(participant, participant_deltas))

        observer_frames = [await committed(observer, observer_deltas) for _ in range(3 * 5 + 1)]
        await observer.send(json.dumps({"type": "ping"}))
        assert await recv(observer) == {"type": "pong"}  # nothing else was pending
    return participant_frames, observer_frames, participant_deltas, observer_deltas


def test_participant_and_observer_on_different_processes(tmp_path):
    reason = redis_answers()
    if reason:
        print(f"SKIPPED two-process realtime test: {reason}")
        pytest.skip(reason)
    with shared_database(tmp_path) as db_env:
        # The users and the interview go into the database both processes use.
        interview, tokens = participant_and_observer()
        env = {**db_env, "REDIS_URL": REDIS_URL, "CHANNELS_PREFIX": f"realtime-cluster-{uuid.uuid4().hex[:8]}"}
        with daphne(env, tmp_path / "a.log") as a, daphne(env, tmp_path / "b.log") as b:
            participant_frames, observer_frames, participant_deltas, observer_deltas = asyncio.run(
                conversation(a, b, interview.id, *tokens)
            )

        assert [f["type"] for f in participant_frames] == [
            *["answer_received", "evaluation", "question"] * 3,
            "status_changed",
        ]
        assert [f["type"] for f in observer_frames] == [
            *["answer_received", "message", "evaluation", "question", "message"] * 3,
            "status_changed",
        ]
        # Every message, in commit order, exactly as stored.
        stored = list(interview.messages.order_by("sequence_number").values_list("sequence_number", "id", "content"))
        relayed = [
            (f["message"]["sequence_number"], f["message"]["id"], f["message"]["content"])
            for f in observer_frames
            if f["type"] == "message"
        ]
        assert relayed == [(seq, str(pk), content) for seq, pk, content in stored[1:]]
        assert [seq for seq, _, _ in stored] == list(range(1, 8))
        assert observer_frames[-1]["status"] == "paused"
        # The question streamed to both processes as it was written: each turn's deltas, in order,
        # add up to the question that was then stored.
        questions = {f["turn_id"]: f["text"] for f in participant_frames if f["type"] == "question"}
        assert len(questions) == 3
        for deltas in (participant_deltas, observer_deltas):
            for turn_id, text in questions.items():
                mine = [d for d in deltas if d["turn_id"] == turn_id]
                assert [d["seq"] for d in mine] == list(range(len(mine)))
                assert "".join(d["delta"] for d in mine) == text
