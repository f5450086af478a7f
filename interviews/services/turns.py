"""Turns in three short steps, holding nothing while the interviewer thinks (docs/realtime.md,
"Turns").

1. **Answer** (:func:`turn_answer_store`, :func:`turn_start_begin` for the first question): lock
   the row, store the answer with the next sequence number, mark the turn pending
   (``pending_turn``) with a claim and a deadline, commit. ``answer_received`` follows the commit.
2. **Interviewer** (:func:`turn_run`): the engine is asked on the event loop with a snapshot of
   plain data; no row lock, no database connection, no worker thread is held. Its deltas go to
   the interview's group (and to an SSE listener), coalesced by :class:`DeltaStream`.
3. **Reply** (:func:`turn_reply_store`): lock the row again and store the reply, the answer's
   evaluation and the engine state, and clear the pending turn, but only while this worker
   still holds the claim; frames follow the commit.

Recovery: a pending turn whose deadline (``TURN_TIMEOUT_SECONDS``) passed is taken over
(:func:`turn_takeover`: a new claim, the same answer) by whoever comes next: a retry of the same
``client_message_id`` (:func:`turn_wait`), the socket's ``get_next_question`` and ``resume``, or
the sweep (:func:`turn_sweep`). The claim makes sure exactly one reply is stored: a slow worker
whose turn was taken over finds the claim changed and stores nothing.

Sync callers (REST without SSE, the built-in pages, ``seed_demo``) use :func:`interview_start`
and :func:`interview_continue`: steps 1 and 3 run in the caller's thread, the connection goes
back to the pool before step 2, and step 2 runs on the event loop through ``async_to_sync``.

Size: the three steps, their claim, takeover and sweep share one set of invariants (who holds
the claim, when ``pending_turn`` clears); split, a change to one step would be read without the
checks the others make.
"""

import asyncio
import copy
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from interviews import events, selectors
from interviews.engine import MessageData, Snapshot, Turn, get_engine
from interviews.engine.plans import plan_spec
from interviews.exceptions import InterviewNotActive, TurnInProgress
from interviews.models import Interview, InterviewMessage, InterviewSource, InterviewStatus, MessageRole
from interviews.permissions import Action, InterviewAccessPermission
from interviews.realtime import frames
from interviews.reports.services import interview_report_request
from interviews.serializers import iso
from interviewsvc.ids import uuid7

from .interviews import interview_overall_score, pending_turn_clear
from .messages import COUNTER_FIELDS, MessageDraft, interview_lock, messages_build

logger = logging.getLogger("interviews.turns")

# How often a caller waiting for someone else's turn looks at it again.
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class StartResult:
    interview: Interview
    message: InterviewMessage
    turn: Turn


@dataclass(frozen=True)
class ContinueResult:
    interview: Interview
    user_message: InterviewMessage
    assistant_message: InterviewMessage | None
    question_number: int
    is_final: bool
    replayed: bool = False


@dataclass(frozen=True)
class TurnJob:
    """Step 1's hand-over to step 2: what the interviewer needs, and the claim to store its reply.

    ``answer`` is None for the first question. ``takeover``: the turn was started by someone
    else, who may have streamed part of a question (so this one begins with a reset).
    """

    interview_id: uuid.UUID
    turn_id: str
    claim: uuid.UUID
    snapshot: Snapshot
    history: tuple[MessageData, ...]
    answer: InterviewMessage | None
    takeover: bool = False


@dataclass(frozen=True)
class TurnWait:
    """The answer was stored before and its turn is still pending: wait for it (or take it over)."""

    interview_id: uuid.UUID
    turn_id: str
    answer: InterviewMessage


Result = StartResult | ContinueResult
Db = Callable[..., Awaitable]


# --- step 1 ----------------------------------------------------------------------------------


def _snapshot(interview: Interview) -> Snapshot:
    state = copy.deepcopy(interview.engine_state) if isinstance(interview.engine_state, dict) else {}
    asked = interview.question_count
    if interview.message_count and not isinstance(state.get("topic"), int):
        # No engine state (imported): the interviewer places itself by the questions in the
        # transcript, whatever its counters say. One COUNT, only for such interviews.
        asked = InterviewMessage.objects.filter(interview_id=interview.id, role=MessageRole.ASSISTANT).count()
    return Snapshot(
        interview_id=interview.id,
        language=interview.language,
        technical_level=interview.technical_level,
        plan=plan_spec(interview.plan if interview.plan_id else None),
        engine_state=state,
        question_count=asked,
    )


def _history(interview: Interview, *, before: int) -> tuple[MessageData, ...]:
    """The recent messages numbered below ``before`` that the engine wants, oldest first.

    Every message of a migrated interview is marked imported: imports are ended and cannot be
    continued (``IMPORT_STATUSES``), so one that reaches a turn was imported before that rule,
    and its later turns are marked too — safe, if more cautious than needed.
    """
    limit = get_engine().history_messages
    if limit <= 0:
        return ()
    imported = interview.source == InterviewSource.MIGRATED
    rows = (
        InterviewMessage.objects.filter(interview_id=interview.id, sequence_number__lt=before)
        .order_by("-sequence_number")
        .values_list("role", "content", "sequence_number")[:limit]
    )
    return tuple(MessageData(role, content, number, imported) for role, content, number in reversed(rows))


def _claim(interview: Interview) -> list[str]:
    """A new claim on the interview's pending turn, good until ``TURN_TIMEOUT_SECONDS`` from now."""
    interview.turn_claim = uuid.uuid4()
    interview.turn_deadline = timezone.now() + timedelta(seconds=settings.TURN_TIMEOUT_SECONDS)
    return ["turn_claim", "turn_deadline"]


def turn_start_begin(*, user, language: str, technical_level: str, plan: str | None = None) -> TurnJob:
    """Create the interview with its first question pending.

    ``plan`` is an interview plan's slug (None: the default plan); an unknown or inactive one
    raises ``UnknownPlan``. The plan is kept on the interview for every later turn.
    """
    interview_plan = selectors.plan_choose(slug=plan)
    now = timezone.now()
    turn_id = str(uuid7())
    interview = Interview(
        employee=user,
        organization_id=user.organization_id,
        language=language,
        technical_level=technical_level,
        plan=interview_plan,
        started_at=now,
        pending_turn={"turn_id": turn_id, "answer_id": None, "since": iso(now)},
    )
    _claim(interview)
    interview.save(force_insert=True)
    return TurnJob(interview.id, turn_id, interview.turn_claim, _snapshot(interview), (), None)


def turn_answer_store(
    *, actor, interview_id: uuid.UUID, answer: str, client_message_id: str | None = None
) -> TurnJob | TurnWait | ContinueResult:
    """Step 1 of a turn: store the answer and mark the turn pending.

    ``actor`` must be the interviewee (checked under the row lock; None: a system call). A
    ``client_message_id`` seen before returns the first result (``replayed``), or a
    :class:`TurnWait` while that answer's turn is still pending; nothing is written then.
    Raises ``InterviewNotActive`` unless in progress, ``TurnInProgress`` while another answer
    waits for the interviewer.
    """
    with transaction.atomic():
        interview = interview_lock(interview_id=interview_id, with_plan=True)
        if actor is not None:
            InterviewAccessPermission.check(actor, interview, Action.PARTICIPATE)
        if client_message_id:
            prior = InterviewMessage.objects.filter(interview=interview, client_message_id=client_message_id).first()
            if prior is not None:
                pending = interview.pending_turn
                if pending and pending.get("answer_id") == str(prior.id):
                    return TurnWait(interview.id, pending["turn_id"], prior)
                return _replay(interview, prior)
        if interview.status != InterviewStatus.IN_PROGRESS:
            raise InterviewNotActive(
                f"The interview is {interview.status}; only an interview in progress takes answers."
            )
        if interview.pending_turn is not None:
            raise TurnInProgress()
        history = _history(interview, before=interview.message_count + 1)
        snapshot = _snapshot(interview)
        [message] = messages_build(
            interview, [MessageDraft(role=MessageRole.USER, content=answer, client_message_id=client_message_id)]
        )
        turn_id = str(message.id)
        interview.pending_turn = {"turn_id": turn_id, "answer_id": turn_id, "since": iso(message.created_at)}
        interview.save(update_fields=[*COUNTER_FIELDS, "pending_turn", *_claim(interview)])
        InterviewMessage.objects.bulk_create([message])
        events.publish_on_commit(
            interview.id, [frames.answer_received(message, turn_id=turn_id), frames.message(message)]
        )
    return TurnJob(interview.id, turn_id, interview.turn_claim, snapshot, history, message)


def _replay(interview: Interview, prior: InterviewMessage) -> ContinueResult:
    """The first result of answer ``prior``. ``InterviewNotActive`` when the interview ended
    before the interviewer replied (its turn was dropped): there is no result to repeat."""
    reply = InterviewMessage.objects.filter(
        interview=interview, sequence_number=prior.sequence_number + 1, role=MessageRole.ASSISTANT
    ).first()
    if reply is None and interview.status != InterviewStatus.IN_PROGRESS and interview.pending_turn is None:
        raise InterviewNotActive(f"The interview is {interview.status}; the interviewer's reply was not stored.")
    meta = reply.metadata if reply else {}
    return ContinueResult(
        interview=interview,
        user_message=prior,
        assistant_message=reply,
        question_number=meta.get("index", interview.question_count),
        is_final=bool(meta.get("is_final", False)),
        replayed=True,
    )


# --- step 3 ----------------------------------------------------------------------------------


def turn_reply_store(*, job: TurnJob, turn: Turn) -> Result | None:
    """Step 3: store the reply, the answer's evaluation and the engine state; clear the turn.

    Returns None, storing nothing, when ``job`` no longer holds the claim (the turn was taken
    over, or the interview ended meanwhile).
    """
    answer = copy.copy(job.answer)
    with transaction.atomic():
        interview = interview_lock(interview_id=job.interview_id)
        if interview.turn_claim != job.claim:
            return None
        metadata = {"index": turn.index, "total": turn.total, "is_final": turn.is_final}
        if answer is not None:
            metadata["turn_id"] = job.turn_id
        draft = MessageDraft(
            role=MessageRole.ASSISTANT, content=turn.question, metadata=metadata, is_question=not turn.is_final
        )
        [reply] = messages_build(interview, [draft])
        interview.engine_state = turn.engine_state
        fields = [*COUNTER_FIELDS, "engine_state", *pending_turn_clear(interview)]
        if turn.is_final:
            interview.status = InterviewStatus.COMPLETED
            interview.completed_at = timezone.now()
            fields += ["status", "completed_at"]
        batch = []
        if answer is not None and turn.evaluation is not None:
            answer.evaluation = turn.evaluation.as_dict()
            InterviewMessage.objects.filter(pk=answer.pk).update(evaluation=answer.evaluation)
            batch.append(frames.evaluation(answer_id=answer.id, evaluation=answer.evaluation))
        if turn.is_final:
            # Stored when the interview ends (the admin list, stats and exports read it): one read
            # of the answers' scores per interview, not one per turn (a turn reads only the recent
            # history, however long the transcript).
            interview.overall_score = interview_overall_score(interview)
            fields.append("overall_score")
        interview.save(update_fields=fields)
        InterviewMessage.objects.bulk_create([reply])
        batch += [frames.question(reply), frames.message(reply)]
        if turn.is_final:
            batch.append(frames.interview_complete(interview, overall_score=interview.overall_score))
            interview_report_request(interview=interview)
        events.publish_on_commit(interview.id, batch)
    if answer is None:
        return StartResult(interview=interview, message=reply, turn=turn)
    return ContinueResult(
        interview=interview,
        user_message=answer,
        assistant_message=reply,
        question_number=turn.index,
        is_final=turn.is_final,
    )


def turn_extend(*, job: TurnJob) -> bool:
    """Move ``job``'s deadline forward while its worker is alive and working; False: claim lost."""
    deadline = timezone.now() + timedelta(seconds=settings.TURN_TIMEOUT_SECONDS)
    return bool(Interview.objects.filter(pk=job.interview_id, turn_claim=job.claim).update(turn_deadline=deadline))


def turn_release(*, job: TurnJob) -> None:
    """Give up ``job``'s claim (its engine or step 3 failed): the next caller takes over at once."""
    Interview.objects.filter(pk=job.interview_id, turn_claim=job.claim).update(turn_deadline=timezone.now())


# --- recovery --------------------------------------------------------------------------------


def _takeover(interview: Interview) -> TurnJob:
    """A new claim on ``interview``'s pending turn (row locked, deadline passed)."""
    pending = interview.pending_turn
    interview.save(update_fields=_claim(interview))
    answer = None
    history: tuple[MessageData, ...] = ()
    if pending.get("answer_id"):
        answer = InterviewMessage.objects.get(pk=pending["answer_id"])
        history = _history(interview, before=answer.sequence_number)
    logger.warning("taking over turn %s of interview %s (its deadline passed)", pending["turn_id"], interview.id)
    return TurnJob(
        interview.id, pending["turn_id"], interview.turn_claim, _snapshot(interview), history, answer, takeover=True
    )


def turn_takeover(*, interview_id: uuid.UUID) -> TurnJob | None:
    """Take over the interview's pending turn if its deadline passed; None when there is none."""
    if not Interview.objects.filter(pk=interview_id, turn_deadline__lte=timezone.now()).exists():
        return None  # the common case costs one indexed read and no lock
    with transaction.atomic():
        interview = interview_lock(interview_id=interview_id, with_plan=True)
        if interview.pending_turn is None or interview.turn_deadline > timezone.now():
            return None
        return _takeover(interview)


def turn_sweep(*, limit: int = 100) -> list[TurnJob]:
    """Take over up to ``limit`` pending turns whose deadline passed (the periodic sweep)."""
    due = Interview.objects.filter(turn_deadline__lte=timezone.now()).order_by("turn_deadline")
    jobs = (turn_takeover(interview_id=pk) for pk in due.values_list("pk", flat=True)[:limit])
    return [job for job in jobs if job is not None]


def turn_poll(*, interview_id: uuid.UUID, turn_id: str) -> Result | TurnJob | datetime:
    """Where turn ``turn_id`` stands: its result once stored, a :class:`TurnJob` when its deadline
    passed (taken over now, by the caller), else the deadline it is waiting on."""
    interview = selectors.interview_get(interview_id=interview_id)
    pending = interview.pending_turn
    if pending and pending.get("turn_id") == turn_id:
        if interview.turn_deadline > timezone.now():
            return interview.turn_deadline
        job = turn_takeover(interview_id=interview_id)
        return job if job is not None else interview.turn_deadline
    if not InterviewMessage.objects.filter(pk=turn_id).exists():  # the first question's turn
        first = selectors.interview_messages(interview=interview, limit=1).first()
        if first is None:
            raise InterviewNotActive("The interview ended before the interviewer asked a question.")
        meta = first.metadata
        turn = Turn(first.content, bool(meta.get("is_final")), None, meta.get("index", 1), meta.get("total", 0))
        return StartResult(interview=interview, message=first, turn=turn)
    return _replay(interview, InterviewMessage.objects.get(pk=turn_id))


# --- step 2 and the whole turn ---------------------------------------------------------------


class DeltaStream:
    """``on_delta``/``on_reset`` of one turn: frames to the interview's group and to ``listener``.

    Coalesced: the first piece goes out at once, later ones at most one frame per
    ``TURN_DELTA_INTERVAL_MS``, so the frame rate does not grow with the model's token rate.
    Frames leave in order through one sender task. ``seq`` counts the frames of one attempt:
    it starts again at 0 after a ``question_reset``.
    """

    def __init__(self, interview_id, turn_id: str, listener: Callable[[dict], None] | None = None):
        self.interview_id = interview_id
        self.turn_id = turn_id
        self.listener = listener
        self.interval = settings.TURN_DELTA_INTERVAL_MS / 1000
        self.buffer: list[str] = []
        self.seq = 0
        self.last = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.loop = asyncio.get_running_loop()
        self.outbox: asyncio.Queue = asyncio.Queue()
        self.sender = self.loop.create_task(self._send_all())

    def delta(self, text: str) -> None:
        if not text:
            return
        self.buffer.append(text)
        if self.timer is not None:
            return
        wait = self.last + self.interval - time.monotonic()
        if wait <= 0:
            self._flush()
        else:
            self.timer = self.loop.call_later(wait, self._flush)

    def reset(self) -> None:
        self._cancel_timer()
        self.buffer.clear()
        self.seq = 0
        self._emit(frames.question_reset(turn_id=self.turn_id))

    async def close(self) -> None:
        """Send what is buffered and wait until every frame has left."""
        self._cancel_timer()
        self._flush()
        self.outbox.put_nowait(None)
        await self.sender

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _flush(self) -> None:
        self.timer = None
        if not self.buffer:
            return
        text = "".join(self.buffer)
        self.buffer.clear()
        self.last = time.monotonic()
        self._emit(frames.question_delta(turn_id=self.turn_id, delta=text, seq=self.seq))
        self.seq += 1

    def _emit(self, frame: dict) -> None:
        if self.listener is not None:
            self.listener(frame)
        self.outbox.put_nowait(frame)

    async def _send_all(self) -> None:
        while (frame := await self.outbox.get()) is not None:
            await events.publish(self.interview_id, [frame], preview=True)


async def turn_run(job: TurnJob, *, db: Db, listener: Callable[[dict], None] | None = None) -> Result:
    """Steps 2 and 3 of ``job``; the result, also when someone else ends up storing the reply.

    ``db(fn, **kwargs)`` runs a sync database function off the event loop. On failure the
    claim is released, so a retry takes the turn over at once.
    """
    stream = DeltaStream(job.interview_id, job.turn_id, listener)
    if job.takeover:
        stream.reset()
    engine = get_engine()
    heartbeat = asyncio.get_running_loop().create_task(_keep_alive(job, db))
    try:
        try:
            if job.answer is None:
                turn = await engine.first_turn(job.snapshot, stream.delta, stream.reset)
            else:
                turn = await engine.next_turn(
                    job.snapshot, list(job.history), job.answer.content, stream.delta, stream.reset
                )
        finally:
            heartbeat.cancel()
            await stream.close()
        result = await db(turn_reply_store, job=job, turn=turn)
    except BaseException:
        try:
            await db(turn_release, job=job)
        except Exception:
            logger.warning("could not release turn %s of interview %s", job.turn_id, job.interview_id, exc_info=True)
        raise
    if result is None:  # taken over, or the interview ended: the result is someone else's
        return await turn_wait(interview_id=job.interview_id, turn_id=job.turn_id, db=db, listener=listener)
    return result


async def _keep_alive(job: TurnJob, db: Db) -> None:
    """While the engine works, keep the turn's deadline ahead, so only a worker that is gone
    (a dead process) leaves its turn to be taken over, however slow the interviewer is."""
    every = settings.TURN_TIMEOUT_SECONDS / 3
    while True:
        await asyncio.sleep(every)
        try:
            if not await db(turn_extend, job=job):
                return  # taken over or ended: step 3 will find out
        except Exception:  # the database is away: the deadline may pass, the claim decides
            logger.warning("could not extend turn %s of interview %s", job.turn_id, job.interview_id, exc_info=True)


async def turn_wait(
    *, interview_id: uuid.UUID, turn_id: str, db: Db, listener: Callable[[dict], None] | None = None
) -> Result:
    """Wait for a turn someone else is working on; take it over if its deadline passes."""
    while True:
        state = await db(turn_poll, interview_id=interview_id, turn_id=turn_id)
        if isinstance(state, TurnJob):
            return await turn_run(state, db=db, listener=listener)
        if not isinstance(state, datetime):
            return state
        await asyncio.sleep(POLL_SECONDS)


async def turn_continue(begun: TurnJob | TurnWait, *, db: Db, listener=None) -> Result:
    """Steps 2 and 3 of what :func:`turn_answer_store` began."""
    if isinstance(begun, TurnWait):
        return await turn_wait(interview_id=begun.interview_id, turn_id=begun.turn_id, db=db, listener=listener)
    return await turn_run(begun, db=db, listener=listener)


# Turns running on this process's event loop, detached from whoever started them (a socket that
# closes or an SSE client that leaves mid-stream must not cancel the turn).
_running: set[asyncio.Task] = set()


def turn_spawn(awaitable) -> asyncio.Task:
    """Run ``awaitable`` to the end whatever happens to its caller; await it through ``shield``."""
    task = asyncio.get_running_loop().create_task(awaitable)
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


# --- the sync entry points -------------------------------------------------------------------


def connection_release() -> None:
    """Return this thread's database connection to the pool (not inside a transaction: tests)."""
    if not connection.in_atomic_block:
        connection.close()


def _in_this_thread(fn, **kwargs):
    """``db`` for sync callers: the function runs back in the calling thread, which then lets
    its connection go again."""

    def call():
        try:
            return fn(**kwargs)
        finally:
            connection_release()

    return sync_to_async(call, thread_sensitive=True)()


def interview_start(*, user, language: str, technical_level: str, plan: str | None = None) -> StartResult:
    """Create an interview for ``user`` and store the interviewer's first question as #1."""
    job = turn_start_begin(user=user, language=language, technical_level=technical_level, plan=plan)
    connection_release()
    return async_to_sync(turn_run)(job, db=_in_this_thread)


def interview_continue(
    *, interview_id: uuid.UUID, answer: str, client_message_id: str | None = None, actor=None
) -> ContinueResult:
    """One whole turn for a sync caller; the connection is back in the pool while the engine works."""
    begun = turn_answer_store(
        actor=actor, interview_id=interview_id, answer=answer, client_message_id=client_message_id
    )
    if isinstance(begun, ContinueResult):
        return begun
    connection_release()
    result = async_to_sync(turn_continue)(begun, db=_in_this_thread)
    if isinstance(begun, TurnWait):
        result = replace(result, replayed=True)
    return result


def _db_executor() -> ThreadPoolExecutor:
    """The threads that run turns' database steps (``TURN_DB_THREADS``), apart from the loop's
    default executor, which other work (Channels' auth, tickets) shares."""
    global _DB_EXECUTOR
    if _DB_EXECUTOR is None:
        _DB_EXECUTOR = ThreadPoolExecutor(max_workers=settings.TURN_DB_THREADS, thread_name_prefix="turn-db")
    return _DB_EXECUTOR


_DB_EXECUTOR: ThreadPoolExecutor | None = None


def db_async(fn, **kwargs):
    """``db`` for the event loop (socket, SSE, sweep): a worker thread of :func:`_db_executor`,
    whose connection goes back to the pool as soon as ``fn`` returns (nothing held while the
    engine works)."""

    def call():
        try:
            return fn(**kwargs)
        finally:
            connection_release()

    return sync_to_async(call, thread_sensitive=False, executor=_db_executor())()
