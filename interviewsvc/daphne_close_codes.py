"""Let daphne send the WebSocket close codes the realtime contract uses.

daphne closes a socket through autobahn's ``sendClose``, which accepts only 1000 and the
application range 3000-4999: a consumer closing with 1009 (frame too large, docs/realtime.md) or 1013
(try again later) raised inside daphne and the client saw 1011 instead. These are registered
protocol codes (RFC 6455 §7.4.1, IANA), so for them the close frame is sent as ``sendClose``
would send it, without that check. Other servers (uvicorn, the test communicator) need nothing.
"""

from interviewsvc.compat import guard

guard(__name__)  # daphne's version range: interviewsvc/compat.py

PROTOCOL_CLOSE_CODES = frozenset({1001, 1008, 1009, 1011, 1012, 1013})


def allow_protocol_close_codes() -> None:
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # not served by daphne
        return
    original = WebSocketProtocol.serverClose
    if getattr(original, "allows_protocol_codes", False):
        return

    def serverClose(self, code=None):  # noqa: N802 - daphne's name
        if code in PROTOCOL_CLOSE_CODES:
            self.sendCloseFrame(code=code, isReply=False)
        else:
            original(self, code)

    serverClose.allows_protocol_codes = True
    WebSocketProtocol.serverClose = serverClose
