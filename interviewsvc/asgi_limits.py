"""The request body limit, enforced while the body is read (ASGI, in front of Django).

Django's ``ASGIHandler`` reads a whole body into a temporary file before any middleware runs,
so a limit checked in middleware comes after the cost, and a chunked body (no
``Content-Length``) escaped it. :class:`BodySizeLimit` wraps the HTTP application instead: a
``Content-Length`` over ``MAX_REQUEST_BODY_BYTES`` is answered 413 without reading a byte of
the body; any other body is read here, counted as it arrives, and refused with 413 as soon as
it passes the limit, or handed to the application whole (at most the limit is ever held).

Under daphne the server itself refuses first, before it buffers anything
(interviewsvc/daphne_body_limit.py); this layer holds under any ASGI server.
"""

import json

from django.conf import settings

from interviewsvc.api import error_body
from interviewsvc.logging import request_id_from


class _RequestId:
    """What :func:`interviewsvc.api.error_body` needs of a request: its id."""

    def __init__(self, request_id: str):
        self.request_id = request_id


def payload_too_large(request_id: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body of the 413 envelope for the request ``request_id`` (:func:`request_id_from`)."""
    limit = settings.MAX_REQUEST_BODY_BYTES
    envelope = error_body(
        _RequestId(request_id),
        status=413,
        error_code="payload_too_large",
        message=f"Request body is larger than the limit of {limit} bytes.",
    )
    body = json.dumps(envelope).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
        (b"x-content-type-options", b"nosniff"),
    ]
    return headers, body


def declared_length(headers) -> int | None:
    """The ``Content-Length`` of ASGI ``headers``, or None when absent or not a number."""
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _header(headers, wanted: bytes) -> str:
    for name, value in headers:
        if name.lower() == wanted:
            return value.decode("latin-1")
    return ""


class BodySizeLimit:
    """ASGI middleware: HTTP bodies over ``MAX_REQUEST_BODY_BYTES`` get 413, read no further."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = settings.MAX_REQUEST_BODY_BYTES
        length = declared_length(scope["headers"])
        if length is not None and length > limit:
            return await self._refuse(scope, send)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before the body was complete: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return await self._refuse(scope, send)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break

        body_sent = False

        async def replay():
            # The body once, whole; then the connection's own messages (http.disconnect).
            nonlocal body_sent
            if body_sent:
                return await receive()
            body_sent = True
            body = b"".join(chunks)
            chunks.clear()
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope, send) -> None:
        headers, body = payload_too_large(request_id_from(_header(scope["headers"], b"x-request-id")))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
