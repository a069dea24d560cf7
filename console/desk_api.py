"""The agent desk API (``/api/desk/...``) and socket (``WS /ws/desk``): agents (and supervisors, who
take calls too) set their state and accept, decline, hang up, transfer or call back their calls;
supervisors edit agents' skills and languages. Roles: agent, supervisor (admins pass every check;
an admin has no routing agent, so admins only watch). Every action is one ``RoutingEngine``
transaction, run off the event loop; refusals are ``{"error": {"code", "message"}}`` — 404 for an
unknown queue or call, 409 for an action the agent's state does not allow, 422 for bad input."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from console.auth import Staff, require
from console.desk import DeskHub, leg_error
from console.staff_ws import WS_TRY_AGAIN, accept_staff, close, watch_session
from routing.agent_state import AgentState, AgentTransitionError, NotReadyReason
from routing.models import AgentView, CallStatus
from routing.queries import RoutingError
from skycall.routing_service import AgentRow, RoutingService, agent_state_payload

log = logging.getLogger(__name__)
router = APIRouter(tags=["desk"])
Desk = Annotated[Staff, Depends(require("agent", "supervisor"))]
Supervisor = Annotated[Staff, Depends(require("supervisor"))]
T = TypeVar("T")

AGENT_REASONS = [r.value for r in NotReadyReason if r is not NotReadyReason.RING_NO_ANSWER]
Reason = Literal["break", "lunch", "training", "meeting", "back_office"]


def _routing(request: Request) -> RoutingService:
    routing: RoutingService | None = getattr(request.app.state, "routing", None)
    if routing is None:
        raise HTTPException(503, "call routing is still starting; try again in a moment")
    return routing


Routing = Annotated[RoutingService, Depends(_routing)]


class StateIn(BaseModel):
    action: Literal["log_in", "ready", "not_ready", "finish_wrap_up", "log_out"]
    reason: Reason | None = Field(None, description="not_ready: why (break, lunch, training, meeting, back_office)")


class TransferIn(BaseModel):
    queue_id: str = Field(min_length=1, max_length=64, description="the queue that takes the call over")


class CallbackIn(BaseModel):
    number: str = Field(min_length=3, max_length=40, description="the number to call the caller back on")


class AgentEdit(BaseModel):
    skills: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")], Annotated[int, Field(ge=1, le=5)]] | None = (
        None
    )
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2,8}$")]] | None = Field(None, min_length=1)
    name: str | None = Field(None, max_length=200)


def _refusal(exc: Exception) -> JSONResponse:
    if isinstance(exc, RoutingError):
        status, code = leg_error(exc), exc.code
    else:  # AgentTransitionError: the agent's state does not allow it
        status, code = 409, "wrong_state"
    return JSONResponse({"error": {"code": code, "message": str(exc)}}, status_code=status)


async def _act(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | JSONResponse:
    """Run one engine action in a worker thread; routing refusals become JSON errors."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except (RoutingError, AgentTransitionError) as exc:
        return _refusal(exc)


def _agent_id(staff: Staff) -> str:
    if staff.role not in ("agent", "supervisor"):
        raise HTTPException(409, "admins do not take calls; sign in with an agent or supervisor account")
    return staff.username


def _agent_out(view: AgentView, routing: RoutingService) -> dict[str, Any]:
    return {
        **agent_state_payload(view, routing.legs),
        "skills": dict(view.skills),
        "languages": sorted(view.languages),
        "calls_handled": view.calls_handled,
    }


def _row_out(row: AgentRow) -> dict[str, Any]:
    return {
        "agent_id": row.agent_id,
        "name": row.name,
        "state": row.state,
        "reason": row.reason,
        "since": row.since.isoformat(),
        "call_id": row.call_id,
        "skills": row.skills,
        "languages": row.languages,
        "calls_handled": row.calls_handled,
    }


# -- me and my state ------------------------------------------------------------------------------


@router.get("/api/desk/me")
async def me(staff: Desk, routing: Routing, request: Request) -> dict[str, Any]:
    """My agent state, the call ringing or connected (with its packet), the queues, the reasons."""
    agent: dict[str, Any] | None = None
    call: dict[str, Any] | None = None
    if staff.role in ("agent", "supervisor"):
        view = await asyncio.to_thread(routing.ensure_agent, staff.username)
        agent = _agent_out(view, routing)
        if view.current_call_id is not None:
            leg = await asyncio.to_thread(routing.engine.call, call_id=view.current_call_id)
            call_id = routing.legs.voice_call(leg.call_id)
            hub: DeskHub | None = getattr(request.app.state, "desk", None)
            packet = None if hub is None else await hub.packet(call_id)
            call = {
                "call_id": call_id,
                "queue_id": leg.queue_id,
                "ringing": leg.status == CallStatus.OFFERED,
                "waited_s": round((datetime.now(UTC) - leg.enqueued_at).total_seconds(), 1),
                "callback": leg.callback,
                "packet": packet,
            }
    live = {q.queue_id: q for q in await asyncio.to_thread(routing.reports.live)}
    queues = [
        {
            "queue_id": q.queue_id,
            "name": q.name,
            "language": q.language,
            "skills": dict(q.required_skills),
            "waiting": live[q.queue_id].waiting if q.queue_id in live else 0,
        }
        for q in await asyncio.to_thread(routing.queues)
    ]
    return {
        "username": staff.username,
        "role": staff.role,
        "agent": agent,
        "call": call,
        "queues": queues,
        "reasons": AGENT_REASONS,
    }


def _change_state(routing: RoutingService, agent_id: str, body: StateIn) -> AgentView:
    engine = routing.engine
    view = routing.ensure_agent(agent_id)
    if body.action == "log_in":
        return engine.log_in(agent_id=agent_id)
    if body.action == "log_out":
        return engine.log_out(agent_id=agent_id)
    if body.action == "finish_wrap_up":
        return engine.finish_wrap_up(agent_id=agent_id)
    if body.action == "not_ready":
        if body.reason is None:
            raise RoutingError("reason_required", f"say why you are not ready: one of {', '.join(AGENT_REASONS)}")
        if view.state == AgentState.OFFLINE:
            engine.log_in(agent_id=agent_id)
        return engine.pause(agent_id=agent_id, reason=NotReadyReason(body.reason))
    # ready: from wherever the agent is, the one transition that makes them available
    ready = {
        AgentState.OFFLINE: engine.log_in,
        AgentState.NOT_READY: engine.resume,
        AgentState.WRAP_UP: engine.finish_wrap_up,
    }.get(view.state)
    return view if ready is None else ready(agent_id=agent_id)


@router.post("/api/desk/state")
async def change_state(body: StateIn, staff: Desk, routing: Routing) -> Any:
    """``log_in``, ``ready`` (from offline, not ready or wrap-up), ``not_ready`` with a reason,
    ``finish_wrap_up``, ``log_out``."""
    agent_id = _agent_id(staff)
    result = await _act(_change_state, routing, agent_id, body)
    if isinstance(result, JSONResponse):
        return result
    routing.nudge()
    return _agent_out(result, routing)


# -- calls ----------------------------------------------------------------------------------------


def _ringing(routing: RoutingService, agent_id: str, call_id: str) -> str:
    leg = routing.current_leg(agent_id, call_id)
    if leg.status != CallStatus.OFFERED:
        raise RoutingError("not_ringing", f"call {call_id!r} is not ringing at you any more ({leg.status})")
    return leg.call_id


def _accept(routing: RoutingService, agent_id: str, call_id: str) -> dict[str, Any]:
    _ringing(routing, agent_id, call_id)
    leg = routing.engine.answer(agent_id=agent_id)
    out: dict[str, Any] = {"call_id": call_id, "state": "connected", "queue_id": leg.queue_id}
    if leg.callback:  # the agent dials the caller back: the number is shown to them only
        out["callback_number"] = routing.engine.callback_number(call_id=leg.call_id)
    return out


def _decline(routing: RoutingService, agent_id: str, call_id: str) -> dict[str, Any]:
    _ringing(routing, agent_id, call_id)
    routing.engine.ring_no_answer(agent_id=agent_id)
    routing.nudge()
    return {
        "call_id": call_id,
        "state": "declined",
        "agent": _agent_out(routing.engine.agent(agent_id=agent_id), routing),
    }


def _hang_up(routing: RoutingService, agent_id: str, call_id: str) -> dict[str, Any]:
    leg = routing.current_leg(agent_id, call_id)
    if leg.status != CallStatus.ASSIGNED:
        raise RoutingError("not_connected", f"call {call_id!r} is not connected to you; decline it instead")
    view = routing.engine.end_call(agent_id=agent_id)
    return {"call_id": call_id, "state": "ended", "agent": _agent_out(view, routing)}


def _unanswered(routing: RoutingService, agent_id: str, call_id: str) -> dict[str, Any]:
    routing.current_leg(agent_id, call_id)
    leg = routing.engine.callback_unanswered(agent_id=agent_id)
    routing.nudge()
    return {"call_id": call_id, "state": "callback_unanswered", "status": str(leg.status)}


async def _close_caller_line(request: Request, call_id: str) -> bool:
    """``CallSession.agent_hang_up()`` of the live voice call (a polite goodbye to the caller);
    False when the call is not live in this server (e.g. a callback) or the session failed."""
    session = request.app.state.active_calls.get(call_id)
    hang = getattr(session, "agent_hang_up", None)
    if not callable(hang):
        return False
    try:
        done = hang()
        if inspect.isawaitable(done):
            await done
    except Exception:
        log.exception("agent hang-up of the voice session failed", extra={"call_id": call_id})
        return False
    return True


@router.post("/api/desk/calls/{call_id}/accept")
async def accept(call_id: str, staff: Desk, routing: Routing) -> Any:
    """Pick up the call ringing at me (``RoutingEngine.answer``)."""
    return await _act(_accept, routing, _agent_id(staff), call_id)


@router.post("/api/desk/calls/{call_id}/decline")
async def decline(call_id: str, staff: Desk, routing: Routing) -> Any:
    """Let the ringing call go (``ring_no_answer``): it goes back to its place in line and I become
    not ready (``ring_no_answer``) until I am ready again."""
    return await _act(_decline, routing, _agent_id(staff), call_id)


@router.post("/api/desk/calls/{call_id}/hangup")
async def hang_up(call_id: str, staff: Desk, routing: Routing, request: Request) -> Any:
    """End my connected call (``end_call``: I go to wrap-up) and the caller's line (the session's
    ``agent_hang_up``, which says goodbye), when the call is live in this server."""
    result = await _act(_hang_up, routing, _agent_id(staff), call_id)
    if isinstance(result, JSONResponse):
        return result
    result["caller_line_closed"] = await _close_caller_line(request, call_id)
    return result


@router.post("/api/desk/calls/{call_id}/transfer")
async def transfer(call_id: str, body: TransferIn, staff: Desk, routing: Routing) -> Any:
    """Hand my connected call to another queue: the caller waits there (same priority, the packet
    follows the call), I go to wrap-up."""
    queued = await _act(routing.transfer, _agent_id(staff), call_id, queue_id=body.queue_id)
    if isinstance(queued, JSONResponse):
        return queued
    return {"call_id": call_id, "state": "transferred", "queue_id": queued.queue_id}


@router.post("/api/desk/calls/{call_id}/callback")
async def callback(call_id: str, body: CallbackIn, staff: Desk, routing: Routing, request: Request) -> Any:
    """Promise the caller a callback on ``number``: it waits in the same queue as a callback
    (routing keeps its priority), I go to wrap-up and the caller's line closes."""
    queued = await _act(routing.schedule_callback, _agent_id(staff), call_id, number=body.number)
    if isinstance(queued, JSONResponse):
        return queued
    closed = await _close_caller_line(request, call_id)
    return {
        "call_id": call_id,
        "state": "callback_scheduled",
        "queue_id": queued.queue_id,
        "caller_line_closed": closed,
    }


@router.post("/api/desk/calls/{call_id}/unanswered")
async def callback_unanswered(call_id: str, staff: Desk, routing: Routing) -> Any:
    """The caller did not pick up my callback: it goes back in line (abandoned after the last try)."""
    return await _act(_unanswered, routing, _agent_id(staff), call_id)


# -- supervisors: agents' skills and languages ----------------------------------------------------


@router.get("/api/desk/agents")
async def list_agents(_: Supervisor, routing: Routing) -> list[dict[str, Any]]:
    return [_row_out(row) for row in await asyncio.to_thread(routing.agents)]


@router.put("/api/desk/agents/{agent_id}")
async def edit_agent(agent_id: str, body: AgentEdit, _: Supervisor, routing: Routing) -> Any:
    """Change an agent's skills (skill → level 1–5), languages or display name; the state stays."""
    row = await _act(routing.update_agent, agent_id, skills=body.skills, languages=body.languages, name=body.name)
    return row if isinstance(row, JSONResponse) else _row_out(row)


# -- the desk socket ------------------------------------------------------------------------------


@router.websocket("/ws/desk")
async def desk_socket(ws: WebSocket) -> None:
    """First message ``{"type":"auth","token":...}``; then the hub's messages (``console/desk.py``)."""
    staff = await accept_staff(ws, "agent", "supervisor")
    if staff is None:
        return
    hub: DeskHub | None = getattr(ws.app.state, "desk", None)
    if hub is None:
        await close(ws, WS_TRY_AGAIN, "the desk is still starting; try again in a moment")
        return
    conn = await hub.connect(staff)
    pump = asyncio.create_task(hub.pump(conn, ws))
    watch = asyncio.create_task(watch_session(ws))
    try:
        while True:
            await hub.on_client(conn, await ws.receive_text())
    except (WebSocketDisconnect, KeyError, RuntimeError):
        pass
    finally:
        pump.cancel()
        watch.cancel()
        hub.disconnect(conn)
