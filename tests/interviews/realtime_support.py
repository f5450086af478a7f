"""Helpers for the realtime tests: sockets through the real ASGI application (origin check,
routing, session middleware included)."""

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client as DjangoClient

from accounts.serializers import TokenObtainSerializer
from interviews import services
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


async def frames(comm: WebsocketCommunicator, count: int) -> list[dict]:
    return [await comm.receive_json_from(timeout=TIMEOUT) for _ in range(count)]


async def nothing_more(comm: WebsocketCommunicator, wait: float = 0.3) -> None:
    assert await comm.receive_nothing(timeout=wait), "unexpected frame"


async def drain(comm: WebsocketCommunicator) -> list[dict]:
    out = []
    while not await comm.receive_nothing(timeout=0.3):
        out.append(await comm.receive_json_from(timeout=TIMEOUT))
    return out


def sync(fn):
    return database_sync_to_async(fn)
