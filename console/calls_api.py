"""Call records for supervisors, QA and admins: ``GET /api/calls`` (paged, newest first, filtered),
``GET /api/calls/{id}`` (the call with its turns: text, language, confidence, citations, latency
trace) and ``GET /api/calls/{id}/recording/{caller|bot}`` (the WAV file of one side, streamed).

Every recording access is written to the audit log, allowed or not found. Call ids are UUIDs (the
``uuid`` path convertor keeps ``/api/calls/token``, the open caller endpoint, out of these routes).
A call counts as *handed off* when the ACD holds a queued call with its id (``queued_calls``), as in
the reports."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from console.audit import Actor, record
from console.auth import Staff, now_of, require
from routing.tables import QueuedCallRecord
from voicebot.tables import CallRecord, TurnRecord

router = APIRouter(prefix="/api/calls", tags=["calls"])
Reviewer = Annotated[Staff, Depends(require("supervisor", "qa"))]  # admins pass too
Side = Literal["caller", "bot"]


class _FromAttributes(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class CallSummaryOut(_FromAttributes):
    id: str
    channel: str
    language: str | None
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    duration_s: float | None
    turns: int
    handed_off: bool
    has_recording: bool


class CallPageOut(BaseModel):
    items: list[CallSummaryOut]
    total: int
    page: int
    per_page: int


class TurnOut(BaseModel):
    seq: int
    role: str
    text: str
    language: str | None
    confidence: float | None
    citations: list[Any]
    latency_ms: dict[str, Any]
    created_at: datetime


class CallOut(CallSummaryOut):
    recordings: dict[str, str]  # side → URL of the WAV, for the sides that exist
    turn_list: list[TurnOut]


def _sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] | None = request.app.state.sessions
    if sessions is None:
        raise HTTPException(503, "the server is still starting; try again in a moment")
    return sessions


def _utc_filter(moment: datetime | None, name: str) -> datetime | None:
    """A filter bound in UTC: SQLite keeps ``calls.started_at`` as naive UTC text."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise HTTPException(422, f"{name} needs a time zone, e.g. 2026-12-01T08:00:00+08:00")
    return moment.astimezone(UTC)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _handed_off() -> Any:
    return exists().where(QueuedCallRecord.id == CallRecord.id)


def _turn_count() -> Any:
    return select(func.count(TurnRecord.id)).where(TurnRecord.call_id == CallRecord.id).scalar_subquery()


def _recording(call: CallRecord, side: str) -> Path | None:
    if not call.recording_dir:
        return None
    path = Path(call.recording_dir) / f"{side}.wav"
    return path if path.is_file() else None


def _summary(call: CallRecord, turns: int, handed_off: bool) -> dict[str, Any]:
    started = _utc(call.started_at)
    ended = _utc(call.ended_at) if call.ended_at is not None else None
    return {
        "id": call.id,
        "channel": call.channel,
        "language": call.language,
        "started_at": started,
        "ended_at": ended,
        "end_reason": call.end_reason,
        "duration_s": (ended - started).total_seconds() if ended is not None else None,
        "turns": turns,
        "handed_off": handed_off,
        "has_recording": _recording(call, "caller") is not None or _recording(call, "bot") is not None,
    }


@router.get("", response_model=CallPageOut)
def list_calls(
    _: Reviewer,
    request: Request,
    since: Annotated[datetime | None, Query(description="calls started at or after (ISO 8601, with a zone)")] = None,
    until: Annotated[datetime | None, Query(description="calls started before (ISO 8601, with a zone)")] = None,
    language: Annotated[str | None, Query(max_length=8, description="zh or en")] = None,
    end_reason: Annotated[str | None, Query(max_length=64, description="e.g. caller_hangup, silence")] = None,
    handed_off: Annotated[bool | None, Query(description="true: put in an ACD queue; false: the bot only")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 25,
) -> CallPageOut:
    """Calls, newest first."""
    stmt: Select[Any] = select(CallRecord, _turn_count(), _handed_off())
    if (start := _utc_filter(since, "since")) is not None:
        stmt = stmt.where(CallRecord.started_at >= start)
    if (end := _utc_filter(until, "until")) is not None:
        stmt = stmt.where(CallRecord.started_at < end)
    if language:
        stmt = stmt.where(CallRecord.language == language)
    if end_reason:
        stmt = stmt.where(CallRecord.end_reason == end_reason)
    if handed_off is not None:
        stmt = stmt.where(_handed_off() if handed_off else ~_handed_off())
    with _sessions(request)() as db:
        total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = db.execute(
            stmt.order_by(CallRecord.started_at.desc(), CallRecord.id).limit(per_page).offset((page - 1) * per_page)
        ).all()
        items = [CallSummaryOut.model_validate(_summary(c, int(n), bool(h))) for c, n, h in rows]
    return CallPageOut(items=items, total=int(total), page=page, per_page=per_page)


def _call(db: Session, call_id: uuid.UUID) -> CallRecord:
    call = db.get(CallRecord, str(call_id))
    if call is None:
        raise HTTPException(404, f"there is no call {call_id}; find calls with GET /api/calls")
    return call


@router.get("/{call_id:uuid}", response_model=CallOut, responses={404: {}})
def get_call(call_id: uuid.UUID, _: Reviewer, request: Request) -> CallOut:
    """One call with all its turns in order."""
    with _sessions(request)() as db:
        call = _call(db, call_id)
        turns = db.scalars(select(TurnRecord).where(TurnRecord.call_id == call.id).order_by(TurnRecord.seq)).all()
        handed = bool(db.scalar(select(exists().where(QueuedCallRecord.id == call.id))))
        recordings = {
            side: f"/api/calls/{call.id}/recording/{side}" for side in ("caller", "bot") if _recording(call, side)
        }
        return CallOut.model_validate(
            {
                **_summary(call, len(turns), handed),
                "recordings": recordings,
                "turn_list": [
                    TurnOut(
                        seq=t.seq,
                        role=t.role,
                        text=t.text,
                        language=t.language,
                        confidence=t.confidence,
                        citations=t.citations,
                        latency_ms=t.latency_ms,
                        created_at=_utc(t.created_at),
                    )
                    for t in turns
                ],
            }
        )


@router.get("/{call_id:uuid}/recording/{side}", response_model=None, responses={200: {"content": {"audio/wav": {}}}})
def get_recording(call_id: uuid.UUID, side: Side, staff: Reviewer, request: Request) -> FileResponse | JSONResponse:
    """The WAV recording of one side of the call (16-bit mono; both sides share one timeline).
    Each access is written to the audit log."""
    sessions = _sessions(request)
    with sessions() as db:
        call = db.get(CallRecord, str(call_id))
        path = _recording(call, side) if call is not None else None
    if call is None:
        status, message = 404, f"there is no call {call_id}; find calls with GET /api/calls"
    elif path is None:
        status, message = (
            404,
            (
                f"call {call_id} has no {side} recording (recording was off, the call failed before audio, "
                "or the file was removed)"
            ),
        )
    else:
        status, message = 200, ""
    client = request.client.host if request.client else "unknown"
    record(
        sessions,
        actor=Actor(staff.id, staff.username, staff.role),
        action="recording.read",
        method=request.method,
        path=request.url.path,
        target=f"call={call_id},side={side}",
        status=status,
        client=client,
        at=now_of(request.app.state),
    )
    if path is None:
        return JSONResponse({"error": {"code": "recording_not_found", "message": message}}, status_code=404)
    return FileResponse(path, media_type="audio/wav", filename=f"{call_id}-{side}.wav")
