from interviews.engine.base import Evaluation, Provider, ProviderError, Turn
from interviews.engine.scripted import ScriptedProvider


def get_engine() -> Provider:
    """The configured interviewer (``INTERVIEWER_PROVIDERS`` chain)."""
    return ScriptedProvider()


__all__ = ["Evaluation", "Provider", "ProviderError", "Turn", "get_engine"]
