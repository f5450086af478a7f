"""File downloads that stream under both servers.

Under ASGI Django consumes a *sync* iterator of a ``StreamingHttpResponse`` by buffering it
whole (with a warning), so there the response gets an async iterator that pulls the sync
export generator a batch at a time in the request's thread (``thread_sensitive``): the ORM
cursor lives in one thread and one connection, and the event loop never blocks on the
database. Under WSGI (the test client, management tools) the sync generator is used as is.
"""

from collections.abc import AsyncIterator, Iterable

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header

from interviews.exports.formats import BUFFER_BYTES

_DONE = object()


def async_chunks(chunks: Iterable[bytes], *, batch_bytes: int = BUFFER_BYTES) -> AsyncIterator[bytes]:
    """An async iterator over a sync one, one thread hop per ~``batch_bytes`` of output."""
    iterator = iter(chunks)

    def pull():
        parts: list[bytes] = []
        size = 0
        for chunk in iterator:
            parts.append(chunk)
            size += len(chunk)
            if size >= batch_bytes:
                return b"".join(parts)
        return b"".join(parts) if parts else _DONE

    async def generate():
        try:
            while (data := await sync_to_async(pull, thread_sensitive=True)()) is not _DONE:
                if data:
                    yield data
        finally:
            # Client gone or stream finished: close the generator (and its DB cursor) in its thread.
            close = getattr(iterator, "close", None)
            if close is not None:
                await sync_to_async(close, thread_sensitive=True)()

    return generate()


def is_asgi(request) -> bool:
    return isinstance(getattr(request, "_request", request), ASGIRequest)


def file_response(request, chunks: Iterable[bytes], *, filename: str, content_type: str) -> StreamingHttpResponse:
    """A streamed attachment; the body is produced only while the client reads it."""
    body = async_chunks(chunks) if is_asgi(request) else chunks
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    # Transcripts are personal data: no shared caches, no content sniffing.
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
