"""Fault tolerance: the database or Redis going away mid-interview, and clients walking off.

What a user must see (docs/operations.md, "Faults"): while a backend is away, REST answers 503
``service_unavailable`` with ``Retry-After`` and sockets get an ``error`` frame and stay open;
when it is back, everything works again without a restart; no stored message is lost and a
resent answer (same ``client_message_id``) is stored once. The database and Redis "stop" behind
a TCP proxy (``tests/tcp_proxy.py``): open connections drop and new ones are refused.
"""

import asyncio
import contextlib
import json
import time
import uuid
from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

import pytest
import websockets
from django.db import connection

from accounts.models import Role
from interviews import services
from interviews.engine import get_engine
from interviews.models import Interview, InterviewMessage
from tests.factories import ORG_A, UserFactory
from tests.interviews.realtime_support import (
    LONG_ANSWER,
    REDIS_URL,
    TIMEOUT,
    access_token,
    daphne,
    every,
    frames,
    open_socket,
    participant_and_observer,
    redis_answers,
    shared_database,
    sync,
)
from tests.tcp_proxy import TcpProxy

RECOVERY_SECONDS = 30


def http(method: str, url: str, token: str, body: dict | None = None) -> tuple[int, dict, dict]:
    """``(status, headers, json body)``, whatever the status."""
    data = json.dumps(body).encode() if body is not None else None
    request = Request(url, data=data, method=method, headers={"Authorization": f"Bearer {token}"})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def answer(client_message_id: str) -> str:
    text = f"{LONG_ANSWER} ({client_message_id})"
    return json.dumps({"type": "text_answer", "answer_text": text, "client_message_id": client_message_id})


async def recv(ws, within: float = 15) -> dict:
    """The next frame about something stored: the question's previews (``question_delta``,
    ``question_reset``) are passed over; the streaming tests read those."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=within))
        if frame.get("type") not in ("question_delta", "question_reset"):
            return frame


def ws_url(base: str, interview_id) -> str:
    return base.replace("http", "ws", 1) + f"/ws/interviews/{interview_id}/"


def assert_gapless_once(interview_id, client_message_ids: list[str]) -> list[int]:
    rows = list(
        InterviewMessage.objects.filter(interview_id=interview_id)
        .order_by("sequence_number")
        .values_list("sequence_number", "client_message_id")
    )
    sequences = [seq for seq, _ in rows]
    assert sequences == list(range(1, len(rows) + 1)), sequences
    stored_ids = [cmid for _, cmid in rows if cmid]
    assert sorted(stored_ids) == sorted(client_message_ids), stored_ids  # each exactly once
    assert Interview.objects.get(pk=interview_id).message_count == len(rows)
    return sequences


def with_log(log_paths):
    """Show the daphne logs when a fault test fails: they say what the server saw."""

    def tails() -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in log_paths if p.exists())

    return tails


# --- PostgreSQL stops mid-interview -------------------------------------------------------------


async def postgres_outage(base: str, interview_id, token: str, proxy: TcpProxy) -> dict:
    seen: dict = {}
    async with websockets.connect(ws_url(base, interview_id), subprotocols=["bearer", token], origin=base) as ws:
        assert (await recv(ws))["type"] == "connected"
        await ws.send(answer("t1"))
        seen["before"] = [await recv(ws) for _ in range(3)]

        proxy.cut()  # PostgreSQL stops
        continue_url = f"{base}/api/v1/interviews/continue"
        body = {"interview_id": str(interview_id), "user_response": LONG_ANSWER, "client_message_id": "rest-down"}
        seen["rest_down"] = await asyncio.to_thread(http, "POST", continue_url, token, body)
        await ws.send(answer("t2"))
        seen["socket_down"] = await recv(ws)
        await ws.send(json.dumps({"type": "ping"}))
        seen["pong_down"] = await recv(ws)
        # A socket opened now is accepted and closed with 1013, "try again later".
        async with websockets.connect(ws_url(base, interview_id), subprotocols=["bearer", token], origin=base) as late:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await recv(late)
            seen["late_close"] = closed.value.rcvd.code if closed.value.rcvd else None

        proxy.restore()  # PostgreSQL is back: the client resends its answer until it is taken
        deadline = time.monotonic() + RECOVERY_SECONDS
        while True:
            await ws.send(answer("t2"))
            first = await recv(ws)
            if first["type"] != "error":
                break
            assert first["code"] == "service_unavailable", first
            assert time.monotonic() < deadline, "the socket did not recover"
            await asyncio.sleep(0.5)
        seen["after"] = [first, await recv(ws), await recv(ws)]
        await ws.send(answer("t2"))  # resent once more: acknowledged again, nothing stored
        seen["resent"] = await recv(ws)
        await ws.send(json.dumps({"type": "ping"}))
        seen["pong_after"] = await recv(ws)
        body = {**body, "client_message_id": "rest-up"}
        seen["rest_up"] = await asyncio.to_thread(http, "POST", continue_url, token, body)
    return seen


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_stopped_mid_interview_then_back(tmp_path):
    with shared_database(tmp_path) as db_env:
        employee = UserFactory(role=Role.EMPLOYEE, organization_id=ORG_A)
        interview = services.interview_start(user=employee, language="en", technical_level="basic").interview
        settings_dict = connection.settings_dict
        url = urlsplit(db_env["DATABASE_URL"])
        with TcpProxy(settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432)) as proxy:
            proxied = url._replace(netloc=f"{url.netloc.rsplit('@', 1)[0]}@127.0.0.1:{proxy.port}").geturl()
            env = {
                "DATABASE_URL": proxied,
                "REDIS_URL": "",
                "DATABASE_POOL_TIMEOUT": "2",
                "DATABASE_CONNECT_TIMEOUT": "2",
            }
            log = tmp_path / "daphne.log"
            with daphne(env, log) as base:
                try:
                    seen = asyncio.run(postgres_outage(base, interview.id, access_token(employee), proxy))
                except Exception:
                    print(with_log([log])())
                    raise

    assert [f["type"] for f in seen["before"]] == ["answer_received", "evaluation", "question"]
    status, headers, body = seen["rest_down"]
    assert (status, body["error_code"], body["status"]) == (503, "service_unavailable", "error")
    assert int(headers["Retry-After"]) > 0
    assert "Traceback" not in json.dumps(body)
    assert (seen["socket_down"]["type"], seen["socket_down"]["code"]) == ("error", "service_unavailable")
    assert seen["pong_down"] == {"type": "pong"}  # the socket stayed open
    assert seen["late_close"] == 1013

    received, evaluation, question = seen["after"]
    assert received["type"] == "answer_received"
    assert (received["sequence_number"], received["client_message_id"]) == (4, "t2")
    assert (evaluation["type"], question["type"], question["sequence_number"]) == ("evaluation", "question", 5)
    assert seen["resent"] == received  # the same message, acknowledged again
    assert seen["pong_after"] == {"type": "pong"}  # and nothing else was sent
    status, _, body = seen["rest_up"]
    assert status == 200, body
    assert_gapless_once(interview.id, ["t1", "t2", "rest-up"])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_connections_lost_while_the_interviewer_thinks_lose_nothing(client_for, employee, monkeypatch):
    """PostgreSQL drops every connection of the service while the interviewer works on a turn.

    The answer was committed before (step 1) and no connection is held during the wait, so the
    turn either completes on a fresh connection or answers 503 with the answer kept and the turn
    released; a retry with the same ``client_message_id`` then completes it, stored once.
    """
    import psycopg

    client = client_for(employee)
    interview_id = client.post("/api/v1/interviews/start", {"language": "en"}, format="json").json()["data"][
        "interview_id"
    ]
    real_engine = get_engine()
    params = connection.get_connection_params()
    conninfo = {k: v for k, v in params.items() if k in ("dbname", "host", "port", "user")}

    class DroppedMidTurn:
        history_messages = 0

        async def next_turn(self, *args):
            with psycopg.connect(**conninfo, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    [conninfo["dbname"]],
                )
            return await real_engine.next_turn(*args)

    monkeypatch.setattr("interviews.services.turns.get_engine", lambda: DroppedMidTurn())
    body = {"interview_id": interview_id, "user_response": LONG_ANSWER, "client_message_id": "lost"}
    response = client.post("/api/v1/interviews/continue", body, format="json")
    monkeypatch.undo()
    connection.close()  # under daphne, request_finished closes a broken connection
    connection.pool.check()  # the pool drops the connections PostgreSQL terminated
    if response.status_code == 503:
        assert response.json()["error_code"] == "service_unavailable"
        assert Interview.objects.get(pk=interview_id).message_count == 2  # the answer is kept
        response = client.post("/api/v1/interviews/continue", body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["data"]["question_number"] == 2
    assert Interview.objects.get(pk=interview_id).pending_turn is None
    assert_gapless_once(interview_id, ["lost"])


# --- Redis restarts under live sockets ----------------------------------------------------------


async def redis_restart(a: str, b: str, interview_id, tokens: tuple[str, str], proxy: TcpProxy, forget) -> dict:
    participant_token, staff_token = tokens
    seen: dict = {}
    async with (
        websockets.connect(ws_url(a, interview_id), subprotocols=["bearer", participant_token], origin=a) as p,
        websockets.connect(ws_url(b, interview_id), subprotocols=["bearer", staff_token], origin=b) as o,
    ):
        assert (await recv(p))["role"] == "participant"
        assert (await recv(o))["role"] == "observer"
        await p.send(answer("t1"))
        seen["p_before"] = [await recv(p) for _ in range(3)]
        seen["o_before"] = [await recv(o) for _ in range(5)]

        proxy.cut()  # Redis stops, and forgets everything (it keeps nothing on disk)
        await asyncio.to_thread(forget)
        await p.send(answer("t2"))  # stored while Redis is away; its frames cannot travel
        seen["list_down"] = await asyncio.to_thread(http, "GET", f"{b}/api/v1/interviews", participant_token)
        interview_url = f"{b}/api/v1/interviews/{interview_id}"
        paused = {"status": "paused"}
        seen["pause_down"] = await asyncio.to_thread(http, "PATCH", interview_url, participant_token, paused)
        await asyncio.sleep(1)
        proxy.restore()

        # Each socket's layer reconnects, rejoins the group and sends what it missed.
        seen["p_replayed"] = [await recv(p, within=RECOVERY_SECONDS) for _ in range(3)]
        seen["o_replayed"] = [await recv(o, within=RECOVERY_SECONDS) for _ in range(3)]
        # Live again, across processes: the group was rejoined.
        await asyncio.to_thread(http, "PATCH", interview_url, participant_token, {"status": "in_progress"})
        seen["p_resumed"], seen["o_resumed"] = await recv(p), await recv(o)
        await p.send(answer("t3"))
        seen["p_after"] = [await recv(p) for _ in range(3)]
        seen["o_after"] = [await recv(o) for _ in range(5)]
        for ws in (p, o):
            await ws.send(json.dumps({"type": "ping"}))
            assert await recv(ws) == {"type": "pong"}  # nothing else arrived twice
    return seen


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_redis_restarted_under_live_sockets(tmp_path):
    reason = redis_answers()
    if reason:
        print(f"SKIPPED Redis restart test: {reason}")
        pytest.skip(reason)
    import redis

    upstream = urlsplit(REDIS_URL)
    prefix = f"faults-{uuid.uuid4().hex[:8]}"

    def forget():
        server = redis.Redis.from_url(REDIS_URL)
        for key in server.scan_iter(match=f"{prefix}*"):
            server.delete(key)

    with shared_database(tmp_path) as db_env:
        interview, tokens = participant_and_observer()
        with TcpProxy(upstream.hostname or "127.0.0.1", upstream.port or 6379) as proxy:
            env = {
                **db_env,
                "REDIS_URL": f"redis://127.0.0.1:{proxy.port}{upstream.path}",
                "CHANNELS_PREFIX": prefix,
                "LOG_LEVEL": "INFO",  # the layer's reconnect lines, shown if the test fails
            }
            logs = [tmp_path / "a.log", tmp_path / "b.log"]
            with daphne(env, logs[0]) as a, daphne(env, logs[1]) as b:
                try:
                    seen = asyncio.run(redis_restart(a, b, interview.id, tokens, proxy, forget))
                except Exception:
                    print(with_log(logs)())
                    raise

    status, _, body = seen["list_down"]
    assert status == 200, body  # the API keeps serving while Redis is away (throttles fail open)
    assert seen["pause_down"][0] == 200, seen["pause_down"]
    assert [f["type"] for f in seen["p_before"]] == ["answer_received", "evaluation", "question"]

    def sequences(frames_):
        return [f["message"]["sequence_number"] for f in frames_ if f["type"] == "message"]

    assert sequences(seen["p_replayed"]) == [4, 5]
    assert sequences(seen["o_replayed"]) == [4, 5]
    assert seen["p_replayed"][0]["message"]["content"].endswith("(t2)")
    for replayed in (seen["p_replayed"], seen["o_replayed"]):  # the status changed while away, too
        assert (replayed[-1]["type"], replayed[-1]["status"]) == ("status_changed", "paused")
    for resumed in (seen["p_resumed"], seen["o_resumed"]):
        assert (resumed["type"], resumed["status"]) == ("status_changed", "in_progress")
    assert [f["type"] for f in seen["p_after"]] == ["answer_received", "evaluation", "question"]
    assert seen["p_after"][-1]["sequence_number"] == 7
    # The observer saw every message exactly once, in order, across the restart.
    assert sequences(seen["o_before"] + seen["o_replayed"] + seen["o_after"]) == [2, 3, 4, 5, 6, 7]
    assert_gapless_once(interview.id, ["t1", "t2", "t3"])


# --- a client that disconnects mid-turn --------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_client_disconnecting_mid_turn_loses_nothing(monkeypatch, employee):
    """The answer and the interviewer's reply are stored as one turn even though the socket
    that asked is gone; reconnecting and resuming delivers them, and resending writes nothing."""
    interview = await sync(services.interview_start)(user=employee, language="en", technical_level="basic")
    interview = interview.interview
    real_engine = get_engine()
    entered, release = asyncio.Event(), asyncio.Event()

    class Slow:
        history_messages = 0

        async def next_turn(self, snapshot, history, answer, on_delta, on_reset):
            on_delta("Half a question")  # the client sees the question start, then leaves
            entered.set()
            await release.wait()
            return await real_engine.next_turn(snapshot, history, answer, on_delta, on_reset)

    monkeypatch.setattr("interviews.services.turns.get_engine", lambda: Slow())
    comm, hello = await open_socket(employee, interview.id)
    await comm.send_json_to({"type": "text_answer", "answer_text": LONG_ANSWER, "client_message_id": "gone"})
    await asyncio.wait_for(entered.wait(), TIMEOUT)
    delta = next(f for f in await every(comm, "question_delta") if f["type"] == "question_delta")
    assert delta["delta"] == "Half a question"
    asyncio.get_running_loop().call_later(0.3, release.set)  # the engine answers after the client left
    # If the consumer outlives the timeout, it is cancelled, as daphne does: the turn still completes.
    with contextlib.suppress(TimeoutError):
        await comm.disconnect(timeout=TIMEOUT)
    monkeypatch.undo()

    def turn_stored() -> None:
        deadline = time.monotonic() + TIMEOUT
        while InterviewMessage.objects.filter(interview_id=interview.id).count() < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert_gapless_once(interview.id, ["gone"])

    await sync(turn_stored)()

    comm, hello = await open_socket(employee, interview.id)
    assert hello["last_sequence"] == 3
    await comm.send_json_to({"type": "resume", "after_sequence": 1})
    replayed = await frames(comm, 2)
    assert [(f["type"], f["message"]["sequence_number"]) for f in replayed] == [("message", 2), ("message", 3)]
    await comm.send_json_to({"type": "text_answer", "answer_text": LONG_ANSWER, "client_message_id": "gone"})
    again = await comm.receive_json_from(timeout=TIMEOUT)
    assert (again["type"], again["sequence_number"]) == ("answer_received", 2)
    await comm.disconnect()
    await sync(assert_gapless_once)(interview.id, ["gone"])
