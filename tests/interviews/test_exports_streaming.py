"""Large transcripts stream: chunked reads, bounded memory, an async iterator under ASGI."""

import csv
import io
import json
import tracemalloc
import zipfile

import pytest
from asgiref.sync import async_to_sync
from django.http import StreamingHttpResponse
from django.test import AsyncClient

from accounts.serializers import TokenObtainSerializer
from interviews.exports.streaming import async_chunks
from interviews.models import InterviewMessage
from tests.factories import InterviewFactory, add_messages

pytestmark = pytest.mark.django_db

MESSAGES = 2_000


@pytest.fixture
def big_interview(employee):
    interview = InterviewFactory(employee=employee)
    add_messages(interview, MESSAGES)
    return interview


def test_large_transcript_is_a_stream_of_many_chunks(client_for, staff, big_interview):
    response = client_for(staff).get(f"/api/v1/interviews/{big_interview.id}/export", {"format": "json"})
    assert isinstance(response, StreamingHttpResponse)
    assert not response.has_header("Content-Length")
    chunks = list(response.streaming_content)
    assert len(chunks) > 1
    assert max(len(c) for c in chunks) < 100 * 1024
    history = json.loads(b"".join(chunks))["conversation_history"]
    assert [t["sequence_number"] for t in history] == list(range(1, MESSAGES + 1))
    assert history[-1]["content"] == f"message {MESSAGES}"


@pytest.mark.parametrize("fmt", ["json", "csv", "md", "txt"])
def test_text_export_memory_stays_below_the_transcript_size(client_for, staff, employee, fmt):
    interview = InterviewFactory(employee=employee)
    add_messages(interview, MESSAGES)
    # ~4 KB per message: an 8 MB transcript.
    InterviewMessage.objects.filter(interview=interview).update(content="ñandú ¿sí? " * 360)
    client = client_for(staff)
    tracemalloc.start()
    try:
        response = client.get(f"/api/v1/interviews/{interview.id}/export", {"format": fmt})
        total = sum(len(chunk) for chunk in response.streaming_content)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total > 8_000_000
    # Rows are read 500 at a time (~2 MB here) and written 64 KB at a time: loading the whole
    # transcript would peak above ``total``.
    assert peak < total / 2, (peak, total)


def test_under_asgi_the_response_iterates_asynchronously(staff, big_interview):
    token = f"Bearer {TokenObtainSerializer.get_token(staff).access_token}"

    async def fetch(path, **query):
        response = await AsyncClient().get(path, query, headers={"Authorization": token})
        assert isinstance(response, StreamingHttpResponse)
        # Django only streams an ASGI response without buffering when its iterator is async.
        assert response.is_async
        return [chunk async for chunk in response.streaming_content]

    # Run in this thread's event loop so the ORM's thread-sensitive calls share the test transaction.
    chunks = async_to_sync(fetch)(f"/api/v1/interviews/{big_interview.id}/export", format="csv")
    assert len(chunks) > 1
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode("utf-8-sig"), newline="")))
    assert [int(r["sequence_number"]) for r in rows] == list(range(1, MESSAGES + 1))

    chunks = async_to_sync(fetch)("/api/v1/interviews/export", format="json")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.namelist() == [f"interview-{big_interview.id}.json"]
    assert len(json.loads(archive.read(archive.namelist()[0]))["conversation_history"]) == MESSAGES


def test_async_chunks_batches_and_closes_the_source():
    closed = []

    def source():
        try:
            for n in range(10):
                yield bytes([n]) * 30
        finally:
            closed.append(True)

    async def consume(limit=None):
        out = []
        stream = async_chunks(source(), batch_bytes=100)
        async for chunk in stream:
            out.append(chunk)
            if limit and len(out) == limit:
                await stream.aclose()
                break
        return out

    chunks = async_to_sync(consume)()
    assert [len(c) for c in chunks] == [120, 120, 60]
    assert b"".join(chunks) == b"".join(bytes([n]) * 30 for n in range(10))
    assert closed == [True]
    # A client that goes away early: the source generator (and its DB cursor) is closed too.
    assert len(async_to_sync(consume)(limit=1)) == 1
    assert closed == [True, True]
