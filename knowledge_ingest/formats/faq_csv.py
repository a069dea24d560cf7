"""FAQ entries from a CSV file (Excel's "CSV UTF-8" or a GBK export both work).

Columns (header row required, names case-insensitive): ``question`` and ``answer`` (required),
``similar_questions`` (separated by ``|`` or ``；``), ``category``, ``lang`` (zh | en), ``id``,
``spoken_answer`` (the short variant read aloud on the phone).
"""

from __future__ import annotations

import csv
import io
import re

from knowledge_ingest.formats.common import FileRejectedError, detect_language
from knowledge_ingest.loaders import LANGUAGES, SourceDocument

COLUMNS = ("id", "lang", "category", "question", "similar_questions", "answer", "spoken_answer")
_SIMILAR_SEP = re.compile(r"[|；]")


def _bad(name: str, problem: str) -> FileRejectedError:
    return FileRejectedError(name, f"{problem}; fix the CSV and upload it again", code="bad_faq")


def parse_faq_csv(name: str, text: str, *, lang: str | None, key_prefix: str, category: str) -> list[SourceDocument]:
    """One FAQ entry per row. Missing ``id`` -> ``<key_prefix>-<row>``; missing ``lang`` -> the
    ``lang`` argument or the detected language; missing ``category`` -> the ``category`` argument."""
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [(h or "").strip().lower() for h in reader.fieldnames or []]
        missing = [c for c in ("question", "answer") if c not in header]
        if missing:
            raise _bad(name, f"the header row lacks {', '.join(missing)} (columns: {', '.join(COLUMNS)})")
        reader.fieldnames = header
        rows = list(reader)
    except csv.Error as exc:
        raise _bad(name, f"not a valid CSV file ({exc})") from exc
    out: list[SourceDocument] = []
    seen: set[tuple[str, str]] = set()
    for n, row in enumerate(rows, start=1):
        cells = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str) and isinstance(v, str)}
        if not any(cells.values()):
            continue
        where = f"row {n} (line {n + 1})"
        question, answer = cells.get("question", ""), cells.get("answer", "")
        if not question or not answer:
            raise _bad(name, f"{where} needs both a question and an answer")
        row_lang = cells.get("lang") or lang or detect_language(f"{question}\n{answer}") or ""
        if row_lang not in LANGUAGES:
            raise _bad(name, f"{where} has lang {row_lang!r}; use one of {', '.join(LANGUAGES)}")
        key = cells.get("id") or f"{key_prefix}-{n}"
        if (key, row_lang) in seen:
            raise _bad(name, f"{where} repeats id {key!r} for lang {row_lang}")
        seen.add((key, row_lang))
        similar = tuple(q.strip() for q in _SIMILAR_SEP.split(cells.get("similar_questions", "")) if q.strip())
        out.append(
            SourceDocument(
                doc_key=key,
                lang=row_lang,
                kind="faq",
                title=question,
                category=cells.get("category") or category,
                body=answer,
                source=f"{name}#{n}",
                similar_questions=similar,
                spoken=cells.get("spoken_answer", ""),
            )
        )
    if not out:
        raise FileRejectedError(
            name, "the CSV has a header but no FAQ rows; add rows and upload it again", code="no_text"
        )
    return out
