"""Knowledge-base REST API: editors curate (role ``editor``); agents and supervisors read and
run retrieval tests. Every change goes through ``KnowledgeBase``, so the index follows the store."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from console.auth import Staff, require
from knowledge_ingest.files import SUPPORTED_SUFFIXES, FileRejectedError, load_file
from knowledge_ingest.loaders import KnowledgeFormatError, SourceDocument
from knowledge_ingest.service import KnowledgeBase, KnowledgeError
from knowledge_ingest.tables import KbDocument

router = APIRouter(prefix="/api/kb", tags=["knowledge base"])
Editor = Annotated[Staff, Depends(require("editor"))]
Reader = Annotated[Staff, Depends(require("editor", "agent", "supervisor", "qa"))]
Kind = Literal["document", "faq", "record"]
Lang = Literal["zh", "en"]


class DocumentOut(BaseModel):
    doc_key: str
    lang: str
    kind: str
    title: str
    category: str
    status: str
    enabled: bool
    version: int
    published_version: int | None
    valid_from: datetime | None
    valid_to: datetime | None
    chunks: int


class VersionOut(BaseModel):
    version: int
    title: str
    body: str
    spoken: str
    similar_questions: list[str]
    author: str
    created_at: datetime


class DocumentDetail(DocumentOut):
    body: str
    spoken: str
    versions: list[VersionOut]


class DocumentIn(BaseModel):
    title: str = Field(min_length=1, max_length=500)
    body: str = Field(min_length=1, max_length=200_000)
    spoken: str = Field("", max_length=2_000, description="short answer read aloud on the phone")
    category: str = Field("", max_length=100)
    similar_questions: list[str] = Field(default_factory=list, max_length=50)
    publish: bool = False
    enabled: bool = True
    valid_from: datetime | None = None
    valid_to: datetime | None = None


class SaveOut(BaseModel):
    version: int
    changed: bool
    status: str
    chunks: int


class ValidityIn(BaseModel):
    valid_from: datetime | None = None
    valid_to: datetime | None = None


class SynonymsIn(BaseModel):
    lang: Lang
    term: str = Field(min_length=1, max_length=200)
    synonyms: list[str] = Field(max_length=50)


class SearchHit(BaseModel):
    doc_key: str
    kind: str
    title: str
    text: str
    fused: float
    dense: float | None
    dense_rank: int | None
    keyword: float | None
    keyword_rank: int | None
    category: str
    version: int
    spoken: str


def _kb(request: Request) -> KnowledgeBase:
    kb: KnowledgeBase | None = request.app.state.kb
    if kb is None:
        raise HTTPException(503, "the knowledge base is still loading; try again in a moment")
    return kb


KB = Annotated[KnowledgeBase, Depends(_kb)]


def _out(d: KbDocument) -> dict[str, Any]:
    return {
        "doc_key": d.doc_key,
        "lang": d.lang,
        "kind": d.kind,
        "title": d.title,
        "category": d.category,
        "status": d.status,
        "enabled": d.enabled,
        "version": d.version,
        "published_version": d.published_version,
        "valid_from": d.valid_from,
        "valid_to": d.valid_to,
        "chunks": d.chunk_count,
    }


def _find(kb: KnowledgeBase, kind: str, lang: str, doc_key: str) -> KbDocument:
    try:
        return kb.document((doc_key, lang, kind))
    except KnowledgeError as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/documents", response_model=list[DocumentOut])
def list_documents(_: Reader, kb: KB, status: str | None = None, lang: Lang | None = None) -> list[DocumentOut]:
    return [
        DocumentOut(**_out(d))
        for d in kb.documents()
        if (status is None or d.status == status) and (lang is None or d.lang == lang)
    ]


@router.get("/documents/{kind}/{lang}/{doc_key}", response_model=DocumentDetail)
def get_document(kind: Kind, lang: Lang, doc_key: str, _: Reader, kb: KB) -> DocumentDetail:
    d = _find(kb, kind, lang, doc_key)
    versions = [
        VersionOut(
            version=v.version,
            title=v.title,
            body=v.body,
            spoken=v.spoken,
            similar_questions=list(v.similar_questions),
            author=v.author,
            created_at=v.created_at,
        )
        for v in kb.history((doc_key, lang, kind))
    ]
    return DocumentDetail(**_out(d), body=d.body, spoken=d.spoken, versions=versions)


@router.get("/documents/{kind}/{lang}/{doc_key}/diff")
def diff(kind: Kind, lang: Lang, doc_key: str, a: int, b: int, _: Reader, kb: KB) -> dict[str, str]:
    try:
        return {"diff": kb.diff((doc_key, lang, kind), a, b)}
    except KnowledgeError as exc:
        raise HTTPException(404, str(exc)) from None


@router.put("/documents/{kind}/{lang}/{doc_key}", response_model=SaveOut)
def save_document(kind: Kind, lang: Lang, doc_key: str, body: DocumentIn, staff: Editor, kb: KB) -> SaveOut:
    if body.valid_from and body.valid_to and body.valid_to <= body.valid_from:
        raise HTTPException(422, "valid_to must be after valid_from")
    doc = SourceDocument(
        doc_key=doc_key,
        lang=lang,
        kind=kind,
        title=body.title,
        category=body.category,
        body=body.body,
        source=f"api:{staff.username}",
        similar_questions=tuple(body.similar_questions),
        spoken=body.spoken.strip(),
        status="published" if body.publish else "draft",
        enabled=body.enabled,
        valid_from=body.valid_from,
        valid_to=body.valid_to,
    )
    result = kb.save(doc, author=staff.username, publish=body.publish)
    d = _find(kb, kind, lang, doc_key)
    return SaveOut(version=result.version, changed=result.changed, status=d.status, chunks=d.chunk_count)


def _act(kb: KnowledgeBase, action: str, key: tuple[str, str, str], version: int | None = None) -> DocumentOut:
    try:
        if action == "publish":
            kb.publish(key, version)
        elif action == "retire":
            kb.retire(key)
        else:
            kb.set_enabled(key, action == "enable")
    except KnowledgeError as exc:
        raise HTTPException(404, str(exc)) from None
    return DocumentOut(**_out(_find(kb, key[2], key[1], key[0])))


@router.post("/documents/{kind}/{lang}/{doc_key}/publish", response_model=DocumentOut)
def publish(kind: Kind, lang: Lang, doc_key: str, _: Editor, kb: KB, version: int | None = None) -> DocumentOut:
    return _act(kb, "publish", (doc_key, lang, kind), version)


@router.post("/documents/{kind}/{lang}/{doc_key}/retire", response_model=DocumentOut)
def retire(kind: Kind, lang: Lang, doc_key: str, _: Editor, kb: KB) -> DocumentOut:
    return _act(kb, "retire", (doc_key, lang, kind))


@router.post("/documents/{kind}/{lang}/{doc_key}/enable", response_model=DocumentOut)
def enable(kind: Kind, lang: Lang, doc_key: str, _: Editor, kb: KB) -> DocumentOut:
    return _act(kb, "enable", (doc_key, lang, kind))


@router.post("/documents/{kind}/{lang}/{doc_key}/disable", response_model=DocumentOut)
def disable(kind: Kind, lang: Lang, doc_key: str, _: Editor, kb: KB) -> DocumentOut:
    return _act(kb, "disable", (doc_key, lang, kind))


@router.put("/documents/{kind}/{lang}/{doc_key}/validity", response_model=DocumentOut)
def validity(kind: Kind, lang: Lang, doc_key: str, body: ValidityIn, _: Editor, kb: KB) -> DocumentOut:
    try:
        kb.set_validity((doc_key, lang, kind), body.valid_from, body.valid_to)
    except KnowledgeError as exc:
        raise HTTPException(422 if "valid_to" in str(exc) else 404, str(exc)) from None
    return DocumentOut(**_out(_find(kb, kind, lang, doc_key)))


@router.put("/synonyms")
def synonyms(body: SynonymsIn, _: Editor, kb: KB) -> dict[str, Any]:
    try:
        kb.set_synonyms(body.lang, body.term, body.synonyms)
    except KnowledgeError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"lang": body.lang, "term": body.term.lower(), "synonyms": body.synonyms}


@router.get("/search", response_model=list[SearchHit])
def search(
    q: str, lang: Lang, request: Request, _: Reader, k: int = 5, category: Annotated[list[str] | None, Query()] = None
) -> list[SearchHit]:
    """Retrieval test: the ranked chunks with their dense, keyword and fused scores."""
    if not q.strip() or len(q) > 1000:
        raise HTTPException(422, "q must be between 1 and 1000 characters")
    retriever = request.app.state.retriever
    if retriever is None:
        raise HTTPException(503, "the knowledge base is still loading; try again in a moment")
    return [
        SearchHit(
            doc_key=p.doc_key,
            kind=p.kind,
            title=p.title,
            text=p.text,
            fused=p.score,
            dense=p.dense_score,
            dense_rank=p.dense_rank,
            keyword=p.keyword_score,
            keyword_rank=p.keyword_rank,
            category=p.category,
            version=p.version,
            spoken=p.spoken,
        )
        for p in retriever.retrieve(q, language=lang, k=max(1, min(k, 50)), categories=category)
    ]


@router.get("/export")
def export(_: Reader, kb: KB) -> Response:
    """Every document as JSON lines (latest version and lifecycle); `skycall kb import` reads it."""
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kb.export())
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    return Response(
        lines,
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="skycall-kb-{stamp}.jsonl"'},
    )


class UploadOut(BaseModel):
    file: str
    documents: list[SaveOut]
    keys: list[str]


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


@router.post("/upload", response_model=UploadOut, responses={409: {}, 413: {}, 422: {}})
def upload(
    file: UploadFile,
    request: Request,
    staff: Editor,
    kb: KB,
    lang: Lang | None = None,
    category: str = "",
    publish: bool = False,
) -> UploadOut | JSONResponse:
    """Upload a PDF, DOCX, HTML, Markdown, text, CSV or JSON FAQ file. Bad input is refused with a
    reason and nothing is stored; a file whose content is already in the knowledge base is refused."""
    name = Path(file.filename or "upload").name
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        return _error(
            422,
            "unsupported_type",
            f"{name}: {suffix or 'no extension'} is not supported; upload one of {', '.join(SUPPORTED_SUFFIXES)}",
        )
    limit = request.app.state.settings.kb_max_upload_mb * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="skycall-upload-") as tmp:
        path = Path(tmp) / name
        size = 0
        with path.open("wb") as out:
            while chunk := file.file.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    return _error(
                        413,
                        "too_large",
                        f"{name}: over the {limit // (1024 * 1024)} MB upload limit "
                        "(SKYCALL_KB_MAX_UPLOAD_MB); split the document or ask an admin to raise it",
                    )
                out.write(chunk)
        try:
            docs = load_file(path, lang=lang, category=category, max_bytes=limit)
        except FileRejectedError as exc:
            return _error(422, exc.code, str(exc))
        except KnowledgeFormatError as exc:
            return _error(422, "invalid_file", str(exc))
    with kb.sessions() as db:
        shas = {d.sha256 for d in docs}
        dup = db.scalars(select(KbDocument).where(KbDocument.content_sha256.in_(shas))).first()
    if dup is not None:
        return _error(
            409,
            "duplicate",
            f"{name}: this content is already in the knowledge base as "
            f"{dup.kind} {dup.doc_key!r} ({dup.lang}); edit that document instead",
        )
    saved = []
    for doc in docs:
        result = kb.save(doc, author=staff.username, publish=publish)
        d = _find(kb, doc.kind, doc.lang, doc.doc_key)
        saved.append(SaveOut(version=result.version, changed=result.changed, status=d.status, chunks=d.chunk_count))
    return UploadOut(file=name, documents=saved, keys=[f"{d.kind}/{d.lang}/{d.doc_key}" for d in docs])
