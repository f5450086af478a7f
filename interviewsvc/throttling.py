"""DRF's rate throttles, failing open while the cache (Redis) is unreachable.

Throttle history lives in the cache. When Redis restarts, refusing every request (or failing
with 500) would turn a cache blip into an outage of the whole API, so a request whose history
cannot be read or written is let through and the miss is logged.
"""

import logging

from rest_framework import throttling

from interviewsvc.client_ip import client_ip
from interviewsvc.errors import backend_unavailable

logger = logging.getLogger("interviewsvc.throttling")


class FailOpenMixin:
    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception as exc:
            if not backend_unavailable(exc):
                raise
            logger.warning("throttle cache unavailable, request allowed: %s", exc)
            return True


class ClientIpMixin:
    """Key anonymous requests on the client's address as our proxies saw it, never on a
    client-written ``X-Forwarded-For`` (``interviewsvc.client_ip``)."""

    def get_ident(self, request) -> str:
        return client_ip(request) or ""


class AnonRateThrottle(FailOpenMixin, ClientIpMixin, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(FailOpenMixin, ClientIpMixin, throttling.UserRateThrottle):
    pass
