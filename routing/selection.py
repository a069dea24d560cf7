"""The in-memory decision: which waiting call goes first, which agents may take it, who gets it.

Strategies are key functions (lower sorts first) and compose: ``compose(best_skill, longest_idle)``
picks the most skilled agent and, among equals, the one idle longest. The agent id breaks any
remaining tie, so a decision is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from routing.models import Candidate, QueuedCall, QueueSpec

Strategy = Callable[[Candidate, QueueSpec], float]


def is_eligible(agent: Candidate, queue: QueueSpec, *, language: str | None = None) -> bool:
    """The agent speaks the call's language (the queue's by default) and has every required skill
    at the required level or above."""
    if (language or queue.language) not in agent.languages:
        return False
    return all(agent.skills.get(skill, 0) >= level for skill, level in queue.required_skills.items())


def longest_idle(agent: Candidate, _queue: QueueSpec) -> float:
    return agent.idle_since.timestamp()


def fewest_calls(agent: Candidate, _queue: QueueSpec) -> float:
    return float(agent.calls_handled)


def best_skill(agent: Candidate, queue: QueueSpec) -> float:
    """Higher levels in the queue's required skills first (summed)."""
    return -float(sum(agent.skills.get(skill, 0) for skill in queue.required_skills))


def round_robin(agent: Candidate, _queue: QueueSpec) -> float:
    """The agent whose last call ended longest ago goes next, agents without a call first: agents
    take turns whatever their breaks (``longest_idle`` restarts an agent's clock after a pause)."""
    return agent.last_call_ended_at.timestamp() if agent.last_call_ended_at else float("-inf")


def compose(*strategies: Strategy) -> Callable[[Candidate, QueueSpec], tuple[float | str, ...]]:
    if not strategies:
        raise ValueError("compose needs at least one strategy, e.g. compose(longest_idle)")

    def key(agent: Candidate, queue: QueueSpec) -> tuple[float | str, ...]:
        return (*(s(agent, queue) for s in strategies), agent.agent_id)

    return key


STRATEGIES: dict[str, Strategy] = {
    "longest_idle": longest_idle,
    "fewest_calls": fewest_calls,
    "best_skill": best_skill,
    "round_robin": round_robin,
}

RankKey = Callable[[Candidate, QueueSpec], tuple[float | str, ...]]
DEFAULT_STRATEGY: RankKey = compose(longest_idle, fewest_calls)


def strategy_from_names(names: Iterable[str]) -> RankKey:
    """``["best_skill", "longest_idle"]`` → a composed key; unknown names are refused by name."""
    chosen = list(names)
    unknown = [n for n in chosen if n not in STRATEGIES]
    if unknown:
        raise ValueError(f"unknown selection strategies {unknown}; known: {sorted(STRATEGIES)}")
    return compose(*(STRATEGIES[n] for n in chosen))


def rank_agents(
    *, candidates: Iterable[Candidate], queue: QueueSpec, language: str | None = None, key: RankKey = DEFAULT_STRATEGY
) -> list[Candidate]:
    """Eligible candidates for a call in ``queue`` (speaking ``language``), best first."""
    return sorted((c for c in candidates if is_eligible(c, queue, language=language)), key=lambda c: key(c, queue))


def call_order(call: QueuedCall) -> tuple[int, datetime, str]:
    """Waiting calls, best first: higher priority, then longer wait (earlier enqueue)."""
    return (-call.priority, call.enqueued_at, call.call_id)
