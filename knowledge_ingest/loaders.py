"""Loaders for the knowledge folder: Markdown documents with front matter and a JSON FAQ file.

Layout: ``<kb>/<lang>/<id>.md`` (front matter: id, lang, title, category) and ``<kb>/faq.json``
(a list of {id, lang, category, question, similar_questions, answer}).
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
                **_lifecycle(e, f"{path} entry {n}"),
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
