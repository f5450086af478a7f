"""The Redis pub/sub channel layer across a Redis restart (interviewsvc/channel_layer.py).

Redis "restarts" behind a TCP proxy (tests/tcp_proxy.py): connections drop, new ones are
refused, then it answers again. Redis drops a connection's subscriptions with the connection,
so the layer must subscribe again, as after a real restart.
"""

import asyncio
import uuid
from urllib.parse import urlsplit

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from interviewsvc.channel_layer import RECONNECTED, ResilientRedisPubSubChannelLayer
from tests.interviews.realtime_support import REDIS_URL, redis_answers
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.redis

WITHIN = 15


@pytest.fixture
def proxy():
    reason = redis_answers()
    if reason:
        pytest.skip(reason)
    upstream = urlsplit(REDIS_URL)
    with TcpProxy(upstream.hostname or "127.0.0.1", upstream.port or 6379) as proxy:
        yield proxy


def layer_through(proxy: TcpProxy, prefix: str = "") -> ResilientRedisPubSubChannelLayer:
    address = f"redis://127.0.0.1:{proxy.port}{urlsplit(REDIS_URL).path}"
    return ResilientRedisPubSubChannelLayer(hosts=[{"address": address}], prefix=prefix or f"t-{uuid.uuid4().hex[:8]}")


async def test_group_members_hear_of_the_restart_and_then_hear_the_group_again(proxy):
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    layer, sender = layer_through(proxy, prefix), layer_through(proxy, prefix)  # two processes
    member, loner = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", member)
    await sender.group_send("g", {"type": "before"})
    assert await asyncio.wait_for(layer.receive(member), WITHIN) == {"type": "before"}

    proxy.cut()
    with pytest.raises(RedisConnectionError):  # Redis is away: the publish fails (the caller logs it)
        await sender.group_send("g", {"type": "lost"})
    await asyncio.sleep(0.5)
    proxy.restore()

    # The member is told Redis is back (to catch up from the database); the channel in no group is not.
    assert await asyncio.wait_for(layer.receive(member), WITHIN) == RECONNECTED
    # Subscribed again: a publish through a pooled connection that died with the restart arrives.
    await sender.group_send("g", {"type": "after"})
    assert await asyncio.wait_for(layer.receive(member), WITHIN) == {"type": "after"}
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(layer.receive(loner), 0.5)
    await layer.flush()
    await sender.flush()


async def test_ping_fails_while_redis_is_away_and_passes_when_back(proxy):
    layer = layer_through(proxy)
    await layer.ping()
    proxy.cut()
    with pytest.raises(RedisConnectionError):
        await layer.ping()
    proxy.restore()
    await layer.ping()
    await layer.flush()
