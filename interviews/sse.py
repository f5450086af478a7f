"""REST turns as Server-Sent Events (docs/api.md, "Streaming turns (SSE)").

``POST interviews/start`` and ``interviews/continue`` with ``Accept: text/event-stream``: the
view validates and runs step 1 of the turn as usual (errors until then are JSON envelopes), lets
its database connection go, and answers ``200 text/event-stream`` with :func:`turn_events`:
``answer_received`` (continue), ``question_delta`` / ``question_reset`` as the interviewer
writes, then ``result`` (the envelope the plain call returns) or a last ``error`` (the error
envelope). The turn runs detached from the response: a client that leaves mid-stream loses
nothing, and a retry with the same ``client_message_id`` gets the stored result.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace

from django.http import StreamingHttpResponse
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer

from interviews.services.turns import Result, TurnJob, TurnWait, db_async, turn_continue, turn_spawn

CONTENT_TYPE = "text/event-stream"


class EventStreamRenderer(BaseRenderer):
    """Lets content negotiation accept ``text/event-stream`` on the turn endpoints; the views
    answer it with a :func:`response` (errors before the stream starts are JSON)."""

    media_type = CONTENT_TYPE
    format = "sse"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


class AcceptHeaderNegotiation(DefaultContentNegotiation):
    """The Accept header alone picks JSON or events (``?format=…`` would 404 on an unknown value)."""

    settings = SimpleNamespace(URL_FORMAT_OVERRIDE=None)


def wanted(request) -> bool:
    return getattr(request, "accepted_renderer", None) is not None and request.accepted_renderer.format == "sse"


def event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


def _payload(frame: dict) -> dict:
    return {key: value for key, value in frame.items() if key != "type"}


async def turn_events(
    begun: TurnJob | TurnWait | None,
    *,
    opening: list[dict],
    render: Callable[[Result], dict],
    fail: Callable[[BaseException], dict],
) -> AsyncIterator[str]:
    for frame in opening:
        yield event(frame["type"], _payload(frame))
    if begun is None:  # nothing left to do: the turn was answered before
        yield event("result", render(None))
        return
    queue: asyncio.Queue = asyncio.Queue()
    task = turn_spawn(turn_continue(begun, db=db_async, listener=queue.put_nowait))
    while True:
        getter = asyncio.ensure_future(queue.get())
        await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            break
        frame = getter.result()
        yield event(frame["type"], _payload(frame))
    while not queue.empty():
        frame = queue.get_nowait()
        yield event(frame["type"], _payload(frame))
    try:
        result = task.result()
    except Exception as exc:
        yield event("error", fail(exc))
        return
    yield event("result", render(result))


def response(events: AsyncIterator[str]) -> StreamingHttpResponse:
    stream = StreamingHttpResponse(events, content_type=f"{CONTENT_TYPE}; charset=utf-8")
    stream["Cache-Control"] = "no-cache"
    stream["X-Accel-Buffering"] = "no"  # nginx: pass events through as they come
    return stream
