"""The Redis channel layer: Redis pub/sub, riding out a Redis restart instead of going deaf.

It is channels_redis' ``RedisPubSubChannelLayer``: a group event is one ``PUBLISH``, and each
process reads the events of the groups its sockets joined from one subscriber connection. The
default ``RedisChannelLayer`` stores each event in a sorted set per receiving process and each
process pops them with ``BZPOPMIN``, several round trips per event; at 500 and 1,000 sockets
the pub/sub layer carried 13-28 % more turns per second and cut the p99 by about 40 %
(docs/operations.md, "Benchmarks"). Nothing is queued in Redis, so there is no capacity to
overflow and no group membership to expire.

What this module adds:

- A restarted Redis has forgotten every subscription. redis-py's ``PubSub`` subscribes again
  when its connection comes back (``on_connect``); then every socket of the process that is in
  a group is handed a ``layer.reconnected`` message, so it can send what was published while
  Redis was away (``InterviewConsumer.layer_reconnected``).
- While Redis is away, the receive loop logs once and retries with backoff (channels_redis logs
  a traceback every second).
- Commands retry (twice, within a few tenths of a second) on a dropped connection: after a
  restart, every idle pooled connection is dead, and without a retry the first publish on each
  of them fails (a lost event) although Redis is back.
- ``ping()`` for ``/ready``: a pub/sub layer cannot send itself a message without subscribing a
  channel it could never unsubscribe.

It reaches into channels_redis 4.3's pub/sub classes (``_shards``, ``_redis``, ``_pubsub``,
``_do_receiving``), pinned in requirements.txt and guarded by interviewsvc/compat.py;
tests/test_faults.py restarts Redis under live sockets on two daphne processes.
"""

from interviewsvc.compat import guard

# channels_redis' version range (interviewsvc/compat.py), before its private names are imported.
guard(__name__)

import asyncio  # noqa: E402
import logging  # noqa: E402

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection  # noqa: E402
from channels_redis.utils import _wrap_close, decode_hosts  # noqa: E402
from redis.asyncio.client import PubSub  # noqa: E402
from redis.asyncio.retry import Retry  # noqa: E402
from redis.backoff import ExponentialBackoff  # noqa: E402
from redis.exceptions import ConnectionError as RedisConnectionError  # noqa: E402
from redis.exceptions import TimeoutError as RedisTimeoutError  # noqa: E402

logger = logging.getLogger("interviewsvc.channel_layer")

RECONNECTED = {"type": "layer.reconnected"}
_LOST = (RedisConnectionError, RedisTimeoutError, OSError)
RETRY_INITIAL, RETRY_MAX = 0.2, 5.0


class ResilientRedisPubSubChannelLayer(RedisPubSubChannelLayer):
    def __init__(self, *args, hosts=None, **kwargs):
        hosts = [dict(host) for host in decode_hosts(hosts)]
        for host in hosts:
            host.setdefault("retry", Retry(ExponentialBackoff(cap=0.5, base=0.05), 2))
            host.setdefault("retry_on_error", [RedisConnectionError])
        super().__init__(*args, hosts=hosts, **kwargs)

    def _get_layer(self) -> "_LoopLayer":
        # channels_redis' own, with this module's loop layer: one per event loop.
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = _LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
        return layer

    async def ping(self) -> None:
        """Raise unless every Redis server of the layer answers."""
        for shard in self._get_layer()._shards:
            shard._ensure_redis()
            await shard._redis.ping()


class _LoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._shards = [_Shard(shard.host, self) for shard in self._shards]

    def reconnected(self) -> None:
        """Tell every channel of this loop that is in a group that Redis is back."""
        message = self.channel_layer.serialize(RECONNECTED)
        members = set().union(*self.groups.values())
        for channel in members:
            queue = self.channels.get(channel)
            if queue is not None:
                queue.put_nowait(message)
        logger.info("channel layer reconnected to Redis; %d channels told to catch up", len(members))


class _Shard(RedisSingleShardConnection):
    def _ensure_redis(self) -> None:
        if self._redis is None:
            super()._ensure_redis()
            self._pubsub = _PubSub(self._redis.connection_pool, on_reconnect=self.channel_layer.reconnected)

    async def _do_receiving(self) -> None:
        delay, lost = RETRY_INITIAL, False
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
                    self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
                delay, lost = RETRY_INITIAL, False
            except _LOST as exc:
                if not lost:
                    logger.warning("channel layer lost Redis (%s); retrying", exc)
                lost = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
            except Exception:  # as channels_redis does: never let the receive loop die
                logger.exception("unexpected error in the channel layer's receive loop")
                await asyncio.sleep(1)


class _PubSub(PubSub):
    """redis-py's ``PubSub``, calling ``on_reconnect`` once it has subscribed again.

    ``on_connect`` runs on every reconnection of its connection, not on the first connection
    (it is registered after that one).
    """

    def __init__(self, *args, on_reconnect, **kwargs):
        super().__init__(*args, **kwargs)
        self.on_reconnect = on_reconnect

    async def on_connect(self, connection) -> None:
        await super().on_connect(connection)
        self.on_reconnect()
