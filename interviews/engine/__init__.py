from django.conf import settings

from interviews.engine.base import Evaluation, Provider, ProviderError, Turn


def get_engine() -> Provider:
    """The configured interviewer: the ``INTERVIEWER_PROVIDERS`` fallback chain (docs/engine.md)."""
    from interviews.engine.chain import ProviderChain

    configured = settings.INTERVIEWER_PROVIDERS
    if isinstance(configured, str):
        configured = configured.split(",")
    return ProviderChain.from_names(configured)


__all__ = ["Evaluation", "Provider", "ProviderError", "Turn", "get_engine"]
