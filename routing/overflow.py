"""Overflow: after a call has waited long enough, more agents may take it.

A queue's rules are sorted by ``after_s``; once a call has waited ``after_s`` seconds, each rule it
has reached adds a *tier* of agents: the agents eligible for queue ``to_queue`` (in the caller's
language), and/or the agents who meet the queue's own skills with levels lowered by
``relax_skills_by`` (never below 1: the skill itself stays required). The decision tries the
queue's own agents first, then each tier in order. The call stays in its queue with its original
``enqueued_at``, so it keeps its place and its priority; nothing is written when a threshold is
crossed (eligibility is worked out from the wait at each decision), so when the queue's own agents
free up they take it as before — it "returns" without any state to undo.

A rule with an ``offer`` (callback or voicemail) is different: the offer is made to the caller once
(the engine writes ``overflow_offer`` and publishes ``CallOverflowed``); the call stays in line
until the caller accepts (``request_callback``, ``leave_voicemail``), so if an agent frees up first
it is served as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from routing.models import OverflowOffer, OverflowRule, QueueSpec

OverflowRules = Mapping[str, Sequence[OverflowRule]]
__all__ = ["OverflowOffer", "OverflowRule", "OverflowRules", "due_offer", "eligibility_tiers"]


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


def due_offer(rules: Sequence[OverflowRule], *, waited_s: float) -> OverflowRule | None:
    """The latest offer rule the call has reached after ``waited_s`` seconds, if any."""
    reached = [r for r in rules if r.offer is not None and waited_s >= r.after_s]
    return max(reached, key=lambda r: r.after_s) if reached else None
