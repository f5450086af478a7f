"""The interview stream: one WebSocket per interview (docs/realtime.md).

The consumer does no ORM work: reads go through ``selectors`` and ``realtime.auth``, writes
through ``services`` (the same ones as REST), all via a worker thread that gives its database
connection back right after. It never sends a frame about a write itself: the services publish
frames to the group ``interview.<id>`` after commit (and the turn's ``question_delta`` frames as
the interviewer writes), and every socket of the interview, on any process, forwards them from
there (``interview_frames``). So a REST ``continue``, an admin status change and a socket answer
look the same on every open socket.

A turn runs detached from the socket (``services.turn_spawn``) and awaits the interviewer on the
event loop with nothing held (``services.turns``): the socket keeps serving frames meanwhile, and
a socket that closes mid-turn does not cancel it; the reply is stored and ``resume`` delivers it.

Who receives what:

- observers (staff and admins in scope) receive every frame published for the interview;
- the participant receives the same, except a ``message`` frame that repeats an
  ``answer_received`` or ``question`` of the same batch (the same message, twice);
  ``message`` frames with nothing else about them (e.g. a system note) still reach it.

Per socket (``realtime.limits``): frames above ``WS_MAX_FRAME_BYTES`` close it with 1009; more
than ``WS_RATE_LIMIT_PER_MINUTE`` client frames in any 60 s get ``rate_limited`` and are dropped,
and twice that closes it with 4429; no client frame for ``WS_IDLE_TIMEOUT_SECONDS`` closes it
with 4408. Per user and per interview, over all sockets and processes (``realtime.quotas``):
costly frames (answers, ``resume``, ``get_next_question``) beyond ``WS_USER_RATE_LIMIT_PER_MINUTE``
/ ``WS_INTERVIEW_RATE_LIMIT_PER_MINUTE`` get ``rate_limited`` (a socket that keeps sending them is
closed with 4429), and a user's socket beyond ``WS_MAX_SOCKETS_PER_USER`` is closed with 4429.

Faults (docs/operations.md, "Faults"): while the database is unreachable, a frame that needs it
gets ``error`` ``service_unavailable`` and the socket stays open (a resent answer with the same
``client_message_id`` is then stored once), and a handshake is closed with 1013 (try again
later). While Redis restarts, the layer (``interviewsvc.channel_layer``) keeps the socket and
rejoins the group; ``layer_reconnected`` then sends, as ``message`` frames, every message stored
after the last one this socket was sent (and the status if it changed), so nothing persisted is
missed.

Size: one consumer class; its frame handlers, limits and fault handling are one state machine
per socket (the frames, credentials, limits, quotas and audio are already modules of their own).
"""

import asyncio
import logging
import time
import uuid

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from interviews import selectors, services
from interviews.events import group_name
from interviews.exceptions import InterviewAccessDenied, InterviewNotFound, VoiceUnavailable
from interviews.realtime import audio, auth, frames, limits, quotas
from interviews.realtime.limits import InvalidFrame
from interviews.serializers import interview_data
from interviews.services.turns import db_async
from interviewsvc.compat import guard
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

RESUME_BATCH = 500
# The in-memory layer forgets group members after a day (group_expiry); long-lived sockets
# rejoin hourly. On Redis pub/sub, membership does not expire and rejoining changes nothing.
GROUP_RENEW_SECONDS = 3600.0


def _messages_after(*, interview_id: uuid.UUID, after: int) -> list[dict]:
    """``message`` frames for up to ``RESUME_BATCH`` messages numbered above ``after``. One query."""
    messages = selectors.interview_messages(interview=interview_id, after=after, limit=RESUME_BATCH)
    return [frames.message(m) for m in messages]


def _waiting_question(*, interview_id: uuid.UUID) -> dict:
    return frames.question(selectors.interview_waiting_question(interview_id=interview_id))


def _interview(*, interview_id: uuid.UUID) -> dict:
    return interview_data(selectors.interview_get(interview_id=interview_id))


# dispatch below copies Channels 4.3's: its version range is checked here (interviewsvc/compat.py).
guard(__name__)


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
        self.user = None
        self.interview_id: uuid.UUID | None = None
        self.group: str | None = None
        self.language = "es"
        self.last_activity = time.monotonic()
        self.rate = limits.RateLimit()
        self.quota = quotas.SocketQuota()
        self.audio = audio.AudioBuffer()
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
            frames.connected(interview=opening.interview, role=opening.role, last_sequence=opening.last_sequence)
        )
        self.idle_task = asyncio.create_task(self._watch_idle())

    async def _open(self, offered: list[str], interview_id: uuid.UUID | None) -> "auth.SocketOpening | int":
        """What the ``connected`` frame says, or the close code of a refused credential or id."""
        user = await auth.socket_user(self.scope, offered, interview_id)
        if user is None:
            return CLOSE_NOT_AUTHENTICATED
        if interview_id is None:
            return CLOSE_NOT_FOUND
        # Before the interview is read and its group joined: a socket beyond the cap costs no more.
        if not await self.quota.open(user_id=user.pk):
            logger.info("socket refused: user %s has %s sockets open", user.pk, settings.WS_MAX_SOCKETS_PER_USER)
            return CLOSE_RATE_LIMITED
        self.user = user
        bind_user(user)
        bind_interview(interview_id)
        # Join the group before reading ``last_sequence``: an event committed in between is
        # then queued for this socket rather than lost. Nothing is forwarded until ``role`` is set.
        self.group = group_name(interview_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        return await db_async(auth.socket_open, user=user, interview_id=interview_id)

    async def _shut(self, code: int) -> None:
        self.role = None
        await self.quota.close()
        await self.close(code=code)

    async def disconnect(self, code) -> None:
        self.role = None
        if self.idle_task is not None:
            self.idle_task.cancel()
        await self.quota.close()
        if self.group is not None:
            try:
                await self.channel_layer.group_discard(self.group, self.channel_name)
            except Exception:  # Redis away: the socket has left the group; only Redis' subscription stays
                logger.warning("could not leave group %s", self.group, exc_info=True)

    async def _watch_idle(self) -> None:
        """Close idle sockets (4408); renew the group membership, which the in-memory layer
        expires, and the socket's lease among its user's open sockets (``quotas``)."""
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
            lease = await self.quota.renew()
            await asyncio.sleep(min(remaining, GROUP_RENEW_SECONDS, lease))

    # --- client → server ------------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        if self.role is None:
            return
        if limits.frame_size(text_data, bytes_data) > settings.WS_MAX_FRAME_BYTES:
            await self._shut(CLOSE_TOO_LARGE)
            return
        self.last_activity = time.monotonic()
        verdict = self.rate.admit()
        if verdict == "close":
            await self._shut(CLOSE_RATE_LIMITED)
            return
        if verdict == "refuse":
            limit = settings.WS_RATE_LIMIT_PER_MINUTE
            await self.send_error("rate_limited", f"More than {limit} messages a minute; slow down.")
            return
        try:
            content = limits.frame_parse(text_data)
            handler = self.HANDLERS.get(content["type"])
            if handler is None:
                raise InvalidFrame(f'Unknown message type "{content["type"]}".')
            if quotas.costly(content):
                refusal = await self.quota.admit(user_id=self.user.pk, interview_id=self.interview_id)
                if refusal is not None:
                    if refusal.close:
                        await self._shut(CLOSE_RATE_LIMITED)
                    else:
                        await self.send_error("rate_limited", refusal.message)
                    return
            await handler(self, content)
        except InvalidFrame as exc:
            await self.send_error("invalid_message", str(exc))
        except InterviewNotFound:  # deleted while this socket was open (it missed the event)
            await self._gone()
        except Exception as exc:  # say what went wrong, keep the socket
            await self._send_failure(exc, "The request could not be processed; try again.")

    async def on_ping(self, content: dict) -> None:
        await self.send_json(frames.pong())

    async def on_text_answer(self, content: dict) -> None:
        if not await self._may_answer():
            return
        data = limits.frame_data(limits.TextAnswerFrame, content)
        await self._answer(data["answer_text"], data.get("client_message_id"))

    async def _may_answer(self) -> bool:
        if self.role != auth.PARTICIPANT:
            await self.send_error("read_only", "Observers cannot answer; only the interviewee may.")
            return False
        return True

    async def _answer(self, answer: str, client_message_id: str | None) -> None:
        """Step 1 of a turn here; steps 2 and 3 detached. Frames arrive through the group."""
        try:
            begun = await db_async(
                services.turn_answer_store,
                actor=self.user,
                interview_id=self.interview_id,
                answer=answer,
                client_message_id=client_message_id,
            )
        except InterviewNotFound:
            await self._gone()
            return
        except ServiceError as exc:
            await self.send_error(exc.error_code, exc.message)
            return
        except Exception as exc:
            await self._send_failure(exc, "The answer could not be processed; try again.")
            return
        if isinstance(begun, services.ContinueResult):
            # Already recorded and answered: nothing was written or published, acknowledge again.
            answer_message = begun.user_message
            await self.send_json(frames.answer_received(answer_message, turn_id=str(answer_message.id)))
            return
        if isinstance(begun, services.TurnWait):  # recorded, its turn still pending: acknowledge, wait
            await self.send_json(frames.answer_received(begun.answer, turn_id=begun.turn_id))
        self._turn(services.turn_continue(begun, db=db_async))

    def _turn(self, awaitable) -> None:
        task = services.turn_spawn(awaitable)
        task.add_done_callback(self._turn_done)

    def _turn_done(self, task: asyncio.Task) -> None:
        if task.cancelled() or task.exception() is None or self.role is None:
            return
        exc = task.exception()
        if isinstance(exc, ServiceError):
            services.turn_spawn(self.send_error(exc.error_code, exc.message))
        else:
            message = "The interviewer could not answer; send the answer again (same client_message_id)."
            services.turn_spawn(self._send_failure(exc, message))

    async def _take_over(self) -> None:
        """Finish the interview's pending turn if whoever started it is gone (deadline passed)."""
        job = await db_async(services.turn_takeover, interview_id=self.interview_id)
        if job is not None:
            self._turn(services.turn_run(job, db=db_async))

    async def on_audio_chunk(self, content: dict) -> None:
        if not await self._may_answer():
            return
        data = limits.frame_data(limits.AudioChunkFrame, content)
        chunk = audio.decode(data["chunk_data"])
        if not settings.STT_PROVIDER:
            self.audio.clear()
            await self.send_error("voice_unavailable", VoiceUnavailable.default_message)
            return
        self.audio.add(chunk)
        if not data["is_final"]:
            return
        recording = self.audio.take()
        try:
            text = await audio.transcribe(recording, self.language)
        except VoiceUnavailable as exc:
            await self.send_error("voice_unavailable", exc.message)
            return
        except Exception:
            logger.exception("transcription failed on interview %s", self.interview_id)
            await self.send_error("transcription_failed", "The audio could not be transcribed; try again.")
            return
        await self.send_json(frames.transcription(text))
        if not text.strip():
            await self.send_error("invalid_message", "No speech was recognised in the audio.")
            return
        await self._answer(text.strip()[: settings.MAX_MESSAGE_CHARS], data.get("client_message_id"))

    async def on_get_next_question(self, content: dict) -> None:
        await self._take_over()
        try:
            frame = await db_async(_waiting_question, interview_id=self.interview_id)
        except InterviewNotFound:
            await self._gone()
            return
        except ServiceError as exc:
            await self.send_error(exc.error_code, exc.message)
            return
        if self.role == auth.PARTICIPANT:
            frame = await self._with_audio(frame)
        await self.send_json(frame)

    async def on_resume(self, content: dict) -> None:
        after = limits.frame_data(limits.ResumeFrame, content)["after_sequence"]
        await self._replay(after)
        await self._take_over()

    async def _replay(self, after: int) -> None:
        while True:
            batch = await db_async(_messages_after, interview_id=self.interview_id, after=after)
            for frame in batch:
                await self._forward(frame)
            if len(batch) < RESUME_BATCH:
                return
            after = batch[-1]["message"]["sequence_number"]

    async def layer_reconnected(self, event: dict) -> None:
        """The channel layer is back after a Redis outage: send what this socket missed, the
        messages stored since the last one it was sent and, if it changed, the status."""
        if self.role is None:
            return
        logger.info("channel layer back: replaying after sequence %s", self.sent_sequence)
        try:
            await self._replay(self.sent_sequence)
            interview = await db_async(_interview, interview_id=self.interview_id)
            if interview["status"] != self.sent_status:
                await self._forward(frames.status_changed_data(interview))
        except InterviewNotFound:  # deleted during the outage: its event was lost with Redis
            await self._gone()
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
        """Frames a service published to the group (after commit; deltas as they come)."""
        if self.role is None:
            return
        batch = event.get("frames", [])
        if self.role == auth.PARTICIPANT and len(batch) > 1:
            covered = {f.get("message_id") for f in batch if f.get("type") in ("answer_received", "question")}
            batch = [f for f in batch if not (f.get("type") == "message" and f["message"].get("id") in covered)]
        for frame in batch:
            if frame.get("type") == "question" and self.role == auth.PARTICIPANT:
                frame = await self._with_audio(frame)
            await self._forward(frame)

    async def interview_gone(self, event: dict) -> None:
        """The interview was deleted (soft or for good): end the socket as for an interview
        that does not exist, with the same ``error`` frame as an answer to a missing one."""
        if self.role is None:
            return
        await self._gone()

    async def _gone(self) -> None:
        await self.send_error("interview_not_found", "The interview no longer exists.")
        await self._shut(CLOSE_NOT_FOUND)

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
            spoken = await audio.synthesize(frame["text"], self.language)
        except Exception:  # the question still goes out, as text
            logger.warning("speech synthesis failed on interview %s", self.interview_id, exc_info=True)
            return frame
        return {**frame, "audio_data": audio.base64_of(spoken)}

    async def send_error(self, code: str, message: str) -> None:
        await self.send_json(frames.error(code, message))

    async def _send_failure(self, exc: BaseException, message: str) -> None:
        """An unexpected failure as an ``error`` frame: ``service_unavailable`` when the database
        or Redis is unreachable (the client retries), ``internal_error`` otherwise."""
        if backend_unavailable(exc):
            logger.warning("backend unavailable: %s", exc)
            await self.send_error("service_unavailable", "A required backend is unavailable; try again shortly.")
        else:
            logger.error("could not handle a frame", exc_info=exc)
            await self.send_error("internal_error", message)
