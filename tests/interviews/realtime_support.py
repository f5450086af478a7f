"""Helpers for the realtime tests: sockets through the real ASGI application (origin check,
routing, session middleware included)."""

import copy
import os
import socket as socketlib
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from urllib.request import urlopen

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.db.utils import load_backend
from django.test import Client as DjangoClient
from django.utils import timezone

from accounts.serializers import TokenObtainSerializer
from interviews import services
from interviews.engine import Turn
from interviews.engine.scripted import ScriptedProvider
from interviews.models import Interview
from interviewsvc.asgi import application

TIMEOUT = 5
LONG_ANSWER = "I prepare the weekly payroll: I export hours from Kronos, check them in Excel and upload to SAP."
ORIGIN = (b"origin", b"http://testserver")


def access_token(user) -> str:
    return str(TokenObtainSerializer.get_token(user).access_token)


def session_cookie(user) -> tuple[bytes, bytes]:
    client = DjangoClient()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def start_interview(user, language: str = "en"):
    return services.interview_start(user=user, language=language, technical_level="basic").interview


# --- a turn held by another worker (recovery tests) ----------------------------------------------


def pending_answer(employee, cmid: str = "a1"):
    """An interview whose answer #2 is stored and whose turn is held by a worker that never
    comes back (its interviewer was not run)."""
    interview = start_interview(employee, language="en")
    job = services.turn_answer_store(
        actor=employee, interview_id=interview.id, answer=LONG_ANSWER, client_message_id=cmid
    )
    assert isinstance(job, services.TurnJob)
    return interview, job


def overdue(interview_id, seconds: float = 1) -> datetime:
    """Move the interview's turn deadline ``seconds`` into the past; the new deadline."""
    deadline = timezone.now() - timedelta(seconds=seconds)
    Interview.objects.filter(pk=interview_id).update(turn_deadline=deadline)
    return deadline


def scripted_turn(job, question: str) -> Turn:
    """The scripted interviewer's turn for ``job``'s answer, asking ``question`` instead."""
    turn = async_to_sync(ScriptedProvider().next_turn)(
        job.snapshot, list(job.history), job.answer.content, lambda text: None
    )
    return Turn(question, turn.is_final, turn.evaluation, turn.index, turn.total, turn.engine_state)


def socket(interview_id, *, query: str = "", subprotocols=None, headers=None, origin=ORIGIN) -> WebsocketCommunicator:
    path = f"/ws/interviews/{interview_id}/" + (f"?{query}" if query else "")
    all_headers = [(b"host", b"testserver"), *([origin] if origin else []), *(headers or [])]
    return WebsocketCommunicator(application, path, headers=all_headers, subprotocols=subprotocols)


async def bearer_socket(user, interview_id) -> WebsocketCommunicator:
    token = await database_sync_to_async(access_token)(user)
    return socket(interview_id, subprotocols=["bearer", token])


async def open_socket(user, interview_id) -> tuple[WebsocketCommunicator, dict]:
    """A connected socket for ``user`` and its ``connected`` frame."""
    comm = await bearer_socket(user, interview_id)
    connected, subprotocol = await comm.connect(timeout=TIMEOUT)
    assert connected
    assert subprotocol == "bearer"
    frame = await comm.receive_json_from(timeout=TIMEOUT)
    assert frame["type"] == "connected", frame
    return comm, frame


async def expect_close(comm: WebsocketCommunicator, code: int) -> None:
    """The server accepted and then closed with ``code`` (the contract's close codes)."""
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected
    output = await comm.receive_output(timeout=TIMEOUT)
    assert output == {"type": "websocket.close", "code": code}, output
    await comm.disconnect(timeout=TIMEOUT)


async def closed_with(comm: WebsocketCommunicator) -> int:
    """The code of the close the server sends next, skipping nothing."""
    output = await comm.receive_output(timeout=TIMEOUT)
    assert output["type"] == "websocket.close", output
    return output["code"]


PREVIEWS = {"question_delta", "question_reset"}


async def frames(comm: WebsocketCommunicator, count: int) -> list[dict]:
    """The next ``count`` frames about committed things, passing over the question's previews
    (``question_delta``/``question_reset``; the tests of streaming read those with ``every``)."""
    out = []
    while len(out) < count:
        frame = await comm.receive_json_from(timeout=TIMEOUT)
        if frame.get("type") not in PREVIEWS:
            out.append(frame)
    return out


async def every(comm: WebsocketCommunicator, until: str) -> list[dict]:
    """Every frame, previews included, up to and including the first of type ``until``."""
    out = []
    while not out or out[-1].get("type") != until:
        out.append(await comm.receive_json_from(timeout=TIMEOUT))
    return out


async def nothing_more(comm: WebsocketCommunicator, wait: float = 0.3) -> None:
    assert await comm.receive_nothing(timeout=wait), "unexpected frame"


async def drain(comm: WebsocketCommunicator) -> list[dict]:
    """Every frame that arrives until none comes for 0.3 s, previews left out."""
    out = []
    while not await comm.receive_nothing(timeout=0.3):
        out.append(await comm.receive_json_from(timeout=TIMEOUT))
    return [frame for frame in out if frame.get("type") not in PREVIEWS]


def sync(fn):
    return database_sync_to_async(fn)


# --- real daphne processes (cluster, browser and fault tests) ------------------------------------

REDIS_URL = os.environ.get("REDIS_URL", "")


def participant_and_observer():
    """A new interview of an employee, and access tokens for that employee and for a staff
    member of the same organization (an observer)."""
    from accounts.models import Role
    from tests.factories import ORG_A, UserFactory

    participant = UserFactory(role=Role.EMPLOYEE, organization_id=ORG_A)
    observer = UserFactory(role=Role.STAFF, organization_id=ORG_A)
    interview = start_interview(participant)
    return interview, (access_token(participant), access_token(observer))


def redis_answers() -> str | None:
    """Why a test that needs the shared Redis cannot run, or None."""
    if not REDIS_URL:
        return "REDIS_URL is not set: this test needs a Redis that daphne processes share"
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        return f"Redis at {REDIS_URL} does not answer ({exc})"
    return None


BASE_DIR = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socketlib.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def shared_database(tmp_path: Path):
    """A database this test process and daphne subprocesses both use; yields the subprocess env.

    PostgreSQL: the test database itself (the test must be transactional so rows are committed).
    SQLite: the test database lives in this process's memory, so a temporary file database is
    migrated and, for the duration, this thread's ``default`` connection is swapped to it (the
    in-memory connection is kept aside untouched, it would be destroyed if closed).
    """
    current = connections["default"]
    conf = current.settings_dict
    if conf["ENGINE"] == "django.db.backends.postgresql":
        auth = quote(conf["USER"] or "") + (f":{quote(conf['PASSWORD'])}" if conf["PASSWORD"] else "")
        url = f"postgres://{auth}@{conf['HOST'] or '127.0.0.1'}:{conf['PORT'] or 5432}/{conf['NAME']}"
        yield {"DATABASE_URL": url}
        return
    path = tmp_path / "live.sqlite3"
    env = {"DATABASE_URL": f"sqlite:///{path}"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=BASE_DIR,
        env=server_env(env),
        check=True,
        timeout=180,
    )
    swapped = load_backend(conf["ENGINE"]).DatabaseWrapper({**copy.deepcopy(conf), "NAME": str(path)}, "default")
    connections["default"] = swapped
    try:
        yield env
    finally:
        swapped.close()
        connections["default"] = current


def server_env(extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "interviewsvc.test_settings",
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            "DATABASE_POOL_MIN_SIZE": "1",
            **extra,
        }
    )
    return env


@contextmanager
def daphne(env: dict, log_path: Path):
    """A daphne process serving the project on a free loopback port; yields its base URL."""
    with daphne_process(env, log_path) as (base, _):
        yield base


@contextmanager
def daphne_process(env: dict, log_path: Path):
    """Like :func:`daphne`, yielding ``(base URL, the Popen)`` (its pid, to watch its memory)."""
    port = free_port()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "interviewsvc.asgi:application"],
            cwd=BASE_DIR,
            env=server_env(env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"daphne exited with {process.returncode}: {log_path.read_text()[-2000:]}")
                try:
                    with urlopen(f"{base}/health", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"daphne did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.2)
            yield base, process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
