"""Turn recovery and "nothing held while the interviewer thinks" (docs/realtime.md, "Turns").

- A daphne process killed mid-turn leaves the answer stored and the turn pending; after a restart
  the turn is finished once: by the process's own sweep, by a REST retry of the same
  ``client_message_id``, or by a socket's ``get_next_question`` / ``resume``.
- While 20 turns wait on a slow model, PostgreSQL shows no connection of the service in a
  transaction and no lock held by it, and the service's small pool stays free.
- ``manage.py sweep_turns`` finishes overdue turns once; a slow worker whose turn was taken over,
  or whose interview was cancelled meanwhile, stores nothing.

The model is a local OpenAI-compatible server (:class:`SlowModel`) streaming real
``chat.completion.chunk`` events in the provider's reply format (question, ``<<<TURN>>>``, JSON),
slowly, and holding every request while its ``gate`` is closed.
"""

import asyncio
import contextlib
import io
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
import websockets
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.models import Role
from interviews import services
from interviews.engine import Turn
from interviews.engine.scripted import ScriptedProvider
from interviews.exceptions import InterviewNotActive
from interviews.models import Interview, InterviewMessage, InterviewStatus, MessageRole
from interviews.services.turns import db_async, turn_reply_store
from tests.factories import ORG_A, UserFactory
from tests.interviews.realtime_support import (
    BASE_DIR,
    LONG_ANSWER,
    access_token,
    free_port,
    overdue,
    pending_answer,
    scripted_turn,
    server_env,
    shared_database,
    start_interview,
    sync,
)

pytestmark = pytest.mark.django_db(transaction=True)

SENTINEL = "<<<TURN>>>"
EVALUATION = {"score": 77, "feedback": "Concrete steps and tools.", "strengths": ["Names the tools"], "weaknesses": []}
# The killed-process tests: the model answers in MODEL_SECONDS, well inside TURN_TIMEOUT (a turn
# that takes longer than the timeout would be taken over while it is still running).
MODEL_SECONDS = 1.5
TURN_TIMEOUT = 4.0
WAIT = 30.0  # the bound on every wait for something to happen
SERVICE_APP = "turn-recovery-under-test"  # application_name of the daphne processes' connections


# --- a slow OpenAI-compatible model ------------------------------------------------------------


def chunk(delta: dict, finish_reason: str | None = None) -> bytes:
    data = {
        "id": "chatcmpl-slow",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "slow-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    return b"data: " + json.dumps(data).encode() + b"\n\n"


class SlowModel:
    """Chat Completions from a thread of this process: every request waits for ``gate`` (open
    unless closed), then ``latency`` seconds: the first 60 % before the first chunk, the rest
    spread over the chunks. Request ``n`` (1-based) asks ``question(n)``."""

    def __init__(self, *, latency: float):
        self.latency = latency
        self.gate = threading.Event()
        self.gate.set()
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.bodies: list[dict] = []
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                with model.lock:
                    model.bodies.append(body)
                    number = len(model.bodies)
                try:
                    model.answer(self, body, number)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the service went away (killed) mid-reply

            def log_message(self, format, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128  # 20 services' connections arrive at once

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @staticmethod
    def question(number: int) -> str:
        return (
            f"Model question {number}: which report do you prepare first on Monday, and where do its numbers come from?"
        )

    def received(self) -> int:
        with self.lock:
            return len(self.bodies)

    def answer(self, handler: BaseHTTPRequestHandler, body: dict, number: int) -> None:
        # Held while the gate is closed (bounded, and cut short when the server stops).
        deadline = time.monotonic() + 2 * WAIT
        while not self.gate.wait(0.05):
            if self.stopped.is_set() or time.monotonic() > deadline:
                handler.close_connection = True
                return
        text = f"{self.question(number)}\n{SENTINEL}\n" + json.dumps(
            {"is_final": False, "topic": 2, "evaluation": EVALUATION}
        )
        if not body.get("stream"):  # not asked to stream: one completion after the whole latency
            if self.stopped.wait(self.latency):
                return
            data = json.dumps(
                {
                    "id": "chatcmpl-slow",
                    "object": "chat.completion",
                    "created": 0,
                    "model": "slow-model",
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                }
            ).encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return
        pieces = [text[i : i + 16] for i in range(0, len(text), 16)]
        events = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": piece}) for piece in pieces]
        events += [chunk({}, "stop"), b"data: [DONE]\n\n"]
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        handler.wfile.flush()
        pause = self.latency * 0.4 / len(events)
        for i, event in enumerate(events):
            if self.stopped.wait(self.latency * 0.6 if i == 0 else pause):
                handler.close_connection = True
                return
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            handler.wfile.flush()
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()

    def __enter__(self) -> "SlowModel":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


# --- daphne processes, HTTP, waiting -----------------------------------------------------------


class Daphne:
    """A daphne process serving the project on a free loopback port (killable: SIGKILL)."""

    def __init__(self, env: dict, log_path):
        self.log_path = log_path
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.log = open(log_path, "ab")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "interviewsvc.asgi:application"],
            cwd=BASE_DIR,
            env=server_env(env),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            # /health also starts the process's sweep (interviews/sweep.py: at the first connection).
            wait_until(self._healthy, within=60, what="daphne to start")
        except BaseException:
            self.stop()
            raise

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"daphne exited with {self.process.returncode}: {self.tail()}")
        try:
            with urlopen(f"{self.base}/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()

    def tail(self) -> str:
        return f"--- {self.log_path.name}\n{self.log_path.read_text(errors='replace')[-4000:]}"


@contextlib.contextmanager
def running(env: dict, log_path):
    server = Daphne(env, log_path)
    try:
        yield server
    except BaseException:
        print(server.tail())  # what the server saw, when the test fails
        raise
    finally:
        server.stop()


def wait_until(predicate: Callable[[], object], *, within: float = WAIT, what: str = "the condition", every=0.05):
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        time.sleep(every)


def http(method: str, url: str, token: str, body: dict | None = None, *, accept: str = "application/json"):
    """``(status, parsed JSON body or raw text)``, whatever the status."""
    data = json.dumps(body).encode() if body is not None else None
    request = Request(url, data=data, method=method, headers={"Authorization": f"Bearer {token}", "Accept": accept})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urlopen(request, timeout=WAIT) as response:
            raw = response.read().decode()
            return response.status, (raw if accept == "text/event-stream" else json.loads(raw))
    except HTTPError as error:
        return error.code, json.loads(error.read())


def sse_events(raw: str) -> list[tuple[str, dict]]:
    out = []
    for block in raw.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


def continue_body(interview_id, client_message_id: str, answer: str = LONG_ANSWER) -> dict:
    return {"interview_id": str(interview_id), "user_response": answer, "client_message_id": client_message_id}


def in_thread(fn, *args, **kwargs) -> tuple[threading.Thread, dict]:
    """``fn`` running in a daemon thread; ``box["result"]`` or ``box["error"]`` once it ends."""
    box: dict = {}

    def run():
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def service_env(db_env: dict, model: SlowModel, **extra) -> dict:
    return {
        **db_env,
        "DATABASE_URL": f"{db_env['DATABASE_URL']}?application_name={SERVICE_APP}",
        "REDIS_URL": "",  # one process at a time: the in-memory layer
        "INTERVIEWER_PROVIDERS": "openai",
        "OPENAI_BASE_URL": model.base_url,
        "OPENAI_API_KEY": "sk-local",
        "OPENAI_MODEL": "slow-model",
        "OPENAI_TIMEOUT_SECONDS": "3",
        "TURN_TIMEOUT_SECONDS": f"{TURN_TIMEOUT:g}",
        "TURN_SWEEP_SECONDS": "0",
        **extra,
    }


def transcript(interview_id) -> list[InterviewMessage]:
    return list(InterviewMessage.objects.filter(interview_id=interview_id).order_by("sequence_number"))


def ws_url(base: str, interview_id) -> str:
    return base.replace("http", "ws", 1) + f"/ws/interviews/{interview_id}/"


# --- 1. a daphne process killed mid-turn -------------------------------------------------------


class KilledTurn:
    """An interview whose answer #2 was stored by a daphne process killed while the model
    thought: the turn is pending, no reply stored."""

    def __init__(self, interview: Interview, token: str, answer: InterviewMessage, deadline, model: SlowModel):
        self.interview, self.token, self.answer, self.deadline, self.model = interview, token, answer, deadline, model


def kill_mid_turn(env: dict, model: SlowModel, tmp_path) -> KilledTurn:
    employee = UserFactory(role=Role.EMPLOYEE, organization_id=ORG_A)
    interview = start_interview(employee, language="en")
    token = access_token(employee)
    model.gate.clear()  # the model holds this turn's request: the process dies while it waits
    server = Daphne(env, tmp_path / "killed.log")
    try:
        url = f"{server.base}/api/v1/interviews/continue"
        thread, box = in_thread(http, "POST", url, token, continue_body(interview.id, "killed-1"))
        wait_until(lambda: model.received() == 1, what="the model to be asked")
        server.kill()
        thread.join(timeout=WAIT)
        assert "result" not in box, box  # the client lost its connection: no answer came back
    except BaseException:
        print(server.tail())
        raise
    finally:
        server.stop()
        model.gate.set()

    # The answer is stored (#2), the turn is pending, no reply.
    rows = transcript(interview.id)
    assert [(m.sequence_number, m.role) for m in rows] == [(1, MessageRole.ASSISTANT), (2, MessageRole.USER)]
    answer = rows[1]
    assert answer.client_message_id == "killed-1"
    interview.refresh_from_db()
    assert interview.pending_turn["answer_id"] == str(answer.id)
    assert interview.pending_turn["turn_id"] == str(answer.id)
    assert interview.turn_claim is not None
    assert interview.turn_deadline is not None
    assert interview.message_count == 2
    return KilledTurn(interview, token, answer, interview.turn_deadline, model)


def assert_finished_once(killed: KilledTurn, model: SlowModel) -> InterviewMessage:
    """The turn was finished exactly once, by the model's answer to the taken-over request."""
    interview = Interview.objects.get(pk=killed.interview.id)
    assert (interview.pending_turn, interview.turn_claim, interview.turn_deadline) == (None, None, None)
    rows = transcript(interview.id)
    assert [m.sequence_number for m in rows] == [1, 2, 3]
    assert [m.role for m in rows] == [MessageRole.ASSISTANT, MessageRole.USER, MessageRole.ASSISTANT]
    assert interview.message_count == 3
    reply = rows[2]
    # The killed process's request (#1) and the takeover's (#2): the model was asked twice about
    # the same answer, and only the second reply was stored.
    assert model.received() == 2
    assert model.bodies[1]["messages"][-1] == {"role": "user", "content": LONG_ANSWER}
    assert reply.content == SlowModel.question(2)
    assert reply.metadata["turn_id"] == str(killed.answer.id)
    assert reply.created_at >= killed.deadline  # taken over only once the deadline had passed
    assert rows[1].id == killed.answer.id
    assert rows[1].evaluation["score"] == EVALUATION["score"]
    return reply


def assert_retry_replays(base: str, killed: KilledTurn, reply: InterviewMessage) -> None:
    """The client's retry of its answer gets the stored turn again and writes nothing."""
    url = f"{base}/api/v1/interviews/continue"
    status, body = http("POST", url, killed.token, continue_body(killed.interview.id, "killed-1"))
    assert status == 200, body
    assert body["message"] == "Answer already recorded"
    assert body["data"]["user_message"]["id"] == str(killed.answer.id)
    assert body["data"]["assistant_message"]["id"] == str(reply.id)
    assert body["data"]["question"] == reply.content
    assert Interview.objects.get(pk=killed.interview.id).message_count == 3
    assert killed.model.received() == 2  # the model was not asked again


@pytest.mark.postgres
def test_killed_mid_turn_the_restarted_process_sweeps_the_turn_to_its_end(tmp_path):
    with shared_database(tmp_path) as db_env, SlowModel(latency=MODEL_SECONDS) as model:
        env = service_env(db_env, model, TURN_SWEEP_SECONDS="0.5")
        killed = kill_mid_turn(env, model, tmp_path)
        with running(env, tmp_path / "restarted.log") as server:
            # Nobody comes back to this interview: the new process's sweep finishes the turn.
            wait_until(
                lambda: Interview.objects.filter(pk=killed.interview.id, pending_turn__isnull=True).exists(),
                what="the sweep to finish the turn",
            )
            reply = assert_finished_once(killed, model)
            time.sleep(1.5)  # a few more sweeps: nothing is done twice
            assert len(transcript(killed.interview.id)) == 3
            assert model.received() == 2
            assert_retry_replays(server.base, killed, reply)


@pytest.mark.postgres
@pytest.mark.parametrize("retry", ["after_deadline", "before_deadline"])
def test_killed_mid_turn_a_rest_retry_takes_the_turn_over(tmp_path, retry):
    """The client resends its answer (same ``client_message_id``). After the deadline it takes
    the turn over at once; before it, it waits for the turn and takes it over when it expires."""
    # Before the deadline: a deadline long enough that the restart below surely fits in it, even
    # on a loaded machine (a daphne start there took longer than TURN_TIMEOUT's 4 s).
    longer = {"TURN_TIMEOUT_SECONDS": "12"} if retry == "before_deadline" else {}
    with shared_database(tmp_path) as db_env, SlowModel(latency=MODEL_SECONDS) as model:
        env = service_env(db_env, model, **longer)  # no sweep: only the client brings the turn to its end
        killed = kill_mid_turn(env, model, tmp_path)
        with running(env, tmp_path / "restarted.log") as server:
            if retry == "after_deadline":
                wait_until(lambda: timezone.now() > killed.deadline, what="the turn's deadline")
                time.sleep(0.5)
                assert Interview.objects.get(pk=killed.interview.id).pending_turn is not None  # nobody else came
            else:
                assert timezone.now() < killed.deadline
            assert model.received() == 1
            url = f"{server.base}/api/v1/interviews/continue"
            status, body = http("POST", url, killed.token, continue_body(killed.interview.id, "killed-1"))
            assert status == 200, body
            reply = assert_finished_once(killed, model)
            assert body["message"] == "Answer already recorded"  # the answer was #2 all along
            assert body["data"]["user_message"]["sequence_number"] == 2
            assert body["data"]["assistant_message"]["id"] == str(reply.id)
            assert body["data"]["question"] == SlowModel.question(2)
            assert_retry_replays(server.base, killed, reply)


async def socket_takes_over(base: str, killed: KilledTurn, frame: dict) -> tuple[list[dict], list[dict]]:
    """Frames of a participant socket that sends ``frame``, up to the turn's ``question``; and
    what came after it, before the answer to a ``ping`` (nothing, when nothing is doubled)."""
    async with websockets.connect(
        ws_url(base, killed.interview.id), subprotocols=["bearer", killed.token], origin=base
    ) as ws:
        seen = [json.loads(await asyncio.wait_for(ws.recv(), timeout=WAIT))]
        await ws.send(json.dumps(frame))
        async with asyncio.timeout(WAIT):
            while seen[-1].get("type") != "question":
                seen.append(json.loads(await ws.recv()))
        await asyncio.sleep(0.5)  # a second question, if any, would arrive meanwhile
        await ws.send(json.dumps({"type": "ping"}))
        after = []
        async with asyncio.timeout(WAIT):
            while (last := json.loads(await ws.recv())).get("type") != "pong":
                after.append(last)
    return seen, after


@pytest.mark.postgres
@pytest.mark.parametrize(
    "frame", [{"type": "get_next_question"}, {"type": "resume", "after_sequence": 0}], ids=lambda f: f["type"]
)
def test_killed_mid_turn_a_socket_takes_the_turn_over(tmp_path, frame):
    with shared_database(tmp_path) as db_env, SlowModel(latency=MODEL_SECONDS) as model:
        env = service_env(db_env, model)
        killed = kill_mid_turn(env, model, tmp_path)
        with running(env, tmp_path / "restarted.log") as server:
            wait_until(lambda: timezone.now() > killed.deadline, what="the turn's deadline")
            seen, after = asyncio.run(socket_takes_over(server.base, killed, frame))
            reply = assert_finished_once(killed, model)
            assert_retry_replays(server.base, killed, reply)

    connected, rest = seen[0], seen[1:]
    assert connected["type"] == "connected"
    assert connected["pending_turn"]["answer_id"] == str(killed.answer.id)  # it saw the turn pending
    types = [f["type"] for f in rest]
    if frame["type"] == "resume":
        replayed = [f["message"]["sequence_number"] for f in rest if f["type"] == "message"]
        assert replayed == [1, 2]
    else:
        errors = [f for f in rest if f["type"] == "error"]
        assert [e["code"] for e in errors] == ["turn_in_progress"]  # no question waits yet; it follows
    # The taker starts with a reset (the dead process may have streamed part of a question), then
    # streams the whole question, then the committed evaluation and question.
    assert "question_reset" in types
    after_reset = rest[len(types) - 1 - types[::-1].index("question_reset") :]
    deltas = [f for f in after_reset if f["type"] == "question_delta"]
    assert "".join(d["delta"] for d in deltas) == reply.content
    assert [d["seq"] for d in deltas] == list(range(len(deltas)))
    evaluation = next(f for f in rest if f["type"] == "evaluation")
    assert (evaluation["answer_id"], evaluation["score"]) == (str(killed.answer.id), EVALUATION["score"])
    assert after == []  # nothing after the question: no second reply, no second question
    question = rest[-1]
    assert (question["sequence_number"], question["text"]) == (3, reply.content)
    assert types.count("question") == 1


# --- 2. nothing held while 20 turns wait on the model ------------------------------------------

TURNS = 20
POOL_SIZE = 5  # far fewer connections than turns in flight: a turn holding one would starve the rest


def database_now() -> dict:
    """What PostgreSQL shows of the other client backends on the test database right now."""
    import psycopg

    params = connection.get_connection_params()
    conninfo = {k: v for k, v in params.items() if k in ("dbname", "host", "port", "user", "password")}
    with psycopg.connect(**conninfo, autocommit=True) as monitor:
        backends = monitor.execute(
            "SELECT pid, application_name, state, left(query, 200) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchall()
        locks = monitor.execute(
            "SELECT l.pid, a.application_name, l.locktype, l.mode, l.relation::regclass::text"
            " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE a.datname = current_database() AND l.pid <> pg_backend_pid()"
            " AND a.backend_type = 'client backend'"
        ).fetchall()
    return {
        "service": [b for b in backends if b[1] == SERVICE_APP],
        "busy": [b for b in backends if b[2] != "idle"],  # active / idle in transaction, any client
        "locks": locks,
        "interview_row_locks": [lock for lock in locks if lock[4] == "interviews_interview" or lock[2] == "tuple"],
    }


def rest_turn(base: str, interview_id, token: str, cmid: str, *, sse: bool) -> dict:
    accept = "text/event-stream" if sse else "application/json"
    status, body = http(
        "POST", f"{base}/api/v1/interviews/continue", token, continue_body(interview_id, cmid), accept=accept
    )
    assert status == 200, body
    if not sse:
        return body["data"]
    events = sse_events(body)
    names = [name for name, _ in events]
    assert names[0] == "answer_received", names
    assert names[-1] == "result", names
    deltas = [data["delta"] for name, data in events if name == "question_delta"]
    result = events[-1][1]["data"]
    assert "".join(deltas) == result["question"]
    return result


async def socket_turns(base: str, interviews: list, tokens: list[str]) -> list[list[dict]]:
    async def one(interview_id, token: str, cmid: str) -> list[dict]:
        async with websockets.connect(ws_url(base, interview_id), subprotocols=["bearer", token], origin=base) as ws:
            seen = [json.loads(await asyncio.wait_for(ws.recv(), timeout=WAIT))]
            await ws.send(json.dumps({"type": "text_answer", "answer_text": LONG_ANSWER, "client_message_id": cmid}))
            async with asyncio.timeout(2 * WAIT):
                while seen[-1].get("type") != "question":
                    seen.append(json.loads(await ws.recv()))
        return seen

    return await asyncio.gather(
        *(one(i.id, token, f"turn-{n}") for n, (i, token) in enumerate(zip(interviews, tokens, strict=True)))
    )


@pytest.mark.postgres
@pytest.mark.parametrize("transport", ["rest", "sse", "websocket"])
def test_nothing_held_while_twenty_turns_wait_on_the_model(tmp_path, transport):
    with shared_database(tmp_path) as db_env, SlowModel(latency=0.5) as model:
        employees = [UserFactory(role=Role.EMPLOYEE, organization_id=ORG_A) for _ in range(TURNS)]
        interviews = [start_interview(e, language="en") for e in employees]
        tokens = [access_token(e) for e in employees]
        env = service_env(
            db_env,
            model,
            DATABASE_POOL_MAX_SIZE=str(POOL_SIZE),
            DATABASE_POOL_TIMEOUT="5",
            OPENAI_TIMEOUT_SECONDS="60",
            TURN_TIMEOUT_SECONDS="120",
        )
        model.gate.clear()  # the model holds every request until the samples are taken
        with running(env, tmp_path / "daphne.log") as server:
            try:
                if transport == "websocket":
                    workers = [in_thread(asyncio.run, socket_turns(server.base, interviews, tokens))]
                else:
                    workers = [
                        in_thread(rest_turn, server.base, i.id, t, f"turn-{n}", sse=transport == "sse")
                        for n, (i, t) in enumerate(zip(interviews, tokens, strict=True))
                    ]
                wait_until(
                    lambda: model.received() == TURNS,
                    what=f"all {TURNS} turns to reach the model (a turn holding one of the {POOL_SIZE} pooled "
                    "connections while it waits would keep the others from storing their answers)",
                )
                # Every turn is now waiting on the model. Look at PostgreSQL a few times.
                samples = []
                for _ in range(8):
                    samples.append(database_now())
                    time.sleep(0.1)
                # The pool is free: another request is served (and refused: a turn is pending). No
                # timing: with the pool held it would wait DATABASE_POOL_TIMEOUT and answer 503.
                status, body = http(
                    "POST",
                    f"{server.base}/api/v1/interviews/continue",
                    tokens[0],
                    continue_body(interviews[0].id, "probe"),
                )
                detail_status, detail = http("GET", f"{server.base}/api/v1/interviews/{interviews[0].id}", tokens[0])
                pending = Interview.objects.filter(pk__in=[i.id for i in interviews], pending_turn__isnull=False)
                pending_during_wait = pending.count()
            finally:
                model.gate.set()
                for thread, _ in workers:
                    thread.join(timeout=2 * WAIT)

    for sample in samples:
        assert sample["busy"] == [], sample  # no connection active or in a transaction, ours or anyone's
        assert sample["locks"] == [], sample  # no lock at all, so no row lock on interviews_interview
        assert sample["interview_row_locks"] == [], sample
        assert len(sample["service"]) <= POOL_SIZE, sample
    assert pending_during_wait == TURNS
    assert (status, body["error_code"]) == (409, "turn_in_progress"), body
    assert detail_status == 200, detail
    assert detail["data"]["pending_turn"] is not None, detail

    results = []
    for thread, box in workers:
        assert not thread.is_alive(), "a turn did not finish"
        assert "error" not in box, box["error"]
        results.extend(box["result"] if transport == "websocket" else [box["result"]])
    assert len(results) == TURNS
    if transport == "websocket":
        for seen in results:
            types = [f["type"] for f in seen]
            assert types[0] == "connected", types
            assert "answer_received" in types, types
            assert "error" not in types, types
            assert seen[-1]["sequence_number"] == 3
            deltas = "".join(f["delta"] for f in seen if f["type"] == "question_delta")
            assert deltas == seen[-1]["text"]
    else:
        for data in results:
            assert (data["user_message"]["sequence_number"], data["assistant_message"]["sequence_number"]) == (2, 3)
            assert data["question"].startswith("Model question ")
    assert model.received() == TURNS  # one model call per turn
    for interview in interviews:
        rows = transcript(interview.id)
        assert [m.sequence_number for m in rows] == [1, 2, 3]
        assert rows[2].content.startswith("Model question ")
        assert Interview.objects.get(pk=interview.id).pending_turn is None


# --- 3. the sweep command, and a slow worker taken over ----------------------------------------


def sweep(**options) -> str:
    out = io.StringIO()
    call_command("sweep_turns", stdout=out, **options)
    return out.getvalue().strip()


def test_sweep_command_finishes_an_overdue_turn_once(employee):
    interview, job = pending_answer(employee)
    assert sweep() == "0 turn(s) finished."  # not overdue yet: left to its worker
    assert Interview.objects.get(pk=interview.id).pending_turn is not None

    overdue(interview.id)
    assert sweep() == "1 turn(s) finished."
    interview.refresh_from_db()
    assert (interview.pending_turn, interview.turn_claim, interview.turn_deadline) == (None, None, None)
    rows = transcript(interview.id)
    assert [(m.sequence_number, m.role) for m in rows] == [
        (1, MessageRole.ASSISTANT),
        (2, MessageRole.USER),
        (3, MessageRole.ASSISTANT),
    ]
    assert rows[2].metadata["turn_id"] == job.turn_id == str(job.answer.id)
    assert rows[1].evaluation is not None
    assert interview.message_count == 3

    assert sweep() == "0 turn(s) finished."  # a second sweep does nothing
    assert len(transcript(interview.id)) == 3
    # The worker that began the turn comes back late: it stores nothing.
    assert turn_reply_store(job=job, turn=scripted_turn(job, "Late?")) is None
    assert len(transcript(interview.id)) == 3


def test_sweep_command_finishes_an_overdue_first_question(employee):
    """A process that died while the interviewer wrote the first question (``start``)."""
    job = services.turn_start_begin(user=employee, language="en", technical_level="basic")
    assert transcript(job.interview_id) == []
    overdue(job.interview_id)
    assert sweep() == "1 turn(s) finished."
    interview = Interview.objects.get(pk=job.interview_id)
    assert (interview.pending_turn, interview.message_count, interview.question_count) == (None, 1, 1)
    [first] = transcript(job.interview_id)
    assert (first.sequence_number, first.role) == (1, MessageRole.ASSISTANT)
    assert sweep() == "0 turn(s) finished."
    assert len(transcript(job.interview_id)) == 1


@pytest.mark.postgres  # the sweep finishes its turns concurrently: SQLite's in-memory test database
# (shared cache) fails concurrent writers with "table is locked" instead of waiting for them
def test_sweep_command_limit(employee):
    started = [pending_answer(employee, cmid=f"a{n}")[0] for n in range(3)]
    for interview in started:
        overdue(interview.id)
    assert sweep(limit=2) == "2 turn(s) finished."
    assert Interview.objects.filter(pending_turn__isnull=False).count() == 1
    assert sweep(limit=2) == "1 turn(s) finished."
    assert [Interview.objects.get(pk=i.id).message_count for i in started] == [3, 3, 3]


def test_a_slow_worker_whose_turn_was_taken_over_stores_nothing(employee):
    interview, old = pending_answer(employee)
    assert services.turn_takeover(interview_id=interview.id) is None  # before the deadline: not taken
    overdue(interview.id)
    new = services.turn_takeover(interview_id=interview.id)
    assert new is not None
    assert new.takeover
    assert (new.turn_id, new.answer.id) == (old.turn_id, old.answer.id)
    assert new.claim != old.claim
    assert services.turn_takeover(interview_id=interview.id) is None  # the new claim has a fresh deadline

    # The old worker answers first: refused, nothing stored, the turn still pending for the new one.
    assert turn_reply_store(job=old, turn=scripted_turn(old, "Old worker?")) is None
    interview.refresh_from_db()
    assert interview.message_count == 2
    assert interview.pending_turn is not None
    assert interview.turn_claim == new.claim

    result = turn_reply_store(job=new, turn=scripted_turn(new, "New worker?"))
    assert result is not None
    assert (result.assistant_message.sequence_number, result.assistant_message.content) == (3, "New worker?")

    # Late replies from either worker after that: nothing.
    assert turn_reply_store(job=old, turn=scripted_turn(old, "Old worker, later?")) is None
    assert turn_reply_store(job=new, turn=scripted_turn(new, "New worker, again?")) is None
    rows = transcript(interview.id)
    assert [m.sequence_number for m in rows] == [1, 2, 3]
    assert [m.content for m in rows if m.role == MessageRole.ASSISTANT][-1] == "New worker?"
    interview.refresh_from_db()
    assert (interview.message_count, interview.pending_turn) == (3, None)


class GatedEngine:
    """The interviewer: its first call waits for ``gate``; call ``n`` asks "Reply of call n?"."""

    history_messages = 0

    def __init__(self):
        self.calls = 0
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def next_turn(self, snapshot, history, answer, on_delta, on_reset):
        self.calls += 1
        call = self.calls
        if call == 1:
            self.entered.set()
            await self.gate.wait()
        turn = await ScriptedProvider().next_turn(snapshot, history, answer, lambda text: None)
        on_delta(f"Reply of call {call}?")
        return Turn(f"Reply of call {call}?", False, turn.evaluation, turn.index, turn.total, turn.engine_state)


async def test_a_slow_worker_taken_over_returns_the_stored_reply(employee, monkeypatch):
    interview = await sync(start_interview)(employee, "en")
    engine = GatedEngine()
    monkeypatch.setattr("interviews.services.turns.get_engine", lambda: engine)
    job = await db_async(
        services.turn_answer_store, actor=employee, interview_id=interview.id, answer=LONG_ANSWER, client_message_id="s"
    )
    slow = asyncio.create_task(services.turn_run(job, db=db_async))
    try:
        await asyncio.wait_for(engine.entered.wait(), timeout=5)
        await sync(overdue)(interview.id)
        taker = await db_async(services.turn_takeover, interview_id=interview.id)
        taken = await asyncio.wait_for(services.turn_run(taker, db=db_async), timeout=10)
        engine.gate.set()
        late = await asyncio.wait_for(slow, timeout=10)
    finally:
        engine.gate.set()
        if not slow.done():
            slow.cancel()
    assert taken.assistant_message.content == "Reply of call 2?"
    # The slow worker's reply was refused; it returns the one stored by the taker.
    assert late.assistant_message.id == taken.assistant_message.id
    rows = await sync(transcript)(interview.id)
    assert [(m.sequence_number, m.content) for m in rows][1:] == [(2, LONG_ANSWER), (3, "Reply of call 2?")]


# --- 4. cancelled while the interviewer thinks -------------------------------------------------


def test_cancel_during_a_pending_turn_drops_the_reply(employee, client_for):
    interview, job = pending_answer(employee)
    response = client_for(employee).patch(f"/api/v1/interviews/{interview.id}", {"status": "cancelled"}, format="json")
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert (data["status"], data["pending_turn"]) == ("cancelled", None)
    interview.refresh_from_db()
    assert (interview.pending_turn, interview.turn_claim, interview.turn_deadline) == (None, None, None)

    # The interviewer's reply arrives afterwards: not stored.
    assert turn_reply_store(job=job, turn=scripted_turn(job, "Too late?")) is None
    interview.refresh_from_db()
    assert interview.status == InterviewStatus.CANCELLED
    assert interview.message_count == 2
    assert [m.sequence_number for m in transcript(interview.id)] == [1, 2]
    assert sweep() == "0 turn(s) finished."  # nothing left to take over
    assert services.turn_takeover(interview_id=interview.id) is None


async def test_cancel_during_a_running_turn_ends_it_without_a_reply(employee, monkeypatch):
    interview = await sync(start_interview)(employee, "en")
    engine = GatedEngine()
    monkeypatch.setattr("interviews.services.turns.get_engine", lambda: engine)
    job = await db_async(
        services.turn_answer_store, actor=employee, interview_id=interview.id, answer=LONG_ANSWER, client_message_id="c"
    )
    running_turn = asyncio.create_task(services.turn_run(job, db=db_async))
    try:
        await asyncio.wait_for(engine.entered.wait(), timeout=5)
        await db_async(services.interview_status_change, interview_id=interview.id, status="cancelled", actor=employee)
        engine.gate.set()
        with pytest.raises(InterviewNotActive):
            await asyncio.wait_for(running_turn, timeout=10)
    finally:
        engine.gate.set()
        if not running_turn.done():
            running_turn.cancel()
    assert engine.calls == 1
    rows = await sync(transcript)(interview.id)
    assert [m.sequence_number for m in rows] == [1, 2]
    stored = await sync(Interview.objects.get)(pk=interview.id)
    assert (stored.status, stored.pending_turn, stored.message_count) == (InterviewStatus.CANCELLED, None, 2)


def test_a_retry_after_the_interview_was_cancelled_mid_turn_is_interview_not_active(employee, client_for):
    """The turn was dropped, so there is no first result to repeat: 409, never a 200 without a reply."""
    interview, _ = pending_answer(employee, cmid="c1")
    client = client_for(employee)
    assert client.patch(f"/api/v1/interviews/{interview.id}", {"status": "cancelled"}, format="json").status_code == 200
    response = client.post("/api/v1/interviews/continue", continue_body(interview.id, "c1"), format="json")
    assert response.status_code == 409, response.content
    assert response.json()["error_code"] == "interview_not_active"
    assert [m.sequence_number for m in transcript(interview.id)] == [1, 2]


# --- 5. an interviewer slower than TURN_TIMEOUT_SECONDS ------------------------------------------


async def test_a_turn_slower_than_the_timeout_is_kept_alive_not_taken_over(employee, monkeypatch, settings):
    """A live worker keeps its turn's deadline ahead: sweeps running all along take nothing over,
    the model is asked once, and its reply is stored once."""
    from interviews.sweep import sweep_once

    settings.TURN_TIMEOUT_SECONDS = 0.3
    calls = []

    class Slow:
        history_messages = 0

        async def next_turn(self, snapshot, history, answer, on_delta, on_reset):
            calls.append(answer)
            await asyncio.sleep(1.2)  # four times the timeout
            return await ScriptedProvider().next_turn(snapshot, history, answer, on_delta)

    interview = await sync(start_interview)(employee, "en")
    monkeypatch.setattr("interviews.services.turns.get_engine", lambda: Slow())
    job = await db_async(
        services.turn_answer_store, actor=employee, interview_id=interview.id, answer=LONG_ANSWER, client_message_id="k"
    )
    run = asyncio.create_task(services.turn_run(job, db=db_async))
    swept = []
    while not run.done():
        swept.append(await sweep_once())
        await asyncio.sleep(0.1)
    result = await run
    assert len(swept) > 5
    assert sum(swept) == 0
    assert len(calls) == 1
    assert result.assistant_message.sequence_number == 3
    rows = await sync(transcript)(interview.id)
    assert [(m.sequence_number, m.role) for m in rows] == [(1, "assistant"), (2, "user"), (3, "assistant")]
