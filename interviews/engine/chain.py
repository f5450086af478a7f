"""The fallback chain ``INTERVIEWER_PROVIDERS``: the first provider that produces a turn answers.

The interview never stalls: ``scripted`` (offline, deterministic) is always the last link, and
a provider that fails gets its changes to ``interview.engine_state`` undone before the next one
is asked. Every fallback is logged with the interview id.
"""

import copy
import logging

from interviews.engine.base import Provider, Turn

logger = logging.getLogger("interviews.engine")


def _provider_classes() -> dict[str, type]:
    from interviews.engine.openai_chat import OpenAIProvider
    from interviews.engine.scripted import ScriptedProvider

    return {"scripted": ScriptedProvider, "openai": OpenAIProvider}


def provider_names(configured: list[str]) -> list[str]:
    """The chain for ``configured`` names: known, deduplicated, in order, ``scripted`` last."""
    known = _provider_classes()
    names: list[str] = []
    for raw in configured:
        name = str(raw).strip().lower()
        if not name or name in names:
            continue
        if name not in known:
            logger.error("unknown interviewer provider %r in INTERVIEWER_PROVIDERS; skipped", raw)
            continue
        names.append(name)
    if "scripted" in names:
        names = names[: names.index("scripted") + 1]  # nothing after the provider that cannot fail
    else:
        names.append("scripted")
    return names


class ProviderChain:
    name = "chain"

    def __init__(self, providers: list[Provider]):
        self.providers = providers

    @classmethod
    def from_names(cls, configured: list[str]) -> "ProviderChain":
        classes = _provider_classes()
        return cls([classes[name]() for name in provider_names(configured)])

    def first_turn(self, interview) -> Turn:
        return self._ask(interview, "first_turn", lambda provider: provider.first_turn(interview))

    def next_turn(self, interview, history, answer: str) -> Turn:
        return self._ask(interview, "next_turn", lambda provider: provider.next_turn(interview, history, answer))

    def _ask(self, interview, step: str, call) -> Turn:
        last = len(self.providers) - 1
        for i, provider in enumerate(self.providers):
            state = copy.deepcopy(interview.engine_state)
            if i == last:
                return call(provider)  # the last resort's errors are real bugs: let them surface
            try:
                turn = call(provider)
                if not isinstance(turn, Turn):
                    raise TypeError(f"{provider.name} returned {type(turn).__name__}, not a Turn")
                return turn
            except Exception as exc:
                interview.engine_state = state
                logger.warning(
                    "interviewer provider %s failed (%s) on interview %s during %s; falling back to %s",
                    provider.name,
                    exc,
                    interview.id,
                    step,
                    self.providers[i + 1].name,
                )
        raise AssertionError("unreachable: the chain is never empty")
