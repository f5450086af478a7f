"""The fallback chain ``INTERVIEWER_PROVIDERS``: the first provider that produces a turn answers.

The interview never stalls: ``scripted`` (offline, deterministic) is always the last link. Each
provider is asked up to its ``attempts`` times; an attempt that fails after it streamed some
of the question is followed by ``on_reset`` (``question_reset``), so clients discard those
deltas before the next attempt streams its own. Providers return the engine state instead of
changing anything, so a failed one leaves nothing behind. Every fallback is logged with the
interview id.
"""

import logging

from interviews.engine.base import MessageData, OnDelta, Provider, ProviderError, Snapshot, Turn

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


class _Attempt:
    """``on_delta`` for one attempt: remembers whether anything was streamed."""

    def __init__(self, on_delta: OnDelta):
        self.on_delta = on_delta
        self.streamed = False

    def __call__(self, text: str) -> None:
        if text:
            self.streamed = True
            self.on_delta(text)


class ProviderChain:
    name = "chain"

    def __init__(self, providers: list[Provider]):
        self.providers = providers

    @classmethod
    def from_names(cls, configured: list[str]) -> "ProviderChain":
        classes = _provider_classes()
        return cls([classes[name]() for name in provider_names(configured)])

    @property
    def history_messages(self) -> int:
        """How many recent messages the most demanding provider of the chain wants."""
        return max((getattr(p, "history_messages", 0) for p in self.providers), default=0)

    async def first_turn(self, snapshot: Snapshot, on_delta: OnDelta, on_reset) -> Turn:
        return await self._ask(snapshot, "first_turn", on_delta, on_reset, lambda p, d: p.first_turn(snapshot, d))

    async def next_turn(
        self, snapshot: Snapshot, history: list[MessageData], answer: str, on_delta: OnDelta, on_reset
    ) -> Turn:
        return await self._ask(
            snapshot, "next_turn", on_delta, on_reset, lambda p, d: p.next_turn(snapshot, history, answer, d)
        )

    async def _ask(self, snapshot: Snapshot, step: str, on_delta: OnDelta, on_reset, call) -> Turn:
        last = len(self.providers) - 1
        for i, provider in enumerate(self.providers):
            attempts = max(1, getattr(provider, "attempts", 1))
            for attempt in range(1, attempts + 1):
                streamed = _Attempt(on_delta)
                if i == last and attempt == attempts:
                    return await call(provider, streamed)  # the last resort's errors are real bugs
                try:
                    turn = await call(provider, streamed)
                    if not isinstance(turn, Turn):
                        raise TypeError(f"{provider.name} returned {type(turn).__name__}, not a Turn")
                    return turn
                except Exception as exc:
                    if streamed.streamed:
                        on_reset()
                    retry = attempt < attempts and getattr(exc, "retry", True)
                    logger.warning(
                        "interviewer provider %s failed (attempt %d/%d: %s) on interview %s during %s; %s",
                        provider.name,
                        attempt,
                        attempts,
                        exc,
                        snapshot.interview_id,
                        step,
                        "retrying" if retry else f"falling back to {self.providers[i + 1].name}",
                    )
                    if not retry:
                        break
        raise AssertionError("unreachable: the chain is never empty")


__all__ = ["ProviderChain", "ProviderError", "provider_names"]
