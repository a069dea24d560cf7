"""HTML: active content removed with lxml-html-clean, the main text taken with trafilatura as
Markdown (headings, lists, tables; no links or images), and a last pass that drops anything
still shaped like a tag, a ``javascript:`` URL or an event handler, so no active content is stored."""

from __future__ import annotations

import re

import trafilatura
from lxml_html_clean import Cleaner

from knowledge_ingest.formats.common import Extracted, FileRejectedError

_CLEANER = Cleaner(
    scripts=True,
    javascript=True,
    comments=True,
    style=True,
    inline_style=True,
    links=True,
    meta=True,
    processing_instructions=True,
    embedded=True,
    frames=True,
    forms=True,
    page_structure=False,
    safe_attrs_only=True,
)
_TAG = re.compile(r"\\?<\s*/?\s*[A-Za-z!?][^<>]*\\?>")
_ACTIVE = re.compile(r"(?i)\b(?:javascript|vbscript)\s*:|\bdata\s*:\s*text/html|\bon[a-z]+\s*=")


def neutralize(text: str) -> str:
    """Drop tag-shaped text, script URL schemes and ``onxxx=`` handlers from extracted text."""
    previous = None
    while previous != text:  # removing one match may join the pieces of another
        previous = text
        text = _ACTIVE.sub("", _TAG.sub("", text))
    return text


def parse_html(name: str, data: bytes) -> Extracted:
    tree = trafilatura.load_html(data)
    if tree is None:
        raise FileRejectedError(
            name, "the file could not be read as HTML; save the page again as HTML and upload it again", code="no_text"
        )
    title = neutralize(" ".join(str(tree.findtext(".//title") or "").split()))
    body = trafilatura.extract(
        _CLEANER.clean_html(tree),
        output_format="markdown",
        include_tables=True,
        include_links=False,
        include_images=False,
        include_comments=False,
        favor_recall=True,
    )
    return Extracted(title=title, body=neutralize(body or "").strip())
