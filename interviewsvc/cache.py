"""Django's Redis cache with one connection pool per process.

Django keeps a cache object per request context (``caches`` is context-local), and
``RedisCacheClient`` builds its connection pools per object: every request opened a new TCP
connection to Redis for its throttle check (about 6 % of a REST turn in daphne,
docs/operations.md, "Benchmarks"). Here the pools live on the class, keyed by server URL and
pool options, so a process shares them; redis-py's pools are thread-safe.
"""

import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class SharedPoolRedisCacheClient(RedisCacheClient):
    _shared: dict = {}
    _lock = threading.Lock()

    def _get_connection_pool(self, write):
        index = self._get_connection_pool_index(write)
        key = (self._servers[index], self._pool_class, repr(sorted(self._pool_options.items())))
        pool = self._shared.get(key)
        if pool is None:
            with self._lock:
                pool = self._shared.get(key)
                if pool is None:
                    pool = self._shared[key] = self._pool_class.from_url(self._servers[index], **self._pool_options)
        return pool


class SharedPoolRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient
