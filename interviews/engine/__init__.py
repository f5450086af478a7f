from django.conf import settings

from interviews.engine.base import Evaluation, MessageData, Provider, ProviderError, Snapshot, Turn


def get_engine():
    """The configured interviewer: the ``INTERVIEWER_PROVIDERS`` fallback chain (docs/engine.md)."""
    from interviews.engine.chain import ProviderChain

    configured = settings.INTERVIEWER_PROVIDERS
    if isinstance(configured, str):
        configured = configured.split(",")
    return ProviderChain.from_names(configured)


__all__ = ["Evaluation", "MessageData", "Provider", "ProviderError", "Snapshot", "Turn", "get_engine"]
