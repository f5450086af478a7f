"""What a client may send on a socket: frame size, rate, idleness, and the shape of each frame.

Client frames are validated by serializers built from the same fields as the REST input
(``AnswerText``, ``ClientMessageId``: same limits; NUL characters and lone surrogates are
refused by DRF's ``CharField``), so a bad frame is an ``invalid_message``, never an
``internal_error``.
"""

import time
from collections import deque

from django.conf import settings
from rest_framework import serializers

from interviews.serializers import AnswerText, ClientMessageId
from interviewsvc.api import StrictCharField, field_errors
from interviewsvc.parsers import JSONTooDeep, json_loads_bounded

RATE_WINDOW_SECONDS = 60.0
MAX_AUDIO_BYTES = 10 * 1024 * 1024  # buffered audio of one answer (about 10 minutes of Opus)


class InvalidFrame(Exception):
    """A client frame that cannot be acted on; answered with ``error`` ``invalid_message``."""


class TextAnswerFrame(serializers.Serializer):
    answer_text = AnswerText()
    question_id = StrictCharField(max_length=64, required=False, allow_null=True)
    client_message_id = ClientMessageId()


class AudioChunkFrame(serializers.Serializer):
    # Base64 of at most WS_MAX_FRAME_BYTES: the frame size limit bounds it first.
    chunk_data = StrictCharField(allow_blank=True, trim_whitespace=False)
    is_final = serializers.BooleanField(default=False)
    client_message_id = ClientMessageId()

    def validate_is_final(self, value):
        if not isinstance(self.initial_data.get("is_final", False), bool):
            raise serializers.ValidationError("Must be a boolean.")
        return value


class StrictIntegerField(serializers.IntegerField):
    """An integer field that takes only JSON integers (not "3", 3.5 or true)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class ResumeFrame(serializers.Serializer):
    after_sequence = StrictIntegerField(min_value=0, default=0)


def frame_data(serializer_class, content: dict) -> dict:
    """``content`` validated by ``serializer_class``, or :class:`InvalidFrame` saying what is wrong."""
    serializer = serializer_class(data={key: value for key, value in content.items() if key != "type"})
    if not serializer.is_valid():
        first = field_errors(serializer.errors)[0]
        raise InvalidFrame(f"{first['field']}: {first['error']}" if first.get("field") else first["error"])
    return serializer.validated_data


def frame_parse(text_data: str | None) -> dict:
    if text_data is None:
        raise InvalidFrame("Frames must be JSON text, not binary.")
    try:
        content = json_loads_bounded(text_data)
    except JSONTooDeep as exc:
        raise InvalidFrame(str(exc))
    except ValueError:
        raise InvalidFrame("The frame is not valid JSON.")
    if not isinstance(content, dict) or not isinstance(content.get("type"), str):
        raise InvalidFrame('A frame is a JSON object with a string "type".')
    return content


def frame_size(text_data: str | None, bytes_data: bytes | None) -> int:
    if text_data is not None:
        return len(text_data.encode("utf-8", "surrogatepass"))
    return len(bytes_data or b"")


class RateLimit:
    """Sliding window per socket: ``WS_RATE_LIMIT_PER_MINUTE`` frames in any 60 s.

    Refused frames count too, so a client that keeps flooding reaches twice the limit, and
    :meth:`admit` then says to close the socket (4429).
    """

    def __init__(self):
        self.times: deque[float] = deque()

    def admit(self) -> str:
        """``"ok"``, ``"refuse"`` (send ``rate_limited``) or ``"close"``."""
        now = time.monotonic()
        while self.times and now - self.times[0] >= RATE_WINDOW_SECONDS:
            self.times.popleft()
        self.times.append(now)
        limit = settings.WS_RATE_LIMIT_PER_MINUTE
        if len(self.times) <= limit:
            return "ok"
        return "close" if len(self.times) > 2 * limit else "refuse"
