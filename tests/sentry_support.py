"""A local HTTP server standing in for Sentry's ingest endpoint: the DSN
``http://key@127.0.0.1:<port>/1`` sends it envelopes, which it keeps, decompressed."""

import gzip
import json
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SentryIngest:
    def __init__(self):
        self.bodies: list[bytes] = []
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                ingest.bodies.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.dsn = f"http://publickey@127.0.0.1:{self.server.server_address[1]}/1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict]:
        """The error events received so far (envelope items of type ``event``)."""
        out = []
        for body in self.bodies:
            lines = body.split(b"\n")
            for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                if json.loads(header).get("type") == "event":
                    out.append(json.loads(payload))
        return out

    def wait_for_events(self, count: int, timeout: float = 30) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(events := self.events()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(events)} event(s) arrived, expected {count}: {self.bodies!r}")
            time.sleep(0.05)
        return events

    def raw(self) -> bytes:
        return b"\n".join(self.bodies)
