"""What every format parser shares: the error type with a stable code, the extracted text, text
decoding (UTF-8, else GBK/GB18030) and zh/en language detection."""

from __future__ import annotations

import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

from knowledge_ingest.loaders import KnowledgeFormatError

MB = 1024 * 1024
DEFAULT_MAX_BYTES = 50 * MB
DEFAULT_MAX_UNPACKED_BYTES = 200 * MB


class FileRejectedError(KnowledgeFormatError):
    """An uploaded file that is refused. The message starts with the file name and says what to do;
    ``code`` is stable, for API responses and metrics (``too_large``, ``empty``, ``encrypted_pdf``,
    ``corrupt_pdf``, ``corrupt_docx``, ``not_docx``, ``zip_bomb``, ``encoding``, ``binary``,
    ``no_text``, ``bad_faq``, ``bad_markdown``, ``bad_lang``, ``unknown_language``,
    ``unsupported_type``, ``unreadable``)."""

    def __init__(self, name: str, problem: str, *, code: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.code = code


@dataclass(frozen=True)
class Extracted:
    """Text taken out of one file: Markdown-ish ``#`` headings in ``body``; ``title`` may be empty."""

    title: str
    body: str


def human_size(n: int) -> str:
    """``1.2 GB``, ``210 MB``, ``3 KB``, ``12 bytes``: for messages."""
    for unit, size in (("GB", 1024 * MB), ("MB", MB), ("KB", 1024)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 10 and round(value, 1) != int(value) else f"{value:.0f} {unit}"
    return f"{n} bytes"


def decode_text(name: str, data: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with BOM; otherwise GBK/GB18030 when charset-normalizer
    finds it coherent. Anything else is refused: guessing a wrong code page stores mojibake."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise _encoding_error(name) from None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            match = from_bytes(data, cp_isolation=["gb18030"]).best()
            if match is None:
                raise _encoding_error(name) from None
            text = str(match)
    if "\x00" in text:
        raise FileRejectedError(
            name, "this looks like a binary file, not text; upload a PDF, DOCX, HTML or text file", code="binary"
        )
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _encoding_error(name: str) -> FileRejectedError:
    return FileRejectedError(
        name,
        "the text is neither UTF-8 nor GBK/GB18030; open it in an editor, save it as UTF-8 and upload it again",
        code="encoding",
    )


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")
_LATIN = re.compile(r"[A-Za-z]")
ZH_SHARE = 0.2


def detect_language(text: str) -> str | None:
    """``zh`` when CJK ideographs are at least 20 % of the CJK ideographs plus Latin letters, else
    ``en``; None when the text has neither. An ideograph carries about as much as a whole English
    word, so a Mandarin text with English terms stays ``zh`` and an English text that names
    云海国际机场 stays ``en``."""
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN.findall(text))
    if cjk + latin == 0:
        return None
    return "zh" if cjk / (cjk + latin) >= ZH_SHARE else "en"


_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")


def first_title(text: str, *, max_chars: int = 80) -> str:
    """The first Markdown heading, else a short first line, else empty."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if m := _HEADING.match(line):
            return m.group(1)
    if lines and len(lines[0]) <= max_chars:
        return lines[0]
    return ""
