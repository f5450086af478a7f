"""The Redis channel layer, riding out a Redis restart instead of killing every socket.

channels_redis raises out of ``receive`` when its connection drops, which ends the consumer and
closes the socket with 1011; and a restarted Redis has forgotten every group membership, so a
socket that survived would hear nothing more. This layer remembers which groups each of its
process's channels joined, retries ``receive`` with backoff while Redis is away, rejoins the
groups once it answers again, and then hands the consumer a ``layer.reconnected`` message so it
can send what was published while Redis was down (``InterviewConsumer.layer_reconnected``).

Its connections also retry a command (twice, within a few tenths of a second) on a dropped
connection: after a restart, every idle pooled connection is dead, and redis-py's asyncio
client does not retry by default, so the first publish on each of them failed (a lost event)
even though Redis was back.
"""

import asyncio
import logging
from collections import defaultdict

from channels_redis.core import RedisChannelLayer
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("interviewsvc.channel_layer")

RECONNECTED = {"type": "layer.reconnected"}
_LOST = (RedisConnectionError, RedisTimeoutError, OSError)


class ResilientRedisChannelLayer(RedisChannelLayer):
    def __init__(self, *args, retry_initial: float = 0.2, retry_max: float = 5.0, **kwargs):
        super().__init__(*args, **kwargs)
        for host in self.hosts:
            host.setdefault("retry", Retry(ExponentialBackoff(cap=0.5, base=0.05), 2))
            host.setdefault("retry_on_error", [RedisConnectionError])
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.memberships: defaultdict[str, set[str]] = defaultdict(set)

    async def group_add(self, group, channel):
        self.memberships[channel].add(group)
        await super().group_add(group, channel)

    async def group_discard(self, group, channel):
        groups = self.memberships.get(channel)
        if groups is not None:
            groups.discard(group)
            if not groups:
                del self.memberships[channel]
        await super().group_discard(group, channel)

    async def receive(self, channel):
        delay, lost = self.retry_initial, False
        while True:
            try:
                if lost:
                    for group in list(self.memberships.get(channel, ())):
                        await super().group_add(group, channel)
                    logger.info("channel layer reconnected to Redis; %s rejoined its groups", channel)
                    return dict(RECONNECTED)
                return await super().receive(channel)
            except _LOST as exc:
                if not lost:
                    logger.warning("channel layer lost Redis (%s); %s retries", exc, channel)
                lost = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
