"""What one user may use over all their sockets, on every process: costly frames and open sockets.

The per-socket limits (``limits.RateLimit``) multiply with the number of sockets: one user with
30 sockets on one interview sent 3,000 frames in 0.4 s, each answer a transaction and a model
call. Here:

- **Costly frames** (``COSTLY``: an answer, a final ``audio_chunk``, ``get_next_question``,
  ``resume``: each is database work and may start or take over a turn) count per user and per
  interview, whichever socket or process they come through, before they are validated. Beyond
  ``WS_USER_RATE_LIMIT_PER_MINUTE`` of a user or ``WS_INTERVIEW_RATE_LIMIT_PER_MINUTE`` on an
  interview in the last minute, a frame gets ``rate_limited`` and is dropped. Refused frames
  count too, and a socket that was refused more than that limit in 60 s is closed with 4429 (as
  the per-socket limit closes at twice its limit). Cheap frames (``ping``, a non-final
  ``audio_chunk``, unknown types) are left to the per-socket limit, which the socket cap bounds.
- **Open sockets:** at most ``WS_MAX_SOCKETS_PER_USER`` per user; the next one is closed with
  4429 right after authentication, before the interview is read or its group joined.

Where: Redis when ``REDIS_URL`` is set, so every process shares the counts; process memory
otherwise (the embedded default serves everything from one process). On Redis, a costly frame
is one round trip (a Lua script) and so is a handshake (a transaction), through a
``redis.asyncio`` client per event loop: Django's async cache methods hop to the thread-sensitive
thread (what issue 14 took out of the consumer) and its ``aincr`` is a get then a set, not
atomic.

- The rate is a sliding minute estimated from two fixed windows (current count plus the
  previous window's count weighted by how much of it still lies within the last 60 s), so a
  client cannot double its rate at a window's edge. Keys expire after two windows.
- A user's open sockets are a sorted set: member the socket's id, score the end of its lease
  (``SOCKET_LEASE_SECONDS``). A socket renews its lease every third of it and removes itself
  when it closes; the sockets of a process that died lapse with their lease.
- Redis unreachable or failing: everything is allowed (fail open, as the REST throttles do),
  logged once per outage. A socket opened meanwhile takes its place at its next renewal.

Size: two Redis Lua scripts with the Python that calls them, one per kind of quota.
"""

import asyncio
import contextlib
import logging
import math
import time
import types
import uuid
import weakref
from collections import deque
from dataclasses import dataclass

import redis.asyncio as aioredis
from django.conf import settings
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

logger = logging.getLogger("interviews.realtime.quotas")

WINDOW_SECONDS = 60
SOCKET_LEASE_SECONDS = 60.0
KEY_PREFIX = "ws-quota"
# A limit check must not hold a frame up for long when Redis hangs; it then fails open.
REDIS_TIMEOUT_SECONDS = 1.0
COSTLY = frozenset({"text_answer", "get_next_question", "resume"})
_FAILURES = (RedisError, OSError)


def costly(content: dict) -> bool:
    """Whether a parsed client frame counts against the shared limits."""
    kind = content["type"]
    return kind in COSTLY or (kind == "audio_chunk" and content.get("is_final") is True)


def now() -> float:
    """Wall-clock time shared by every process (tests freeze it)."""
    return time.time()


@dataclass
class Refusal:
    limit: int
    scope: str  # "your account" | "this interview"
    close: bool = False  # the socket kept sending after more than ``limit`` refusals

    @property
    def message(self) -> str:
        return f"More than {self.limit} answers and requests a minute on {self.scope}; slow down."


class _Local:
    """The counts of a process without Redis."""

    def __init__(self) -> None:
        self.windows: dict[int, dict[str, int]] = {}  # window number → key → frames counted
        self.sockets: dict[int, set[str]] = {}  # user id → ids of their open sockets

    def hit(self, keys: list[str], window: int) -> list[tuple[int, int]]:
        for old in [w for w in self.windows if w < window - 1]:
            del self.windows[old]
        current = self.windows.setdefault(window, {})
        previous = self.windows.get(window - 1, {})
        counts = []
        for key in keys:
            current[key] = current.get(key, 0) + 1
            counts.append((current[key], previous.get(key, 0)))
        return counts

    def clear(self) -> None:
        self.windows.clear()
        self.sockets.clear()


class _Redis:
    """One ``redis.asyncio`` client per event loop (its connections belong to that loop), closed
    when the loop closes; and whether Redis is known to be down, to log an outage once."""

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._closing: set[asyncio.Task] = set()
        self.down = False

    def client(self) -> aioredis.Redis | None:
        url = settings.REDIS_URL
        if not url:
            return None
        loop = asyncio.get_running_loop()
        entry = self._by_loop.get(loop)
        if entry is not None and entry[0] == url:
            return entry[1]
        client = aioredis.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            # One retry at once, on a new connection: after a Redis restart every pooled
            # connection is dead once; while Redis is away the retry is refused at once too.
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError],
        )
        if entry is None:
            self._close_with(loop)
        else:  # REDIS_URL changed (tests): close the old client once its calls are over
            task = loop.create_task(entry[1].aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        self._by_loop[loop] = (url, client)
        return client

    def _close_with(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close this loop's client when the loop closes (tests run a loop per test; left to the
        garbage collector, its connections would warn)."""
        original = loop.close

        def close(this):
            entry = self._by_loop.pop(this, None)
            if entry is not None and not this.is_running():
                with contextlib.suppress(Exception):  # closing is best effort
                    this.run_until_complete(entry[1].aclose())
            this.close = original
            return original()

        loop.close = types.MethodType(close, loop)

    def failed(self, exc: BaseException) -> None:
        if not self.down:
            self.down = True
            logger.warning("WebSocket limits not enforced, Redis unavailable: %s", exc)

    def answered(self) -> None:
        if self.down:
            self.down = False
            logger.info("WebSocket limits enforced again, Redis is back")


_local = _Local()
_redis = _Redis()


def reset() -> None:
    """Forget this process's counts and sockets, and any Redis outage (tests)."""
    _local.clear()
    _redis.down = False


# KEYS: the current and the previous window of each counter. Counts one more in each current
# window and returns (current, previous) pairs. One command instead of a six-command pipeline:
# half the client's CPU per costly frame.
_COUNT_SCRIPT = """
local out = {}
for i = 1, #KEYS, 2 do
  local n = redis.call('INCR', KEYS[i])
  if n == 1 then redis.call('EXPIRE', KEYS[i], ARGV[1]) end
  out[#out + 1] = n
  out[#out + 1] = tonumber(redis.call('GET', KEYS[i + 1]) or '0')
end
return out
"""


def _rate_key(key: str, window: int) -> str:
    return f"{KEY_PREFIX}:rate:{key}:{window}"


def _sockets_key(user_id) -> str:
    return f"{KEY_PREFIX}:sockets:{user_id}"


async def _counts(keys: list[str], window: int) -> list[tuple[int, int]] | None:
    """``(current, previous)`` window counts of ``keys`` after counting one more; None: unknown."""
    client = _redis.client()
    if client is None:
        return _local.hit(keys, window)
    windows = [_rate_key(key, w) for key in keys for w in (window, window - 1)]
    try:
        replies = await client.eval(_COUNT_SCRIPT, len(windows), *windows, 2 * WINDOW_SECONDS)
    except _FAILURES as exc:
        _redis.failed(exc)
        return None
    _redis.answered()
    return [(int(replies[i]), int(replies[i + 1])) for i in range(0, len(replies), 2)]


async def rate_check(*, user_id, interview_id) -> Refusal | None:
    """Count one costly frame of ``user_id`` on ``interview_id``; the limit it broke, if any."""
    window, into = divmod(now(), WINDOW_SECONDS)
    window = int(window)
    rules = (
        (f"u:{user_id}", settings.WS_USER_RATE_LIMIT_PER_MINUTE, "your account"),
        (f"i:{interview_id}", settings.WS_INTERVIEW_RATE_LIMIT_PER_MINUTE, "this interview"),
    )
    counts = await _counts([key for key, _, _ in rules], window)
    if counts is None:
        return None
    still = 1 - into / WINDOW_SECONDS  # the share of the previous window within the last minute
    for (current, previous), (_, limit, scope) in zip(counts, rules, strict=True):
        if current + previous * still > limit:
            return Refusal(limit=limit, scope=scope)
    return None


class SocketQuota:
    """One socket's place among its user's open sockets, and the refusals it was sent."""

    def __init__(self) -> None:
        self.id = uuid.uuid4().hex
        self.user_id = None  # set while the socket holds a place
        self.on_redis = False
        self.renewed = 0.0
        self.refusals: deque[float] = deque()

    async def open(self, *, user_id) -> bool:
        """Take a place among the user's open sockets: False beyond ``WS_MAX_SOCKETS_PER_USER``."""
        cap = settings.WS_MAX_SOCKETS_PER_USER
        client = _redis.client()
        if client is None:
            sockets = _local.sockets.setdefault(user_id, set())
            if len(sockets) >= cap:
                return False
            sockets.add(self.id)
            self.user_id = user_id
            return True
        key, at = _sockets_key(user_id), now()
        self.user_id, self.on_redis, self.renewed = user_id, True, time.monotonic()
        pipe = client.pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", at)
        pipe.zadd(key, {self.id: at + SOCKET_LEASE_SECONDS})
        pipe.zcard(key)
        pipe.pexpire(key, math.ceil(SOCKET_LEASE_SECONDS * 1000))
        try:
            _, _, count, _ = await pipe.execute()
            _redis.answered()
            if count <= cap:
                return True
            await client.zrem(key, self.id)
        except _FAILURES as exc:  # let it in; its next renewal takes its place
            _redis.failed(exc)
            return True
        self.user_id = None
        return False

    async def renew(self) -> float:
        """Renew the lease when a third of it has passed; seconds until the next renewal."""
        if self.user_id is None or not self.on_redis:
            return math.inf
        every = SOCKET_LEASE_SECONDS / 3
        wait = self.renewed + every - time.monotonic()
        if wait > 0:
            return wait
        self.renewed = time.monotonic()
        client, key = _redis.client(), _sockets_key(self.user_id)
        if client is None:  # REDIS_URL unset since (tests)
            return math.inf
        pipe = client.pipeline(transaction=False)
        pipe.zadd(key, {self.id: now() + SOCKET_LEASE_SECONDS})
        pipe.pexpire(key, math.ceil(SOCKET_LEASE_SECONDS * 1000))
        try:
            await pipe.execute()
            _redis.answered()
            if self.user_id is None:  # closed meanwhile: its removal may have gone first
                await client.zrem(key, self.id)
        except _FAILURES as exc:
            _redis.failed(exc)
        return every

    async def close(self) -> None:
        """Give the place back (again: nothing)."""
        user_id, self.user_id = self.user_id, None
        if user_id is None:
            return
        if not self.on_redis:
            sockets = _local.sockets.get(user_id, set())
            sockets.discard(self.id)
            if not sockets:
                _local.sockets.pop(user_id, None)
            return
        client = _redis.client()
        if client is None:
            return
        try:
            await client.zrem(_sockets_key(user_id), self.id)
        except _FAILURES as exc:  # its lease lapses
            _redis.failed(exc)

    async def admit(self, *, user_id, interview_id) -> Refusal | None:
        """Count a costly frame of this socket; None, or why it is refused and whether to close."""
        refusal = await rate_check(user_id=user_id, interview_id=interview_id)
        if refusal is None:
            return None
        at = time.monotonic()
        while self.refusals and at - self.refusals[0] >= WINDOW_SECONDS:
            self.refusals.popleft()
        self.refusals.append(at)
        refusal.close = len(self.refusals) > refusal.limit
        return refusal
