"""Overflow: after a call has waited long enough, more agents may take it.

A queue's rules are sorted by ``after_s``; once a call has waited ``after_s`` seconds, each rule it
has reached adds a *tier* of agents: the agents eligible for queue ``to_queue`` (in the caller's
language), and/or the agents who meet the queue's own skills with levels lowered by
``relax_skills_by`` (never below 1: the skill itself stays required). The decision tries the
queue's own agents first, then each tier in order. The call stays in its queue with its original
``enqueued_at``, so it keeps its place and its priority; nothing is written when a threshold is
crossed (eligibility is worked out from the wait at each decision), so when the queue's own agents
free up they take it as before — it "returns" without any state to undo.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from routing.models import QueueSpec


@dataclass(frozen=True)
class OverflowRule:
    after_s: float
    to_queue: str | None = None  # also offer the call to this queue's agents
    relax_skills_by: int = 0  # also offer it to agents whose levels are this much lower (≥ 1)

    def __post_init__(self) -> None:
        if self.after_s < 0 or self.relax_skills_by < 0:
            raise ValueError(f"after_s and relax_skills_by must be ≥ 0, got {self.after_s!r}, {self.relax_skills_by!r}")
        if self.to_queue is None and self.relax_skills_by == 0:
            raise ValueError("an overflow rule needs to_queue, relax_skills_by ≥ 1, or both; it would change nothing")


OverflowRules = Mapping[str, Sequence[OverflowRule]]


def eligibility_tiers(
    *, queue: QueueSpec, rules: Sequence[OverflowRule], waited_s: float, lookup: Callable[[str], QueueSpec]
) -> list[QueueSpec]:
    """The queue itself, then one spec per tier the call has reached after ``waited_s`` seconds."""
    tiers = [queue]
    for rule in sorted(rules, key=lambda r: r.after_s):
        if waited_s < rule.after_s:
            break
        if rule.to_queue is not None:
            tiers.append(lookup(rule.to_queue))
        if rule.relax_skills_by:
            relaxed = {skill: max(1, level - rule.relax_skills_by) for skill, level in queue.required_skills.items()}
            tiers.append(replace(queue, required_skills=relaxed))
    return tiers
