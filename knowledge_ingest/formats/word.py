"""DOCX with python-docx, after the zip has been checked for bombs: headings become ``#``/``##``/``###``
so the chunker keeps them as context; tables become ``cell | cell`` rows."""

from __future__ import annotations

import io
import re
import zipfile

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from knowledge_ingest.formats.common import MB, Extracted, FileRejectedError, human_size

MAX_MEMBERS = 10_000
MAX_RATIO = 100  # deflated XML is rarely above 20:1; zeros reach 1000:1
_RATIO_FROM = 1 * MB  # small members may compress well and are harmless
_HEADING_STYLE = re.compile(r"^heading (\d)$", re.IGNORECASE)


def check_zip(name: str, data: bytes, *, max_unpacked_bytes: int) -> None:
    """Refuse non-zip files, zip bombs and archives that are not Word documents, reading only the
    zip directory. CPython's zipfile never inflates a member past its declared size, so the declared
    sizes checked here bound what python-docx can unpack later."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise FileRejectedError(
            name,
            "this is not a DOCX file (not a zip archive); if it is an old .doc, save it as .docx and upload it again",
            code="not_docx",
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise FileRejectedError(
            name, f"the DOCX archive is damaged ({exc}); save it again in Word and upload it again", code="corrupt_docx"
        ) from exc
    if len(infos) > MAX_MEMBERS:
        raise FileRejectedError(
            name,
            f"the archive holds {len(infos)} files (limit {MAX_MEMBERS}): refusing a possible zip bomb",
            code="zip_bomb",
        )
    total = sum(i.file_size for i in infos)
    if total > max_unpacked_bytes:
        raise FileRejectedError(
            name,
            f"the archive expands to {human_size(total)} (limit {human_size(max_unpacked_bytes)}): "
            "refusing a possible zip bomb",
            code="zip_bomb",
        )
    for i in infos:
        if i.file_size > _RATIO_FROM and i.file_size > MAX_RATIO * max(i.compress_size, 1):
            ratio = i.file_size // max(i.compress_size, 1)
            raise FileRejectedError(
                name,
                f"{i.filename} is compressed {ratio}:1 (limit {MAX_RATIO}:1): refusing a possible zip bomb",
                code="zip_bomb",
            )
    if "word/document.xml" not in {i.filename for i in infos}:
        raise FileRejectedError(
            name,
            "the archive is not a Word document (no word/document.xml); save it as .docx and upload it again",
            code="not_docx",
        )


def _heading_level(p: Paragraph) -> int:
    style = p.style.name if p.style is not None and p.style.name else ""
    if style.lower() == "title":
        return 1
    m = _HEADING_STYLE.match(style)
    return min(int(m.group(1)), 3) if m else 0


def _table_rows(table: Table) -> list[str]:
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if not cells or cells[-1] != text:  # a merged cell is returned once per grid column
                cells.append(text)
        if any(cells):
            rows.append(" | ".join(cells))
    return rows


def parse_docx(name: str, data: bytes, *, max_unpacked_bytes: int) -> Extracted:
    check_zip(name, data, max_unpacked_bytes=max_unpacked_bytes)
    # python-docx raises many exception types on damaged parts; any of them means the file is unreadable
    try:
        document = docx.Document(io.BytesIO(data))
        title = (document.core_properties.title or "").strip()
        blocks: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                rows = _table_rows(block)
                if rows:
                    blocks.append("\n".join(rows))
                continue
            text = block.text.strip()
            if not text:
                continue
            level = _heading_level(block)
            if level:
                title = title or text
                blocks.append(f"{'#' * level} {text}")
            else:
                blocks.append(text)
    except Exception as exc:
        raise FileRejectedError(
            name,
            f"the document could not be read ({exc}); open it in Word, save it again as .docx and upload it again",
            code="corrupt_docx",
        ) from exc
    return Extracted(title=title, body="\n\n".join(blocks))
