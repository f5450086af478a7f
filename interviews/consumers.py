"""The interview stream: one WebSocket per interview (``shared/contract/REALTIME.md``).

The consumer does no ORM work: everything that touches the database goes through
``interviews.stream`` (selectors, the REST permission check) and ``interviews.services`` (the one
write path) via ``database_sync_to_async``. It never sends a frame about a write itself: the
services publish frames to the group ``interview.<id>`` after commit and every socket of the
interview, on any process, forwards them from there (``interview_frames``). So a REST
``continue``, an admin status change and a socket answer look the same on every open socket.

Who receives what:

- observers (staff and admins in scope) receive every frame published for the interview;
- the participant receives the same, except a ``message`` frame that repeats an
  ``answer_received`` or ``question`` of the same batch (the same message, twice);
  ``message`` frames with nothing else about them (e.g. a system note) still reach it.

Per socket: frames above ``WS_MAX_FRAME_BYTES`` close it with 1009; more than
``WS_RATE_LIMIT_PER_MINUTE`` client frames in any 60 s get ``rate_limited`` and are dropped, and
twice that closes it with 4429; no client frame for ``WS_IDLE_TIMEOUT_SECONDS`` closes it with 4408.

Faults (docs/operations.md, "Faults"): while the database is unreachable, a frame that needs it
gets ``error`` ``service_unavailable`` and the socket stays open (a resent answer with the same
``client_message_id`` is then stored once), and a handshake is closed with 1013 (try again
later). While Redis restarts, the layer (``interviewsvc.channel_layer``) keeps the socket and
rejoins the group; ``layer_reconnected`` then sends, as ``message`` frames, every message stored
after the last one this socket was sent (and the status if it changed), so nothing persisted is
missed.
"""

import asyncio
import base64
import binascii
import json
import logging
import time
import uuid
from collections import deque
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from interviews import services, stream, tickets
from interviews.events import group_name
from interviews.exceptions import InterviewAccessDenied, InterviewNotFound, VoiceUnavailable
from interviewsvc.errors import ServiceError, backend_unavailable
from interviewsvc.logging import bind_interview, bind_request, bind_user, request_id_from

logger = logging.getLogger("interviews.consumers")

CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_IDLE = 4408
CLOSE_RATE_LIMITED = 4429
CLOSE_TOO_LARGE = 1009
CLOSE_TRY_AGAIN_LATER = 1013

# Query parameters that would carry a credential in the URL (and so in access logs).
CREDENTIAL_PARAMS = {"token", "access_token", "jwt", "access", "authorization", "bearer"}
RATE_WINDOW_SECONDS = 60.0
MAX_AUDIO_BYTES = 10 * 1024 * 1024  # buffered audio of one answer (about 10 minutes of Opus)
CLIENT_MESSAGE_ID_MAX = 64
# The in-memory layer forgets group members after a day (group_expiry); long-lived sockets
# rejoin hourly. On Redis pub/sub, membership does not expire and rejoining changes nothing.
GROUP_RENEW_SECONDS = 3600.0


class InvalidFrame(Exception):
    """A client frame that cannot be acted on; answered with ``error`` ``invalid_message``."""


class InterviewConsumer(AsyncJsonWebsocketConsumer):
    async def dispatch(self, message: dict) -> None:
        """Channels' dispatch without its ``aclose_old_connections()`` before every message.

        That call hops to the process's one thread-sensitive thread for every frame and every
        group event, so all sockets of a process queued behind each other for it (about a
        tenth of the stream's CPU in the benchmark). It guards ORM work done in the handler's
        own thread; this consumer does none: every query runs in ``database_sync_to_async``,
        which closes old connections before and after in the thread that uses them.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.role: str | None = None  # set once the socket is open; None means "not serving"
        self.interview_id: uuid.UUID | None = None
        self.group: str | None = None
        self.language = "es"
        self.last_activity = time.monotonic()
        self.frame_times: deque[float] = deque()
        self.audio = bytearray()
        self.idle_task: asyncio.Task | None = None
        self.sent_sequence = 0  # the highest sequence number this socket has been sent
        self.sent_status = ""  # the interview status this socket was last told
        # Log lines of this socket carry its own id (the handshake's X-Request-ID when valid).
        headers = dict(self.scope.get("headers") or [])
        bind_request(request_id_from(headers.get(b"x-request-id", b"").decode("latin1")))

        offered = list(self.scope.get("subprotocols") or [])
        # Accept first, then close with the contract's code: a handshake refused before accept
        # reaches the client as a bare HTTP 403 and the reason would be lost. A client that
        # offered ``bearer`` must get it back or browsers fail the connection.
        await self.accept("bearer" if offered[:1] == ["bearer"] else None)

        raw_id = str(self.scope["url_route"]["kwargs"].get("interview_id", ""))
        try:
            interview_id = uuid.UUID(raw_id)
        except ValueError:
            interview_id = None

        try:
            opening = await self._open(offered, interview_id)
        except InterviewNotFound:
            opening = CLOSE_NOT_FOUND
        except InterviewAccessDenied:
            opening = CLOSE_FORBIDDEN
        except Exception as exc:
            if not backend_unavailable(exc):
                raise
            logger.warning("socket refused, backend unavailable: %s", exc)
            opening = CLOSE_TRY_AGAIN_LATER
        if isinstance(opening, int):
            await self._shut(opening)
            return

        self.interview_id = interview_id
        self.role = opening.role
        self.language = opening.language
        self.sent_sequence = opening.last_sequence
        self.sent_status = opening.interview["status"]
        self.last_activity = time.monotonic()
        await self.send_json(
            {
                "type": "connected",
                "interview": opening.interview,
                "role": opening.role,
                "last_sequence": opening.last_sequence,
            }
        )
        self.idle_task = asyncio.create_task(self._watch_idle())

    async def _open(self, offered: list[str], interview_id: uuid.UUID | None) -> "stream.SocketOpening | int":
        """What the ``connected`` frame says, or the close code of a refused credential or id."""
        user = await self._authenticate(offered, interview_id)
        if user is None:
            return CLOSE_NOT_AUTHENTICATED
        if interview_id is None:
            return CLOSE_NOT_FOUND
        bind_user(user)
        bind_interview(interview_id)
        # Join the group before reading ``last_sequence``: an event committed in between is
        # then queued for this socket rather than lost. Nothing is forwarded until ``role`` is set.
        self.group = group_name(interview_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        return await database_sync_to_async(stream.socket_open)(user=user, interview_id=interview_id)

    async def _authenticate(self, offered: list[str], interview_id: uuid.UUID | None):
        """The user behind this handshake, or None. Ticket, then ``bearer`` pair, then session."""
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        if CREDENTIAL_PARAMS & {name.lower() for name in query}:
            return None  # a JWT in the URL is refused outright, even next to valid credentials
        if "ticket" in query:
            if interview_id is None:
                return None
            return await database_sync_to_async(tickets.ticket_redeem)(
                ticket=query["ticket"][0], interview_id=interview_id
            )
        if offered[:1] == ["bearer"]:
            if len(offered) != 2:
                return None
            return await database_sync_to_async(stream.socket_user_from_bearer)(offered[1])
        user = self.scope.get("user")
        if user is not None and user.is_authenticated and user.is_active:
            return user
        return None

    async def _shut(self, code: int) -> None:
        self.role = None
        await self.close(code=code)

    async def disconnect(self, code) -> None:
        self.role = None
        if self.idle_task is not None:
            self.idle_task.cancel()
        if self.group is not None:
            try:
                await self.channel_layer.group_discard(self.group, self.channel_name)
            except Exception:  # Redis away: the socket has left the group; only Redis' subscription stays
                logger.warning("could not leave group %s", self.group, exc_info=True)

    async def _watch_idle(self) -> None:
        """Close idle sockets (4408); renew the group membership, which the in-memory layer expires."""
        timeout = settings.WS_IDLE_TIMEOUT_SECONDS
        renewed = time.monotonic()
        while self.role is not None:
            now = time.monotonic()
            remaining = self.last_activity + timeout - now
            if remaining <= 0:
                await self._shut(CLOSE_IDLE)
                return
            if now - renewed >= GROUP_RENEW_SECONDS:
                try:
                    await self.channel_layer.group_add(self.group, self.channel_name)
                    renewed = now
                except Exception:  # Redis away: the layer rejoins when it is back; try again later
                    logger.warning("could not renew group %s", self.group, exc_info=True)
            await asyncio.sleep(min(remaining, GROUP_RENEW_SECONDS))

    # --- client → server ------------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        if self.role is None:
            return
        size = len(text_data.encode("utf-8")) if text_data is not None else len(bytes_data or b"")
        if size > settings.WS_MAX_FRAME_BYTES:
            await self._shut(CLOSE_TOO_LARGE)
            return
        self.last_activity = time.monotonic()
        if not await self._admit():
            return
        try:
            content = self._parse(text_data)
            handler = self.HANDLERS.get(content["type"])
            if handler is None:
                raise InvalidFrame(f"Unknown message type {content['type']!r}.")
            await handler(self, content)
        except InvalidFrame as exc:
            await self.send_error("invalid_message", str(exc))
        except Exception as exc:  # say what went wrong, keep the socket
            await self._send_failure(exc, "The request could not be processed; try again.")

    @staticmethod
    def _parse(text_data: str | None) -> dict:
        if text_data is None:
            raise InvalidFrame("Frames must be JSON text, not binary.")
        try:
            content = json.loads(text_data)
        except ValueError:
            raise InvalidFrame("The frame is not valid JSON.")
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            raise InvalidFrame('A frame is a JSON object with a string "type".')
        return content

    async def _admit(self) -> bool:
        """Sliding-window rate limit per socket; refused frames count too, so flooding ends in 4429."""
        now = time.monotonic()
        while self.frame_times and now - self.frame_times[0] >= RATE_WINDOW_SECONDS:
            self.frame_times.popleft()
        self.frame_times.append(now)
        limit = settings.WS_RATE_LIMIT_PER_MINUTE
        if len(self.frame_times) <= limit:
            return True
        if len(self.frame_times) > 2 * limit:
            await self._shut(CLOSE_RATE_LIMITED)
        else:
            await self.send_error("rate_limited", f"More than {limit} messages a minute; slow down.")
        return False

    async def on_ping(self, content: dict) -> None:
        await self.send_json({"type": "pong"})

    async def on_text_answer(self, content: dict) -> None:
        if not await self._may_answer():
            return
        answer = content.get("answer_text")
        if not isinstance(answer, str) or not answer.strip():
            raise InvalidFrame("answer_text must be a non-empty string.")
        if len(answer.strip()) > settings.MAX_MESSAGE_CHARS:
            raise InvalidFrame(f"answer_text is longer than {settings.MAX_MESSAGE_CHARS} characters.")
        question_id = content.get("question_id")
        if question_id is not None and not isinstance(question_id, str):
            raise InvalidFrame("question_id must be a string.")
        await self._answer(answer.strip(), self._client_message_id(content))

    @staticmethod
    def _client_message_id(content: dict) -> str | None:
        value = content.get("client_message_id")
        if value is None:
            return None
        if not isinstance(value, str) or not value or len(value) > CLIENT_MESSAGE_ID_MAX:
            raise InvalidFrame(f"client_message_id must be a string of 1 to {CLIENT_MESSAGE_ID_MAX} characters.")
        return value

    async def _may_answer(self) -> bool:
        if self.role != stream.PARTICIPANT:
            await self.send_error("read_only", "Observers cannot answer; only the interviewee may.")
            return False
        return True

    async def _answer(self, answer: str, client_message_id: str | None) -> None:
        """One turn through the REST write path; its frames arrive through the group after commit."""
        try:
            # Off the process's shared sync thread: a turn waits for the interviewer engine
            # (possibly seconds), and every other socket's database work would queue behind it.
            result = await database_sync_to_async(services.interview_continue, thread_sensitive=False)(
                interview_id=self.interview_id, answer=answer, client_message_id=client_message_id
            )
        except InterviewNotFound:
            await self.send_error("interview_not_found", "The interview no longer exists.")
            await self._shut(CLOSE_NOT_FOUND)
            return
        except ServiceError as exc:
            await self.send_error(exc.error_code, exc.message)
            return
        except Exception as exc:
            await self._send_failure(exc, "The answer could not be processed; try again.")
            return
        if result.replayed:
            # Already recorded: nothing was written or published, so acknowledge it again here.
            await self.send_json(
                {
                    "type": "answer_received",
                    "message_id": str(result.user_message.id),
                    "sequence_number": result.user_message.sequence_number,
                    "client_message_id": client_message_id,
                }
            )

    async def on_audio_chunk(self, content: dict) -> None:
        if not await self._may_answer():
            return
        chunk_data, is_final = content.get("chunk_data", ""), content.get("is_final", False)
        if not isinstance(chunk_data, str) or not isinstance(is_final, bool):
            raise InvalidFrame("audio_chunk needs chunk_data (base64 string) and is_final (boolean).")
        client_message_id = self._client_message_id(content)
        try:
            chunk = base64.b64decode(chunk_data, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidFrame("chunk_data is not valid base64.")
        if not settings.STT_PROVIDER:
            self.audio.clear()
            await self.send_error("voice_unavailable", VoiceUnavailable.default_message)
            return
        if len(self.audio) + len(chunk) > MAX_AUDIO_BYTES:
            self.audio.clear()
            raise InvalidFrame(f"The audio of one answer may not exceed {MAX_AUDIO_BYTES} bytes; start again.")
        self.audio += chunk
        if not is_final:
            return
        audio, self.audio = bytes(self.audio), bytearray()
        if not audio:
            raise InvalidFrame("No audio was sent before is_final.")
        try:
            text = await sync_to_async(_transcribe, thread_sensitive=False)(audio, self.language)
        except VoiceUnavailable as exc:
            await self.send_error("voice_unavailable", exc.message)
            return
        except Exception:
            logger.exception("transcription failed on interview %s", self.interview_id)
            await self.send_error("transcription_failed", "The audio could not be transcribed; try again.")
            return
        await self.send_json({"type": "transcription", "text": text, "is_final": True})
        if not text.strip():
            await self.send_error("invalid_message", "No speech was recognised in the audio.")
            return
        await self._answer(text.strip()[: settings.MAX_MESSAGE_CHARS], client_message_id)

    async def on_get_next_question(self, content: dict) -> None:
        try:
            frame = await database_sync_to_async(stream.socket_pending_question)(interview_id=self.interview_id)
        except ServiceError as exc:
            await self.send_error(exc.error_code, exc.message)
            return
        if self.role == stream.PARTICIPANT:
            frame = await self._with_audio(frame)
        await self.send_json(frame)

    async def on_resume(self, content: dict) -> None:
        after = content.get("after_sequence", 0)
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise InvalidFrame("after_sequence must be a non-negative integer.")
        while True:
            frames = await database_sync_to_async(stream.socket_messages_after)(
                interview_id=self.interview_id, after=after
            )
            for frame in frames:
                await self._forward(frame)
            if len(frames) < stream.RESUME_BATCH:
                return
            after = frames[-1]["message"]["sequence_number"]

    async def layer_reconnected(self, event: dict) -> None:
        """The channel layer is back after a Redis outage: send what this socket missed, the
        messages stored since the last one it was sent and, if it changed, the status."""
        if self.role is None:
            return
        logger.info("channel layer back: replaying after sequence %s", self.sent_sequence)
        try:
            await self.on_resume({"after_sequence": self.sent_sequence})
            interview = await database_sync_to_async(stream.socket_interview)(interview_id=self.interview_id)
            if interview["status"] != self.sent_status:
                await self._forward({"type": "status_changed", "status": interview["status"], "interview": interview})
        except Exception as exc:
            await self._send_failure(exc, "Missed messages could not be sent; resume to fetch them.")

    HANDLERS = {
        "ping": on_ping,
        "text_answer": on_text_answer,
        "audio_chunk": on_audio_chunk,
        "get_next_question": on_get_next_question,
        "resume": on_resume,
    }

    # --- server → client ------------------------------------------------------------------------

    async def interview_frames(self, event: dict) -> None:
        """Frames a service published to the group after commit."""
        if self.role is None:
            return
        frames = event.get("frames", [])
        if self.role == stream.PARTICIPANT:
            covered = {f.get("message_id") for f in frames if f.get("type") in ("answer_received", "question")}
            frames = [f for f in frames if not (f.get("type") == "message" and f["message"].get("id") in covered)]
        for frame in frames:
            if frame.get("type") == "question" and self.role == stream.PARTICIPANT:
                frame = await self._with_audio(frame)
            await self._forward(frame)

    async def _forward(self, frame: dict) -> None:
        """Send a frame about the interview, remembering the highest sequence number and the
        status sent."""
        sequence = frame.get("sequence_number") or (frame.get("message") or {}).get("sequence_number") or 0
        self.sent_sequence = max(self.sent_sequence, sequence)
        if frame.get("type") in ("status_changed", "interview_complete"):
            self.sent_status = frame["status"]
        await self.send_json(frame)

    async def _with_audio(self, frame: dict) -> dict:
        """The question with ``audio_data`` when a text-to-speech provider is configured."""
        if not settings.TTS_PROVIDER:
            return frame
        try:
            audio = await sync_to_async(_synthesize, thread_sensitive=False)(frame["text"], self.language)
        except Exception:  # the question still goes out, as text
            logger.warning("speech synthesis failed on interview %s", self.interview_id, exc_info=True)
            return frame
        return {**frame, "audio_data": base64.b64encode(audio).decode("ascii")}

    async def send_error(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "message": message})

    async def _send_failure(self, exc: Exception, message: str) -> None:
        """An unexpected failure as an ``error`` frame: ``service_unavailable`` when the database
        or Redis is unreachable (the client retries), ``internal_error`` otherwise."""
        if backend_unavailable(exc):
            logger.warning("backend unavailable: %s", exc)
            await self.send_error("service_unavailable", "A required backend is unavailable; try again shortly.")
        else:
            logger.error("could not handle a frame", exc_info=exc)
            await self.send_error("internal_error", message)


def _speech():
    try:
        from interviews.engine import speech
    except ImportError as exc:
        raise VoiceUnavailable() from exc
    return speech


def _transcribe(audio: bytes, language: str) -> str:
    return _speech().transcribe(audio, language)


def _synthesize(text: str, language: str) -> bytes:
    return _speech().synthesize(text, language)
