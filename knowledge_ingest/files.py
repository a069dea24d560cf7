"""Load one uploaded knowledge file into ``SourceDocument`` values, refusing bad input with a message
that says what is wrong and what to do (``docs/knowledge-format.md``, section "Files").

``load_file`` only reads: it never touches the store, so a refused file leaves the store as it was.
Callers refuse duplicate uploads by comparing ``content_fingerprint`` with the ones already stored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from knowledge_ingest.formats.common import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_UNPACKED_BYTES,
    Extracted,
    FileRejectedError,
    decode_text,
    detect_language,
    first_title,
    human_size,
)
from knowledge_ingest.formats.faq_csv import parse_faq_csv
from knowledge_ingest.formats.pdf import parse_pdf
from knowledge_ingest.formats.webpage import parse_html
from knowledge_ingest.formats.word import parse_docx
from knowledge_ingest.loaders import (
    LANGUAGES,
    KnowledgeFormatError,
    SourceDocument,
    load_export,
    load_faq,
    load_markdown,
)

__all__ = ["SUPPORTED_SUFFIXES", "FileRejectedError", "content_fingerprint", "load_file"]

SUPPORTED_SUFFIXES = (".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt", ".csv", ".json", ".jsonl")
LIMIT_SETTING = "SKYCALL_KB_MAX_UPLOAD_MB"
_HTML_START = re.compile(rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S)


def _read(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, after the size limit (checked before reading anything) and the empty check."""
    name = path.name
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise _too_large(name, size, max_bytes)
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise FileRejectedError(name, "the file does not exist; upload it again", code="unreadable") from None
    except (IsADirectoryError, PermissionError, OSError) as exc:
        raise FileRejectedError(name, f"the file cannot be read ({exc.strerror or exc})", code="unreadable") from exc
    if len(data) > max_bytes:  # it grew after stat
        raise _too_large(name, len(data), max_bytes)
    if not data.strip():
        raise FileRejectedError(name, "the file is empty; upload a file with content", code="empty")
    return data


def _too_large(name: str, size: int, max_bytes: int) -> FileRejectedError:
    return FileRejectedError(
        name,
        f"{human_size(size)} is over the {human_size(max_bytes)} limit ({LIMIT_SETTING}); "
        "split the file or ask an administrator to raise the limit",
        code="too_large",
    )


def _format(path: Path, data: bytes) -> str:
    """The parser to use: content first where a signature is unambiguous, else the extension."""
    suffix = path.suffix.lower()
    if suffix == ".pdf" or data.startswith(b"%PDF-"):
        return "pdf"  # the parser refuses a .pdf without a PDF header with "not a PDF"
    if suffix == ".docx" or (suffix not in SUPPORTED_SUFFIXES and data.startswith(b"PK\x03\x04")):
        return "docx"
    if suffix in (".html", ".htm") or (suffix in (".txt", "") and _HTML_START.match(data[:4096])):
        return "html"
    if suffix in (".md", ".markdown"):
        return "markdown"
    if suffix in (".txt", ".csv", ".json", ".jsonl"):
        return suffix[1:]
    raise FileRejectedError(
        path.name,
        f"unsupported file type {suffix or '(no extension)'}; upload PDF, DOCX, HTML, Markdown (.md), "
        "plain text (.txt), an FAQ as .csv or .json, or a knowledge export (.jsonl)",
        code="unsupported_type",
    )


def _default_key(path: Path) -> str:
    return re.sub(r"[^\w-]+", "-", path.stem.lower()).strip("-_") or "document"


def _document(path: Path, ex: Extracted, *, lang: str | None, doc_key: str | None, category: str) -> SourceDocument:
    body = ex.body.strip()
    if not body:
        raise FileRejectedError(path.name, "no text was found in the file; check its content", code="no_text")
    title = ex.title.strip() or path.stem
    lang = lang or detect_language(f"{title}\n{body}")
    if lang is None:
        raise FileRejectedError(
            path.name,
            "cannot tell whether the text is Mandarin or English; choose the language",
            code="unknown_language",
        )
    return SourceDocument(
        doc_key=doc_key or _default_key(path),
        lang=lang,
        kind="document",
        title=title,
        category=category,
        body=body,
        source=path.name,
    )


def _delegate(path: Path, loader: Callable[[Path], list[SourceDocument]], *, code: str) -> list[SourceDocument]:
    """Run a folder loader, naming the file (not its full, possibly temporary, path) in errors."""
    try:
        return loader(path)
    except FileRejectedError:
        raise
    except KnowledgeFormatError as exc:
        message = str(exc)
        if message.startswith(str(path)):
            message = message[len(str(path)) :].lstrip(": ")
        raise FileRejectedError(path.name, f"{message}; fix the file and upload it again", code=code) from exc


def load_file(
    path: Path,
    *,
    lang: str | None = None,
    doc_key: str | None = None,
    category: str = "",
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES,
) -> list[SourceDocument]:
    """Read ``path`` (PDF, DOCX, HTML, Markdown, text, CSV or JSON FAQ) into documents.

    ``lang`` None means detect zh/en from the text; ``doc_key`` defaults to the file name's stem.
    Markdown with front matter and JSON FAQs keep their own id, lang and category. Every refusal
    raises ``FileRejectedError`` (a ``KnowledgeFormatError``) whose message names the file.
    """
    if lang is not None and lang not in LANGUAGES:
        raise FileRejectedError(path.name, f"lang must be one of {', '.join(LANGUAGES)}, got {lang!r}", code="bad_lang")
    data = _read(path, max_bytes)
    fmt = _format(path, data)
    name = path.name
    if fmt == "json":
        return _delegate(path, load_faq, code="bad_faq")
    if fmt == "jsonl":
        return _delegate(path, load_export, code="bad_export")
    if fmt == "csv":
        return parse_faq_csv(
            name, decode_text(name, data), lang=lang, key_prefix=doc_key or _default_key(path), category=category
        )
    if fmt == "pdf":
        ex = parse_pdf(name, data)
    elif fmt == "docx":
        ex = parse_docx(name, data, max_unpacked_bytes=max_unpacked_bytes)
    elif fmt == "html":
        ex = parse_html(name, data)
    else:  # markdown or txt
        text = decode_text(name, data)
        if fmt == "markdown" and text.lstrip("\ufeff").startswith("---\n"):
            return _delegate(path, lambda p: [load_markdown(p)], code="bad_markdown")
        ex = Extracted(title=first_title(text), body=text)
    return [_document(path, ex, lang=lang, doc_key=doc_key, category=category)]


def _norm(text: str) -> str:
    return " ".join(text.split())


def content_fingerprint(docs: Iterable[SourceDocument]) -> str:
    """sha256 (hex) over the extracted text: kind, lang, body and, for FAQ entries, question and
    similar questions, whitespace-normalized, in order. File name, doc key, document title,
    category and lifecycle are left out, so the same content uploaded again under another name or
    re-saved with other line endings has the same fingerprint."""
    h = hashlib.sha256()
    for doc in docs:
        question = (doc.title, *doc.similar_questions) if doc.kind == "faq" else ()
        for part in (doc.kind, doc.lang, *question, doc.body):
            h.update(_norm(part).encode("utf-8"))
            h.update(b"\x00")
        h.update(b"\x01")
    return h.hexdigest()
