"""The client's IP address, for throttles and login lockouts: one definition for both.

``X-Forwarded-For`` is written by whoever sends the request, so it only counts as far as our own
proxies wrote it. With ``NUM_PROXIES = 0`` (the default) it is ignored and the address is the
peer's (``REMOTE_ADDR``; under daphne ``--proxy-headers`` that is already the header's left-most
value, so only use that flag behind a proxy that overwrites the header). With ``NUM_PROXIES = N``
the address is the N-th from the right of the header (the one our outermost proxy saw), and only
when the peer is one of ``TRUSTED_PROXIES`` (if that list is set).
"""

import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted)


def _address(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def _from_trusted_proxy(peer: str | None) -> bool:
    trusted = tuple(settings.TRUSTED_PROXIES)
    if not trusted:
        return True
    if peer is None:
        return False
    address = ipaddress.ip_address(peer)
    return any(address in network for network in _networks(trusted))


def client_ip(request) -> str | None:
    """The client's address as our proxies saw it, or the peer's; ``None`` if neither is an IP.

    Used as ``AXES_CLIENT_IP_CALLABLE`` and by the DRF throttles (``interviewsvc.throttling``).
    """
    peer = _address(request.META.get("REMOTE_ADDR") or "")
    proxies = settings.NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded or not _from_trusted_proxy(peer):
        return peer
    hops = forwarded.split(",")
    # Fewer hops than proxies: the left-most is the one the first proxy wrote (DRF's rule).
    # A value that is not an address is a misconfigured proxy: fall back to the peer.
    return _address(hops[-min(proxies, len(hops))]) or peer
