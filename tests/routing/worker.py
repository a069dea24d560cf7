"""One ACD worker process for the concurrency tests: assign, answer, end and finish wrap-up in a
loop until no waiting call is left. Runs in a spawned process, so it imports nothing from pytest."""

from __future__ import annotations

from typing import Any

from routing.engine import RoutingEngine
from routing.models import Channel
from skycall.storage import create_engine_for


def run_worker(url: str, name: str, start: Any, results: Any, batch: int = 1) -> None:
    """``start`` is a multiprocessing barrier shared with the other worker; the list of
    (call id, agent id) pairs this worker assigned goes to the ``results`` queue. ``batch`` > 1
    makes the decisions with ``assign_batch``."""
    engine = create_engine_for(url)
    acd = RoutingEngine(engine=engine)
    assigned: list[tuple[str, str]] = []
    idle_rounds = 0
    start.wait(timeout=60)
    try:
        while idle_rounds < 3:
            made = acd.assign_batch(limit=batch)
            if not made:
                idle_rounds = idle_rounds + 1 if not acd.waiting_calls() else 0
                continue
            idle_rounds = 0
            for assignment in made:
                assigned.append((assignment.call_id, assignment.agent_id))
                acd.answer(agent_id=assignment.agent_id)
                acd.end_call(agent_id=assignment.agent_id)
                acd.finish_wrap_up(agent_id=assignment.agent_id)
    finally:
        results.put((name, assigned))
        engine.dispose()


def run_mixed_worker(url: str, name: str, start: Any, results: Any) -> None:
    """Like :func:`run_worker` on a mix of voice calls and chats: a voice call is answered, ended and
    wrapped up at once; a chat is held while the worker takes up to two more, then ended, so chats
    overlap at one agent and across the two workers."""
    engine = create_engine_for(url)
    acd = RoutingEngine(engine=engine)
    assigned: list[tuple[str, str]] = []
    held: list[str] = []
    idle_rounds = 0
    start.wait(timeout=60)
    try:
        while idle_rounds < 3:
            assignment = acd.assign_next()
            if assignment is None:
                if held:
                    acd.end_chat(call_id=held.pop(0))
                    continue
                idle_rounds = idle_rounds + 1 if not acd.waiting_calls() else 0
                continue
            idle_rounds = 0
            assigned.append((assignment.call_id, assignment.agent_id))
            if assignment.channel is Channel.CHAT:
                held.append(assignment.call_id)
                if len(held) > 2:
                    acd.end_chat(call_id=held.pop(0))
            else:
                acd.answer(agent_id=assignment.agent_id)
                acd.end_call(agent_id=assignment.agent_id)
                acd.finish_wrap_up(agent_id=assignment.agent_id)
        for call_id in held:
            acd.end_chat(call_id=call_id)
    finally:
        results.put((name, assigned))
        engine.dispose()
