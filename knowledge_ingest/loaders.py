"""Loaders for the knowledge folder: Markdown documents with front matter and a JSON FAQ file.

Layout: ``<kb>/<lang>/<id>.md`` (front matter: id, lang, title, category, optional ``spoken``) and
``<kb>/faq.json`` (a list of {id, lang, category, question, similar_questions, answer, spoken_answer}).

Channel variants: ``answer``/the Markdown body is the text answer (chat, e-mail, the console);
``spoken_answer``/``spoken`` is an optional short answer written to be read aloud on the phone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import frontmatter

LANGUAGES = ("zh", "en")


class KnowledgeFormatError(ValueError):
    """A knowledge file that cannot be read; the message names the file and what to fix."""


@dataclass(frozen=True)
class SourceDocument:
    doc_key: str
    lang: str
    kind: str  # "document" | "faq"
    title: str
    category: str
    body: str
    source: str
    similar_questions: tuple[str, ...] = field(default=())
    spoken: str = ""  # channel variant: a short answer to be spoken; empty = use the body
    # lifecycle requested by the source (front matter or FAQ fields); the store keeps the truth
    status: str = "published"
    enabled: bool = True
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    @property
    def sha256(self) -> str:
        h = hashlib.sha256()
        for part in (self.kind, self.title, self.category, self.body, *self.similar_questions):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
        if self.spoken:  # only when set, so documents without a variant keep their hash
            h.update(b"spoken\x00" + self.spoken.encode("utf-8"))
        return h.hexdigest()


def _when(value: Any, where: str) -> datetime | None:
    """A date or date-time from front matter/JSON (naive values are taken as UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise KnowledgeFormatError(f"{where}: {value!r} is not a date (use YYYY-MM-DD or ISO 8601)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _lifecycle(meta: dict[str, Any], where: str) -> dict[str, Any]:
    status = str(meta.get("status", "published"))
    if status not in ("draft", "published", "retired"):
        raise KnowledgeFormatError(f"{where}: status must be draft, published or retired, got {status!r}")
    valid_from, valid_to = _when(meta.get("valid_from"), where), _when(meta.get("valid_to"), where)
    if valid_from and valid_to and valid_to <= valid_from:
        raise KnowledgeFormatError(f"{where}: valid_to must be after valid_from")
    return {
        "status": status,
        "enabled": bool(meta.get("enabled", True)),
        "valid_from": valid_from,
        "valid_to": valid_to,
    }


def load_markdown(path: Path) -> SourceDocument:
    try:
        post = frontmatter.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise KnowledgeFormatError(f"{path}: cannot read front matter or text ({exc})") from exc
    meta = post.metadata
    missing = [k for k in ("id", "lang", "title") if not meta.get(k)]
    if missing:
        raise KnowledgeFormatError(f"{path}: front matter lacks {', '.join(missing)}")
    lang = str(meta["lang"])
    if lang not in LANGUAGES:
        raise KnowledgeFormatError(f"{path}: lang must be one of {LANGUAGES}, got {lang!r}")
    return SourceDocument(
        doc_key=str(meta["id"]),
        lang=lang,
        kind="document",
        title=str(meta["title"]),
        category=str(meta.get("category", "")),
        body=post.content.strip(),
        source=str(path),
        spoken=str(meta.get("spoken") or "").strip(),
        **_lifecycle(meta, str(path)),
    )


def load_faq(path: Path) -> list[SourceDocument]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KnowledgeFormatError(f"{path}: not valid UTF-8 JSON ({exc})") from exc
    if not isinstance(entries, list):
        raise KnowledgeFormatError(f"{path}: expected a JSON list of FAQ entries")
    out = []
    for n, e in enumerate(entries):
        if not isinstance(e, dict) or not all(e.get(k) for k in ("id", "lang", "question", "answer")):
            raise KnowledgeFormatError(f"{path}: entry {n} needs id, lang, question and answer")
        if e["lang"] not in LANGUAGES:
            raise KnowledgeFormatError(f"{path}: entry {n} has lang {e['lang']!r}; use one of {LANGUAGES}")
        out.append(
            SourceDocument(
                doc_key=str(e["id"]),
                lang=str(e["lang"]),
                kind="faq",
                title=str(e["question"]),
                category=str(e.get("category", "")),
                body=str(e["answer"]),
                source=f"{path}#{n}",
                similar_questions=tuple(str(q) for q in e.get("similar_questions", [])),
                spoken=str(e.get("spoken_answer") or "").strip(),
                **_lifecycle(e, f"{path} entry {n}"),
            )
        )
    return out


EXPORT_FIELDS = (
    "id", "lang", "kind", "title", "category", "body", "spoken", "similar_questions",
    "status", "enabled", "valid_from", "valid_to",
)  # fmt: skip


def load_export(path: Path) -> list[SourceDocument]:
    """Documents from a ``skycall kb export`` file (JSON lines): a bulk import that keeps each
    item's kind, lifecycle, spoken variant and similar questions."""
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise KnowledgeFormatError(f"{path}: not UTF-8 text ({exc})") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path} line {n}"
        try:
            e = json.loads(line)
        except json.JSONDecodeError as exc:
            raise KnowledgeFormatError(f"{where}: not a JSON object ({exc.msg})") from None
        if not isinstance(e, dict) or not all(e.get(k) for k in ("id", "lang", "kind", "title", "body")):
            raise KnowledgeFormatError(
                f"{where}: needs id, lang, kind, title and body (fields: {', '.join(EXPORT_FIELDS)})"
            )
        if e["lang"] not in LANGUAGES:
            raise KnowledgeFormatError(f"{where}: lang must be one of {LANGUAGES}, got {e['lang']!r}")
        if e["kind"] not in ("document", "faq", "record"):
            raise KnowledgeFormatError(f"{where}: kind must be document, faq or record, got {e['kind']!r}")
        out.append(
            SourceDocument(
                doc_key=str(e["id"]),
                lang=str(e["lang"]),
                kind=str(e["kind"]),
                title=str(e["title"]),
                category=str(e.get("category") or ""),
                body=str(e["body"]),
                source=f"{path.name}#{n}",
                similar_questions=tuple(str(q) for q in e.get("similar_questions") or []),
                spoken=str(e.get("spoken") or ""),
                **_lifecycle(e, where),
            )
        )
    return out


def load_folder(kb_dir: Path) -> list[SourceDocument]:
    if not kb_dir.is_dir():
        raise KnowledgeFormatError(f"knowledge folder {kb_dir} does not exist")
    docs = [load_markdown(p) for lang in LANGUAGES for p in sorted((kb_dir / lang).glob("*.md"))]
    faq = kb_dir / "faq.json"
    if faq.is_file():
        docs.extend(load_faq(faq))
    return docs
