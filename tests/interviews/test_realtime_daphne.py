"""Close codes as a client sees them under daphne (the communicator tests bypass daphne)."""

import asyncio
import json

import pytest
import websockets

from accounts.models import Role
from interviews import services
from tests.factories import ORG_A, UserFactory
from tests.interviews.realtime_support import access_token, daphne, shared_database

pytestmark = pytest.mark.django_db(transaction=True)


async def close_code_after(base: str, interview_id, token: str, frame: str) -> int:
    url = base.replace("http", "ws", 1) + f"/ws/interviews/{interview_id}/"
    async with websockets.connect(url, subprotocols=["bearer", token], origin=base) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"
        await ws.send(frame)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), timeout=10)
    return closed.value.rcvd.code


def test_frame_over_the_limit_closes_1009_under_daphne(tmp_path):
    with shared_database(tmp_path) as db_env:
        employee = UserFactory(role=Role.EMPLOYEE, organization_id=ORG_A)
        interview = services.interview_start(user=employee, language="en", technical_level="basic").interview
        with daphne({**db_env, "WS_MAX_FRAME_BYTES": "1000"}, tmp_path / "daphne.log") as base:
            frame = json.dumps({"type": "text_answer", "answer_text": "x" * 2000})
            code = asyncio.run(close_code_after(base, interview.id, access_token(employee), frame))
    assert code == 1009
