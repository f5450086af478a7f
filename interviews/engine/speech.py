"""Speech: ``transcribe`` (speech-to-text) and ``synthesize`` (text-to-speech).

``STT_PROVIDER`` / ``TTS_PROVIDER`` = ``openai`` (any OpenAI-compatible ``/audio/transcriptions``
and ``/audio/speech`` endpoints, at ``SPEECH_BASE_URL`` or else ``OPENAI_BASE_URL``) or empty.
Not configured: :class:`VoiceUnavailable` (``voice_unavailable``). Configured but failing:
:class:`SpeechFailed` after the SDK's one retry.

Both are coroutines on one :class:`openai.AsyncOpenAI` client per event loop, reused across
calls (rebuilt when the speech settings change). Each call, its retry included, is bounded by
``2 * OPENAI_TIMEOUT_SECONDS + 2`` seconds, so a server trickling bytes cannot hold it.
"""

import asyncio

import openai
from django.conf import settings

from interviews.engine.openai_chat import LoopClients, http_client
from interviews.exceptions import VoiceUnavailable

SUPPORTED = ("openai",)
# Magic bytes → file name: the server picks the decoder from the upload's extension.
_SIGNATURES = (
    (b"\x1a\x45\xdf\xa3", "answer.webm"),
    (b"OggS", "answer.ogg"),
    (b"fLaC", "answer.flac"),
    (b"ID3", "answer.mp3"),
    (b"\xff\xfb", "answer.mp3"),
    (b"\xff\xf3", "answer.mp3"),
    (b"\xff\xf2", "answer.mp3"),
)


class SpeechFailed(Exception):
    """The speech server could not be reached or refused the request."""


def audio_filename(audio: bytes) -> str:
    if audio[:4] == b"RIFF" and audio[8:12] == b"WAVE":
        return "answer.wav"
    if audio[4:8] == b"ftyp":
        return "answer.m4a"
    for signature, name in _SIGNATURES:
        if audio.startswith(signature):
            return name
    return "answer.webm"  # what browsers' MediaRecorder produces by default


_clients = LoopClients()


def _limit() -> float:
    """The most one call may take: two attempts and the SDK's back-off between them."""
    return 2 * float(settings.OPENAI_TIMEOUT_SECONDS) + 2


def _client(setting: str) -> openai.AsyncOpenAI:
    provider = (getattr(settings, setting) or "").strip().lower()
    if not provider:
        raise VoiceUnavailable()
    if provider not in SUPPORTED:
        raise VoiceUnavailable(f"{setting}={provider!r} is not supported; use one of: {', '.join(SUPPORTED)}.")
    base_url = settings.SPEECH_BASE_URL or settings.OPENAI_BASE_URL
    api_key = settings.SPEECH_API_KEY or settings.OPENAI_API_KEY
    if not (base_url or api_key):
        raise VoiceUnavailable(f"{setting} is set but no speech server is configured (SPEECH_BASE_URL).")
    config = (base_url or None, api_key or "unused", float(settings.OPENAI_TIMEOUT_SECONDS))
    return _clients.get(
        config,
        lambda: openai.AsyncOpenAI(
            api_key=config[1],
            base_url=config[0],
            timeout=config[2],
            max_retries=1,
            http_client=http_client(config[2]),
        ),
        grace=_limit() + 1,
    )


def client() -> openai.AsyncOpenAI | None:
    """This event loop's speech client, if one was built (for tests and diagnostics)."""
    return _clients.current()


async def close_client() -> None:
    """Close this event loop's speech client (e.g. at ASGI shutdown; tests call it at teardown)."""
    await _clients.aclose()


async def transcribe(audio: bytes, language: str) -> str:
    """The text spoken in ``audio`` (``language``: the interview's ``es``/``en``)."""
    api = _client("STT_PROVIDER")
    try:
        async with asyncio.timeout(_limit()):
            result = await api.audio.transcriptions.create(
                file=(audio_filename(audio), audio),
                model=settings.STT_MODEL,
                language=language,
                response_format="json",
            )
    except TimeoutError as exc:
        raise SpeechFailed(f"transcription failed: no reply within {_limit()} s") from exc
    except openai.OpenAIError as exc:
        raise SpeechFailed(f"transcription failed: {exc}") from exc
    text = result if isinstance(result, str) else getattr(result, "text", None)
    if not isinstance(text, str):
        raise SpeechFailed("transcription reply has no text")
    return text.strip()


async def synthesize(text: str, language: str) -> bytes:
    """``text`` spoken aloud (MP3). The voices read the language of the text; ``language`` is kept
    in the signature for providers that need it."""
    api = _client("TTS_PROVIDER")
    try:
        async with asyncio.timeout(_limit()):
            response = await api.audio.speech.create(
                model=settings.TTS_MODEL, voice=settings.TTS_VOICE, input=text, response_format="mp3"
            )
            audio = await response.aread()
    except TimeoutError as exc:
        raise SpeechFailed(f"speech synthesis failed: no reply within {_limit()} s") from exc
    except openai.OpenAIError as exc:
        raise SpeechFailed(f"speech synthesis failed: {exc}") from exc
    if not audio:
        raise SpeechFailed("speech synthesis returned no audio")
    return audio
