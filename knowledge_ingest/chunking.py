"""Language-aware chunking: split on Markdown headings (kept as context), then on sentence ends,
including Chinese ones (。！？；). FAQ entries are one chunk: question, similar questions, answer."""

from __future__ import annotations

from dataclasses import dataclass

from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from knowledge_ingest.loaders import SourceDocument

_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3")]
_SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", ". ", "! ", "? ", "; ", "，", ", ", " ", ""]


@dataclass(frozen=True)
class Chunk:
    text: str  # what is embedded (section heading included; for an FAQ also its similar questions)
    section: str
    index: int
    context: str = ""  # what the LLM is shown, when shorter than ``text``

    @property
    def for_llm(self) -> str:
        return self.context or self.text


def chunk_document(doc: SourceDocument, *, max_chars_en: int = 500, max_chars_zh: int = 220) -> list[Chunk]:
    if doc.kind == "faq":
        lines = [doc.title, *doc.similar_questions, doc.body]
        return [Chunk(text="\n".join(lines), section=doc.title, index=0, context=f"{doc.title}\n{doc.body}")]
    size = max_chars_zh if doc.lang == "zh" else max_chars_en
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=size, chunk_overlap=size // 10, separators=_SEPARATORS, keep_separator="end"
    )
    sections = MarkdownHeaderTextSplitter(_HEADERS, strip_headers=True).split_text(doc.body)
    chunks: list[Chunk] = []
    for sec in sections:
        heading = " / ".join(str(sec.metadata[k]) for k in ("h1", "h2", "h3") if k in sec.metadata)
        heading = heading or doc.title
        for piece in splitter.split_text(sec.page_content):
            piece = piece.strip()
            if piece:
                chunks.append(Chunk(text=f"{heading}\n{piece}", section=heading, index=len(chunks)))
    return chunks
