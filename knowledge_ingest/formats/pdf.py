"""PDF text with pypdf: page by page; outline (bookmark) titles become headings where they start."""

from __future__ import annotations

import io
from typing import Any

from pypdf import PdfReader

from knowledge_ingest.formats.common import Extracted, FileRejectedError


def _corrupt(name: str, detail: str) -> FileRejectedError:
    return FileRejectedError(
        name,
        f"the PDF is damaged or not a PDF ({detail}); export it again from the original and upload it again",
        code="corrupt_pdf",
    )


def _outline_headings(reader: PdfReader) -> dict[int, list[str]]:
    """Page index -> Markdown headings (``#`` to ``###`` by outline depth) that start on it."""
    out: dict[int, list[str]] = {}

    def walk(items: list[Any], depth: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
                continue
            title = str(getattr(item, "title", "") or "").strip()
            page = reader.get_destination_page_number(item)
            if title and page is not None and page >= 0:
                out.setdefault(page, []).append(f"{'#' * min(depth + 1, 3)} {title}")

    walk(list(reader.outline), 0)
    return out


def parse_pdf(name: str, data: bytes) -> Extracted:
    if b"%PDF-" not in data[:1024]:
        raise _corrupt(name, "no %PDF- header")
    # pypdf raises many exception types on damaged input; any of them means the file is unreadable
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise FileRejectedError(
                name, "the PDF is encrypted; remove the password and upload it again", code="encrypted_pdf"
            )
        try:
            headings = _outline_headings(reader)
        except Exception:  # a broken outline loses headings, not the text
            headings = {}
        parts: list[str] = []
        for n, page in enumerate(reader.pages):
            parts.extend(headings.get(n, []))
            text = (page.extract_text() or "").strip()
            if text:
                parts.append(text)
        title = str(reader.metadata.title or "").strip() if reader.metadata else ""
    except FileRejectedError:
        raise
    except Exception as exc:
        raise _corrupt(name, str(exc) or type(exc).__name__) from exc
    if not any(not p.startswith("#") for p in parts):
        raise FileRejectedError(
            name,
            "no text could be extracted (a scanned PDF?); run OCR on it or upload the text as DOCX or TXT",
            code="no_text",
        )
    if not title and headings:
        title = min(headings.items())[1][0].lstrip("# ")
    return Extracted(title=title, body="\n\n".join(parts))
