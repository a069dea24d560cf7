"""The supervisor wallboard: ``GET /api/wallboard`` (one snapshot) and ``WS /ws/wallboard`` (the
snapshot pushed every ``SKYCALL_WALLBOARD_PUSH_S``). Roles: supervisor (and admin).

A snapshot has, per queue, the calls in line now, the longest current wait and the agents able to
take its calls by state (``KpiReports.live``), and today's offered / answered / abandoned calls,
service level, ASA and AHT; the same for all queues together; every agent with its state, since
when and its call; and today's calls per hour for the chart. "Today" is the local day in the
routing time zone (``routing/defaults.yaml``). Today's figures come from one read of the ended
calls, grouped here and passed to ``routing/kpi.py``'s formulas, so they match the reports.

Snapshots are computed at most once a second, in a worker thread, and shared by every socket.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request, WebSocket, WebSocketDisconnect

from console.auth import Staff, require
from console.staff_ws import WS_TRY_AGAIN, accept_staff, close, watch_session
from routing.kpi import CallOutcome, QueueKpis, queue_kpis
from skycall.routing_service import RoutingService

router = APIRouter(tags=["wallboard"])
Supervisor = Annotated[Staff, Depends(require("supervisor"))]
BUSY = ("reserved", "on_call", "wrap_up")


def _kpis(routing: RoutingService, outcomes: Iterable[CallOutcome]) -> dict[str, Any]:
    k: QueueKpis = queue_kpis(
        outcomes=list(outcomes),
        service_target_s=routing.reports.service_target_s,
        short_abandon_s=routing.reports.short_abandon_s,
    )
    return {
        "offered": k.offered,
        "answered": k.answered,
        "abandoned": k.abandoned,
        "service_level": k.service_level,
        "asa_s": k.asa_s,
        "aht_s": k.aht_s,
    }


def snapshot(routing: RoutingService, *, now: datetime | None = None) -> dict[str, Any]:
    """The wallboard now (blocking: run it in a worker thread)."""
    now = now or datetime.now(UTC)
    zone = ZoneInfo(routing.timezone)
    day_start = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    since = day_start.astimezone(UTC)
    until = (day_start + timedelta(days=1)).astimezone(UTC)
    outcomes = routing.reports.outcomes(since=since, until=until)
    live = routing.reports.live()
    names = {q.queue_id: q.name for q in routing.queues()}
    agents = routing.agents()

    by_queue: dict[str, list[CallOutcome]] = defaultdict(list)
    by_hour: dict[int, list[CallOutcome]] = defaultdict(list)
    for o in outcomes:
        by_queue[o.queue_id].append(o)
        by_hour[o.enqueued_at.astimezone(zone).hour].append(o)
    hours = [_kpis(routing, by_hour.get(h, ())) for h in range(24)]

    queues = []
    for q in live:
        states = q.agents_by_state
        queues.append(
            {
                "queue_id": q.queue_id,
                "name": names.get(q.queue_id, q.queue_id),
                "waiting": q.waiting,
                "callbacks": q.callbacks,
                "ringing": q.ringing,
                "in_progress": q.in_progress,
                "longest_wait_s": q.longest_wait_s,
                "agents": {
                    "ready": states.get("available", 0),
                    "busy": sum(states.get(s, 0) for s in BUSY),
                    "not_ready": states.get("not_ready", 0),
                },
                "today": _kpis(routing, by_queue.get(q.queue_id, ())),
            }
        )
    waits = [q.longest_wait_s for q in live if q.longest_wait_s is not None]
    return {
        "at": now.isoformat(),
        "timezone": routing.timezone,
        "service_target_s": routing.reports.service_target_s,
        "queues": queues,
        "totals": {
            "waiting": sum(q.waiting + q.callbacks for q in live),
            "longest_wait_s": max(waits) if waits else None,
            **_kpis(routing, outcomes),
        },
        "agents": [
            {
                "agent_id": a.agent_id,
                "name": a.name,
                "state": a.state,
                "reason": a.reason,
                "since": a.since.isoformat(),
                "in_state_s": round((now - a.since).total_seconds(), 1),
                "call_id": a.call_id,
                "calls_handled": a.calls_handled,
            }
            for a in agents
        ],
        "agent_states": dict(Counter(a.state for a in agents)),
        "hourly": {
            "labels": [f"{h:02d}" for h in range(24)],
            "offered": [h["offered"] for h in hours],
            "answered": [h["answered"] for h in hours],
            "abandoned": [h["abandoned"] for h in hours],
        },
    }


class WallboardFeed:
    """One snapshot at a time, at most once per ``max_age_s``, shared by every wallboard."""

    def __init__(self, routing: RoutingService, *, max_age_s: float = 1.0) -> None:
        self.routing = routing
        self._max_age_s = max_age_s
        self._lock = asyncio.Lock()
        self._latest: dict[str, Any] | None = None
        self._taken = 0.0

    async def latest(self) -> dict[str, Any]:
        async with self._lock:
            if self._latest is None or time.monotonic() - self._taken >= self._max_age_s:
                self._latest = await asyncio.to_thread(snapshot, self.routing)
                self._taken = time.monotonic()
            return self._latest


def _feed(state: Any) -> WallboardFeed | None:
    routing: RoutingService | None = getattr(state, "routing", None)
    if routing is None:
        return None
    feed: WallboardFeed | None = getattr(state, "wallboard_feed", None)
    if feed is None or feed.routing is not routing:
        feed = WallboardFeed(routing)
        state.wallboard_feed = feed
    return feed


@router.get("/api/wallboard")
async def wallboard(_: Supervisor, request: Request) -> dict[str, Any]:
    feed = _feed(request.app.state)
    if feed is None:
        raise HTTPException(503, "call routing is still starting; try again in a moment")
    return await feed.latest()


@router.websocket("/ws/wallboard")
async def wallboard_socket(ws: WebSocket) -> None:
    """First message ``{"type":"auth","token":...}``; then ``{"type":"snapshot", ...}`` every
    ``SKYCALL_WALLBOARD_PUSH_S`` seconds (and at once on ``{"type":"refresh"}``)."""
    staff = await accept_staff(ws, "supervisor")
    if staff is None:
        return
    feed = _feed(ws.app.state)
    if feed is None:
        await close(ws, WS_TRY_AGAIN, "call routing is still starting; try again in a moment")
        return
    every = float(getattr(ws.app.state.settings, "wallboard_push_s", 2.0))
    watch = asyncio.create_task(watch_session(ws))
    try:
        while True:
            await ws.send_json({"type": "snapshot", **await feed.latest()})
            try:
                await asyncio.wait_for(ws.receive_text(), timeout=every)
            except TimeoutError:
                pass
    except (WebSocketDisconnect, KeyError, RuntimeError):
        return
    finally:
        watch.cancel()
