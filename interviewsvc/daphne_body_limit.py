"""daphne refuses a request body over ``MAX_REQUEST_BODY_BYTES`` while it arrives, not after.

Twisted reads a whole request body (into a temporary file) before daphne sees the request, and
daphne then copies all of it into the application's queue, in memory, at once: an
unauthenticated 300 MB POST grew daphne by 200 MB, for good. No ASGI application can prevent
that. Here daphne's request refuses such a body as soon as its size is known: a
``Content-Length`` over the limit once the headers are in (no ``100 Continue`` is sent), a
chunked body the moment it passes the limit. The client gets the 413 envelope at once
(interviewsvc/asgi_limits.py builds it) and the connection is half-closed; whatever it still
sends is read and dropped, so it sees the answer rather than a reset, for at most
``LINGER_SECONDS``, and then the connection is closed.

It relies on twisted's ``Request.gotLength``/``handleContentChunk``/``requestReceived``, called
by ``HTTPChannel`` for each HTTP/1.1 request, and on daphne's ``HTTPFactory.buildProtocol``
looking ``WebRequest`` up by name; :func:`install` checks both and refuses to start otherwise.
tests/test_body_limits.py pins the daphne and Twisted versions this was verified with and
checks the behaviour against a real daphne. HTTP/2 (daphne behind TLS with ALPN) is not
covered: the service is served as HTTP/1.1 behind nginx (docs/operations.md).
"""

import logging

from django.conf import settings
from structlog.contextvars import bound_contextvars

from interviewsvc.asgi_limits import payload_too_large
from interviewsvc.compat import guard
from interviewsvc.logging import request_id_from

guard(__name__)  # daphne's and Twisted's version ranges: interviewsvc/compat.py

logger = logging.getLogger("interviewsvc.limits")

LINGER_SECONDS = 10.0
STATUS_LINE = b"HTTP/1.1 413 Content Too Large\r\n"


def _drop(data: bytes) -> None:
    """What a refused connection does with the rest of the body."""


def _limited(web_request):
    class BodyLimitedWebRequest(web_request):
        limits_body = True
        _body_refused = False
        _body_received = 0
        _linger = None

        def gotLength(self, length):  # noqa: N802 - twisted's names
            if length is not None and length > settings.MAX_REQUEST_BODY_BYTES:
                super().gotLength(0)  # an empty content file: nothing of the body is kept
                self._refuse_body(length)
            else:
                super().gotLength(length)

        def handleContentChunk(self, data):  # noqa: N802
            if self._body_refused:
                return
            self._body_received += len(data)
            if self._body_received > settings.MAX_REQUEST_BODY_BYTES:
                self._refuse_body(None)
                return
            super().handleContentChunk(data)

        def requestReceived(self, command, path, version):  # noqa: N802
            if not self._body_refused:  # a refused request never reaches the application
                super().requestReceived(command, path, version)

        def connectionLost(self, reason):  # noqa: N802
            if self._linger is not None and self._linger.active():
                self._linger.cancel()
            super().connectionLost(reason)

        def _refuse_body(self, length: int | None) -> None:
            self._body_refused = True
            channel = self.channel
            transport = channel.transport
            # HTTPChannel answers "Expect: 100-continue" right after gotLength: not for this body.
            self.requestHeaders.removeHeader(b"expect")
            incoming_id = (self.requestHeaders.getRawHeaders(b"x-request-id") or [b""])[0]
            request_id = request_id_from(incoming_id.decode("latin-1"))
            headers, body = payload_too_large(request_id)
            head = b"".join(name + b": " + value + b"\r\n" for name, value in [*headers, (b"connection", b"close")])
            transport.write(STATUS_LINE + head + b"\r\n" + body)
            # The rest of the body is neither parsed nor stored (instance attributes, as twisted
            # itself silences a connection that is not persistent).
            channel.dataReceived = channel.rawDataReceived = _drop
            close_write = getattr(transport, "loseWriteConnection", None)
            if close_write is not None:
                close_write()  # after the 413 is flushed: the client reads it, then end of stream
            abort = getattr(transport, "abortConnection", transport.loseConnection)
            self._linger = channel.callLater(LINGER_SECONDS, abort)
            with bound_contextvars(request_id=request_id):
                logger.info(
                    "413: request body over the limit of %s bytes (%s) from %s",
                    settings.MAX_REQUEST_BODY_BYTES,
                    "chunked" if length is None else f"Content-Length {length}",
                    getattr(transport.getPeer(), "host", "?"),
                )

    BodyLimitedWebRequest.__name__ = BodyLimitedWebRequest.__qualname__ = "BodyLimitedWebRequest"
    return BodyLimitedWebRequest


def install() -> None:
    """Make daphne's HTTP protocol build requests that enforce the body limit (idempotent)."""
    try:
        from daphne import http_protocol
    except ImportError:  # not served by daphne
        return
    if getattr(http_protocol.WebRequest, "limits_body", False):
        return
    from twisted.web.http import HTTPChannel, Request

    needed = ("gotLength", "handleContentChunk", "requestReceived", "connectionLost")
    problems = [
        *(f"twisted Request.{name} is missing" for name in needed if not hasattr(Request, name)),
        *(
            f"HTTPChannel.{name} is missing"
            for name in ("dataReceived", "rawDataReceived")
            if not hasattr(HTTPChannel, name)
        ),
    ]
    if not issubclass(http_protocol.WebRequest, Request):
        problems.append("daphne's WebRequest is no longer a twisted Request")
    if "WebRequest" not in http_protocol.HTTPFactory.buildProtocol.__code__.co_names:
        problems.append("daphne's HTTPFactory.buildProtocol no longer builds WebRequest by name")
    if problems:
        raise RuntimeError(
            "interviewsvc.daphne_body_limit cannot enforce MAX_REQUEST_BODY_BYTES with this daphne/Twisted: "
            + "; ".join(problems)
        )
    http_protocol.WebRequest = _limited(http_protocol.WebRequest)
