"""Speech-to-text and text-to-speech against a real local OpenAI-compatible audio server.

``transcribe`` and ``synthesize`` are coroutines on one shared client per event loop.
"""

import json

import pytest

from interviews.engine import speech
from interviews.exceptions import VoiceUnavailable
from tests.interviews import engine_support
from tests.interviews.engine_support import Reply, error

fake_openai = engine_support.fake_openai

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 28
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" * 16


@pytest.fixture
async def voice(settings, fake_openai):
    settings.STT_PROVIDER = "openai"
    settings.TTS_PROVIDER = "openai"
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.OPENAI_API_KEY = "sk-voice"
    settings.SPEECH_BASE_URL = ""
    settings.SPEECH_API_KEY = ""
    settings.OPENAI_TIMEOUT_SECONDS = 2.0
    yield fake_openai
    await speech.close_client()


@pytest.mark.parametrize("function", [speech.transcribe, speech.synthesize])
async def test_without_a_provider_voice_is_unavailable(settings, fake_openai, function):
    settings.STT_PROVIDER = ""
    settings.TTS_PROVIDER = ""
    settings.OPENAI_BASE_URL = fake_openai.base_url
    with pytest.raises(VoiceUnavailable) as excinfo:
        await function(WAV if function is speech.transcribe else "Hola", "es")
    assert excinfo.value.error_code == "voice_unavailable"
    assert fake_openai.requests == []


async def test_an_unsupported_provider_says_so(settings):
    settings.STT_PROVIDER = "google"
    with pytest.raises(VoiceUnavailable, match="STT_PROVIDER='google' is not supported"):
        await speech.transcribe(WAV, "es")


async def test_a_provider_without_a_server_is_unavailable(settings):
    settings.TTS_PROVIDER = "openai"
    settings.SPEECH_BASE_URL = settings.SPEECH_API_KEY = settings.OPENAI_BASE_URL = settings.OPENAI_API_KEY = ""
    with pytest.raises(VoiceUnavailable, match="no speech server"):
        await speech.synthesize("Hola", "es")


async def test_transcribe_uploads_the_audio_and_returns_the_text(voice, settings):
    settings.STT_MODEL = "whisper-test"
    voice.push(Reply(body=json.dumps({"text": "  Primero exporto las horas.  "}).encode()))
    assert await speech.transcribe(WAV, "es") == "Primero exporto las horas."
    [request] = voice.requests
    assert request.path == "/v1/audio/transcriptions"
    assert request.headers["authorization"] == "Bearer sk-voice"
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert b'filename="answer.wav"' in request.body
    assert WAV in request.body
    assert b'name="model"\r\n\r\nwhisper-test' in request.body
    assert b'name="language"\r\n\r\nes' in request.body


async def test_synthesize_returns_the_audio_bytes(voice, settings):
    settings.TTS_VOICE = "nova"
    voice.push(Reply(body=MP3, content_type="audio/mpeg"))
    assert await speech.synthesize("¿Qué herramientas usas?", "es") == MP3
    [request] = voice.requests
    assert request.path == "/v1/audio/speech"
    assert request.json == {
        "input": "¿Qué herramientas usas?",
        "model": "tts-1",
        "voice": "nova",
        "response_format": "mp3",
    }


async def test_a_separate_speech_server_is_used_when_configured(voice, settings):
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"  # the chat server; must not be called
    settings.SPEECH_BASE_URL = voice.base_url
    settings.SPEECH_API_KEY = "sk-speech"
    voice.push(Reply(body=b'{"text": "hello"}'))
    assert await speech.transcribe(MP3, "en") == "hello"
    assert voice.requests[0].headers["authorization"] == "Bearer sk-speech"
    assert b'filename="answer.mp3"' in voice.requests[0].body


async def test_a_failing_server_raises_speech_failed_after_one_retry(voice):
    voice.default = error(500)
    with pytest.raises(speech.SpeechFailed, match="transcription failed"):
        await speech.transcribe(WAV, "es")
    assert len(voice.requests) == 2


async def test_a_reply_without_text_is_a_failure(voice):
    voice.push(Reply(body=b'{"words": []}'))
    with pytest.raises(speech.SpeechFailed):
        await speech.transcribe(WAV, "es")


async def test_empty_audio_from_tts_is_a_failure(voice):
    voice.push(Reply(body=b"", content_type="audio/mpeg"))
    with pytest.raises(speech.SpeechFailed, match="no audio"):
        await speech.synthesize("Hola", "es")


async def test_a_slow_speech_server_times_out(voice, settings):
    settings.OPENAI_TIMEOUT_SECONDS = 0.3
    # No wall-clock limit (timing belongs in bench/): an attempt waiting past the timeout would
    # return "late" instead of failing.
    voice.default = Reply(body=b'{"text": "late"}', delay=1.5)
    with pytest.raises(speech.SpeechFailed):
        await speech.transcribe(WAV, "es")
    assert len(voice.requests) == 2  # the SDK's one retry


async def test_one_speech_client_per_event_loop_reused(voice):
    voice.push(Reply(body=b'{"text": "hola"}'), Reply(body=MP3, content_type="audio/mpeg"))
    assert await speech.transcribe(WAV, "es") == "hola"
    api = speech.client()
    assert await speech.synthesize("¿Qué haces?", "es") == MP3
    assert speech.client() is api
    assert voice.requests[0].peer == voice.requests[1].peer  # one kept-alive connection


@pytest.mark.parametrize(
    ("audio", "name"),
    [
        (WAV, "answer.wav"),
        (MP3, "answer.mp3"),
        (b"OggS\x00\x02", "answer.ogg"),
        (b"\x1a\x45\xdf\xa3\x9f", "answer.webm"),
        (b"\x00\x00\x00\x20ftypM4A ", "answer.m4a"),
        (b"fLaC\x00", "answer.flac"),
        (b"????", "answer.webm"),
    ],
)
def test_audio_format_is_recognised_for_the_upload_name(audio, name):
    assert speech.audio_filename(audio) == name


async def test_the_websocket_consumer_reaches_these_functions(voice):
    """The consumer awaits ``speech.transcribe``/``synthesize`` through ``realtime.audio`` (docs/realtime.md)."""
    from interviews.realtime import audio

    voice.push(Reply(body=b'{"text": "hola"}'), Reply(body=MP3, content_type="audio/mpeg"))
    assert await audio.transcribe(WAV, "es") == "hola"
    assert await audio.synthesize("¿Qué haces?", "es") == MP3
    assert [r.path for r in voice.requests] == ["/v1/audio/transcriptions", "/v1/audio/speech"]
