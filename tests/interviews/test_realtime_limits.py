"""Limits over all of a user's sockets, on every process (``interviews/realtime/quotas.py``).

Issue 15, finding 5: one user opened 30 sockets on one interview and sent 3,000 frames in 0.4 s;
the per-socket limit saw 100 frames on each socket and let every one through. Costly frames now
count per user and per interview, and a user's open sockets are capped. In-process tests use
Redis when ``REDIS_URL`` is set (the PostgreSQL + Redis pass) and process memory otherwise; the
last tests run two daphne processes on one Redis.
"""

import asyncio
import json
import logging
import time
import uuid

import pytest
import redis
import websockets
from websockets.exceptions import ConnectionClosed

from accounts.models import Role
from interviews import services
from interviews.models import InterviewMessage
from interviews.realtime import quotas
from interviews.services import turns
from tests.factories import ORG_A, UserFactory
from tests.interviews.realtime_support import (
    LONG_ANSWER,
    REDIS_URL,
    TIMEOUT,
    access_token,
    bearer_socket,
    daphne,
    expect_close,
    frames,
    open_socket,
    redis_answers,
    shared_database,
    start_interview,
    sync,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_quotas():
    """No counts or sockets left by other tests or runs (user ids repeat after ``--create-db``)."""

    def forget():
        quotas.reset()
        if REDIS_URL:
            client = redis.Redis.from_url(REDIS_URL)
            for key in client.scan_iter(f"{quotas.KEY_PREFIX}:*"):
                client.delete(key)
            client.close()

    forget()
    yield
    forget()


@pytest.fixture
def frozen_clock(monkeypatch):
    """All counts in one window: the sliding estimate is then exactly the count."""
    at = time.time()
    monkeypatch.setattr(quotas, "now", lambda: at)


def answer(**extra) -> dict:
    return {"type": "text_answer", "answer_text": LONG_ANSWER, **extra}


async def until_closed(comm) -> tuple[list[dict], int]:
    """The ``error`` frames a socket receives, and the code it is then closed with."""
    errors = []
    while True:
        output = await comm.receive_output(timeout=TIMEOUT)
        if output["type"] == "websocket.close":
            return errors, output["code"]
        frame = json.loads(output["text"])
        if frame["type"] == "error":
            errors.append(frame)


async def settled() -> None:
    """Wait for the turns the sockets started to end (they run detached from the socket)."""
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while turns._running:
        assert asyncio.get_running_loop().time() < deadline, "a turn did not end"
        await asyncio.sleep(0.05)


def answers_stored(interview_id) -> int:
    return InterviewMessage.objects.filter(interview_id=interview_id, role="user").count()


# --- costly frames per user and per interview --------------------------------------------------


async def test_30_sockets_flooding_one_interview_are_held_to_the_user_limit(
    settings, monkeypatch, frozen_clock, employee
):
    """The finding: 30 sockets x 100 answers, each socket under its own limit (120 a minute)."""
    settings.WS_MAX_SOCKETS_PER_USER = 30
    settings.WS_USER_RATE_LIMIT_PER_MINUTE = 20
    settings.WS_INTERVIEW_RATE_LIMIT_PER_MINUTE = 1000
    interview = await sync(start_interview)(employee)
    reached = []
    store = services.turn_answer_store

    def counted(**kwargs):
        reached.append(kwargs["client_message_id"])
        return store(**kwargs)

    monkeypatch.setattr(services, "turn_answer_store", counted)

    sockets = [(await open_socket(employee, interview.id))[0] for _ in range(30)]
    for n, comm in enumerate(sockets):
        for i in range(100):
            await comm.send_json_to(answer(client_message_id=f"s{n}-{i}"))
    outcomes = [await until_closed(comm) for comm in sockets]
    await settled()

    # Each socket was refused 20 times (the limit), then closed at its 21st refusal.
    assert [code for _, code in outcomes] == [4429] * 30
    refused = [[e for e in errors if e["code"] == "rate_limited"] for errors, _ in outcomes]
    assert [len(r) for r in refused] == [20] * 30
    assert refused[0][0]["message"] == "More than 20 answers and requests a minute on your account; slow down."
    # (On SQLite, answers written at once from many threads may get service_unavailable: "table is locked".)
    assert not [e for errors, _ in outcomes for e in errors if e["code"] == "internal_error"]
    # 20 of 3,000 answers reached the service (each a transaction; a stored one a model call).
    assert len(reached) == 20
    assert 1 <= await sync(answers_stored)(interview.id) <= 20
    for comm in sockets:
        await comm.disconnect()


async def test_the_interview_limit_counts_every_user_on_it(settings, frozen_clock, employee, staff):
    settings.WS_USER_RATE_LIMIT_PER_MINUTE = 1000
    settings.WS_INTERVIEW_RATE_LIMIT_PER_MINUTE = 3
    interview = await sync(start_interview)(employee)
    other = await sync(start_interview)(employee)
    observer, _ = await open_socket(staff, interview.id)
    participant, _ = await open_socket(employee, interview.id)
    elsewhere, _ = await open_socket(employee, other.id)

    for _ in range(3):
        await observer.send_json_to({"type": "get_next_question"})
        assert (await observer.receive_json_from(timeout=TIMEOUT))["type"] == "question"
    # The observer spent the interview's budget: the participant's answer is refused, stores nothing.
    await participant.send_json_to(answer())
    refused = await participant.receive_json_from(timeout=TIMEOUT)
    assert (refused["type"], refused["code"]) == ("error", "rate_limited")
    assert refused["message"] == "More than 3 answers and requests a minute on this interview; slow down."
    await observer.send_json_to({"type": "resume", "after_sequence": 0})
    assert (await observer.receive_json_from(timeout=TIMEOUT))["code"] == "rate_limited"
    assert await sync(answers_stored)(interview.id) == 0
    # The same user on another interview is not held back.
    await elsewhere.send_json_to(answer())
    assert [f["type"] for f in await frames(elsewhere, 3)] == ["answer_received", "evaluation", "question"]
    await settled()
    for comm in (observer, participant, elsewhere):
        await comm.disconnect()


async def test_only_costly_frames_count(settings, frozen_clock, employee):
    """``ping`` and audio chunks before the last one are cheap; a final chunk is an answer."""
    settings.WS_USER_RATE_LIMIT_PER_MINUTE = 2
    interview = await sync(start_interview)(employee)
    comm, _ = await open_socket(employee, interview.id)
    for _ in range(10):
        await comm.send_json_to({"type": "ping"})
        assert await comm.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
    for _ in range(5):  # no speech provider: voice_unavailable, but not rate_limited
        await comm.send_json_to({"type": "audio_chunk", "chunk_data": "AAAA", "is_final": False})
        assert (await comm.receive_json_from(timeout=TIMEOUT))["code"] == "voice_unavailable"
    for _ in range(2):
        await comm.send_json_to({"type": "get_next_question"})
        assert (await comm.receive_json_from(timeout=TIMEOUT))["type"] == "question"
    await comm.send_json_to({"type": "audio_chunk", "chunk_data": "AAAA", "is_final": True})
    assert (await comm.receive_json_from(timeout=TIMEOUT))["code"] == "rate_limited"
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
    await comm.disconnect()


# --- open sockets per user ---------------------------------------------------------------------


async def test_a_socket_beyond_the_cap_is_closed_4429_and_closing_one_frees_a_place(settings, employee, staff):
    settings.WS_MAX_SOCKETS_PER_USER = 3
    interview = await sync(start_interview)(employee)
    other = await sync(start_interview)(employee)
    held = [(await open_socket(employee, i))[0] for i in (interview.id, interview.id, other.id)]

    await expect_close(await bearer_socket(employee, interview.id), 4429)
    await expect_close(await bearer_socket(employee, other.id), 4429)
    # The cap is per user: somebody else still gets in.
    watching, _ = await open_socket(staff, interview.id)

    await held.pop().disconnect()
    held.append((await open_socket(employee, other.id))[0])
    await expect_close(await bearer_socket(employee, interview.id), 4429)
    for comm in (*held, watching):
        await comm.disconnect()


async def test_a_socket_closed_by_the_server_frees_its_place(settings, employee):
    settings.WS_MAX_SOCKETS_PER_USER = 1
    settings.WS_IDLE_TIMEOUT_SECONDS = 1
    interview = await sync(start_interview)(employee)
    comm, _ = await open_socket(employee, interview.id)
    errors, code = await until_closed(comm)  # idle: 4408
    assert (errors, code) == ([], 4408)
    again, _ = await open_socket(employee, interview.id)
    await again.disconnect()
    await comm.disconnect()


def redis_only():
    reason = redis_answers()
    if reason:
        pytest.skip(reason)


@pytest.mark.redis
async def test_sockets_of_a_process_that_died_lapse_with_their_lease(settings, employee):
    redis_only()
    settings.WS_MAX_SOCKETS_PER_USER = 2
    interview = await sync(start_interview)(employee)
    # Two sockets another process registered before it died: never renewed, never removed.
    client = redis.Redis.from_url(REDIS_URL)
    key = f"{quotas.KEY_PREFIX}:sockets:{employee.pk}"
    client.zadd(key, {"dead-1": quotas.now() + 0.5, "dead-2": quotas.now() + 0.5})
    await expect_close(await bearer_socket(employee, interview.id), 4429)
    await asyncio.sleep(0.7)
    comm, _ = await open_socket(employee, interview.id)
    members = client.zrange(key, 0, -1)
    assert len(members) == 1
    assert not {b"dead-1", b"dead-2"} & set(members)
    client.close()
    await comm.disconnect()


@pytest.mark.redis
async def test_open_sockets_renew_their_lease(settings, monkeypatch, employee):
    redis_only()
    monkeypatch.setattr(quotas, "SOCKET_LEASE_SECONDS", 0.6)
    settings.WS_MAX_SOCKETS_PER_USER = 2
    interview = await sync(start_interview)(employee)
    held = [(await open_socket(employee, interview.id))[0] for _ in range(2)]
    await asyncio.sleep(1.5)  # over twice the lease: still counted, renewed every 0.2 s
    await expect_close(await bearer_socket(employee, interview.id), 4429)
    await held.pop().disconnect()
    held.append((await open_socket(employee, interview.id))[0])
    for comm in held:
        await comm.disconnect()


async def test_limits_fail_open_while_redis_is_unreachable(settings, caplog, employee):
    """A Redis outage must not take the sockets down: everything is allowed, logged once."""
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.WS_MAX_SOCKETS_PER_USER = 1
    settings.WS_USER_RATE_LIMIT_PER_MINUTE = 1
    interview = await sync(start_interview)(employee)
    with caplog.at_level(logging.WARNING, logger="interviews.realtime.quotas"):
        sockets = [(await open_socket(employee, interview.id))[0] for _ in range(2)]
        for comm in sockets:
            for _ in range(2):
                await comm.send_json_to({"type": "get_next_question"})
                assert (await comm.receive_json_from(timeout=TIMEOUT))["type"] == "question"
    warnings = [r for r in caplog.records if r.name == "interviews.realtime.quotas"]
    assert len(warnings) == 1
    assert "Redis unavailable" in warnings[0].getMessage()
    for comm in sockets:
        await comm.disconnect()


# --- two daphne processes on one Redis ---------------------------------------------------------


async def _across(a: str, b: str, interview_id, token: str) -> None:
    def url(base: str) -> str:
        return base.replace("http", "ws") + f"/ws/interviews/{interview_id}/"

    def connect(base: str):
        return websockets.connect(url(base), subprotocols=["bearer", token], origin=base)

    async def recv(ws) -> dict:
        return json.loads(await asyncio.wait_for(ws.recv(), timeout=10))

    async with connect(a) as on_a, connect(b) as on_b:
        assert (await recv(on_a))["type"] == "connected"
        assert (await recv(on_b))["type"] == "connected"
        # The cap (2) counts the sockets of both processes.
        for base in (a, b):
            async with connect(base) as third:
                with pytest.raises(ConnectionClosed) as closed:
                    await recv(third)
                assert closed.value.rcvd.code == 4429
        # The user's budget (4) is shared: spent on A, refused on B.
        for _ in range(4):
            await on_a.send(json.dumps({"type": "get_next_question"}))
            assert (await recv(on_a))["type"] == "question"
        for frame in ({"type": "get_next_question"}, answer(client_message_id="late")):
            await on_b.send(json.dumps(frame))
            assert (await recv(on_b))["code"] == "rate_limited"
        await on_a.close()
        # A's socket gave its place back: B takes it.
        async with connect(b) as again:
            assert (await recv(again))["type"] == "connected"


@pytest.mark.redis
def test_the_cap_and_the_rate_hold_across_two_processes(tmp_path):
    redis_only()
    with shared_database(tmp_path) as db_env:
        user = UserFactory(role=Role.EMPLOYEE, organization_id=ORG_A)
        interview = start_interview(user)
        env = {
            **db_env,
            "REDIS_URL": REDIS_URL,
            "CHANNELS_PREFIX": f"realtime-limits-{uuid.uuid4().hex[:8]}",
            "WS_MAX_SOCKETS_PER_USER": "2",
            "WS_USER_RATE_LIMIT_PER_MINUTE": "4",
            "WS_INTERVIEW_RATE_LIMIT_PER_MINUTE": "1000",
        }
        with daphne(env, tmp_path / "a.log") as a, daphne(env, tmp_path / "b.log") as b:
            asyncio.run(_across(a, b, interview.id, access_token(user)))
        assert answers_stored(interview.id) == 0
