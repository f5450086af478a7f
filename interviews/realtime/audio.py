"""Spoken answers: audio chunks buffered per socket until ``is_final``, then transcribed; and
questions spoken aloud when a text-to-speech provider is configured. Both wait on the network
on the event loop (``interviews.engine.speech``)."""

import base64
import binascii

from interviews.exceptions import VoiceUnavailable
from interviews.realtime.limits import MAX_AUDIO_BYTES, InvalidFrame


def decode(chunk_data: str) -> bytes:
    try:
        return base64.b64decode(chunk_data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidFrame("chunk_data is not valid base64.")


class AudioBuffer:
    def __init__(self):
        self.data = bytearray()

    def add(self, chunk: bytes) -> None:
        if len(self.data) + len(chunk) > MAX_AUDIO_BYTES:
            self.data.clear()
            raise InvalidFrame(f"The audio of one answer may not exceed {MAX_AUDIO_BYTES} bytes; start again.")
        self.data += chunk

    def take(self) -> bytes:
        audio, self.data = bytes(self.data), bytearray()
        if not audio:
            raise InvalidFrame("No audio was sent before is_final.")
        return audio

    def clear(self) -> None:
        self.data.clear()


def _speech():
    try:
        from interviews.engine import speech
    except ImportError as exc:
        raise VoiceUnavailable() from exc
    return speech


async def transcribe(audio: bytes, language: str) -> str:
    return await _speech().transcribe(audio, language)


async def synthesize(text: str, language: str) -> bytes:
    return await _speech().synthesize(text, language)


def base64_of(spoken: bytes) -> str:
    return base64.b64encode(spoken).decode("ascii")
