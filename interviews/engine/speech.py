"""Speech: ``transcribe`` (speech-to-text) and ``synthesize`` (text-to-speech).

``STT_PROVIDER`` / ``TTS_PROVIDER`` = ``openai`` (any OpenAI-compatible ``/audio/transcriptions``
and ``/audio/speech`` endpoints, at ``SPEECH_BASE_URL`` or else ``OPENAI_BASE_URL``) or empty.
Not configured: :class:`VoiceUnavailable` (``voice_unavailable``). Configured but failing:
:class:`SpeechFailed` after the SDK's one retry.
"""

import openai
from django.conf import settings

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


def _client(setting: str) -> openai.OpenAI:
    provider = (getattr(settings, setting) or "").strip().lower()
    if not provider:
        raise VoiceUnavailable()
    if provider not in SUPPORTED:
        raise VoiceUnavailable(f"{setting}={provider!r} is not supported; use one of: {', '.join(SUPPORTED)}.")
    base_url = settings.SPEECH_BASE_URL or settings.OPENAI_BASE_URL
    api_key = settings.SPEECH_API_KEY or settings.OPENAI_API_KEY
    if not (base_url or api_key):
        raise VoiceUnavailable(f"{setting} is set but no speech server is configured (SPEECH_BASE_URL).")
    return openai.OpenAI(
        api_key=api_key or "unused",
        base_url=base_url or None,
        timeout=settings.OPENAI_TIMEOUT_SECONDS,
        max_retries=1,
    )


def transcribe(audio: bytes, language: str) -> str:
    """The text spoken in ``audio`` (``language``: the interview's ``es``/``en``)."""
    try:
        with _client("STT_PROVIDER") as api:
            result = api.audio.transcriptions.create(
                file=(audio_filename(audio), audio),
                model=settings.STT_MODEL,
                language=language,
                response_format="json",
            )
    except openai.OpenAIError as exc:
        raise SpeechFailed(f"transcription failed: {exc}") from exc
    text = result if isinstance(result, str) else getattr(result, "text", None)
    if not isinstance(text, str):
        raise SpeechFailed("transcription reply has no text")
    return text.strip()


def synthesize(text: str, language: str) -> bytes:
    """``text`` spoken aloud (MP3). The voices read the language of the text; ``language`` is kept
    in the signature for providers that need it."""
    try:
        with _client("TTS_PROVIDER") as api:
            response = api.audio.speech.create(
                model=settings.TTS_MODEL, voice=settings.TTS_VOICE, input=text, response_format="mp3"
            )
            audio = response.read()
    except openai.OpenAIError as exc:
        raise SpeechFailed(f"speech synthesis failed: {exc}") from exc
    if not audio:
        raise SpeechFailed("speech synthesis returned no audio")
    return audio
