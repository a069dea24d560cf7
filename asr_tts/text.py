"""Text helpers for speech: sentence splitting for streaming TTS and spoken-form normalisation."""

from __future__ import annotations

import re

import cn2an

# Sentence ends in Chinese and English (a period followed by space/end, not inside 3.5 or 6.30; a
# streamed "1." at the end of the text so far may be the start of "1.2", so it waits for more).
_SENTENCE_END = re.compile(r"([。！？；!?;]|\.(?=\s)|(?<!\d)\.$)")
_TIME = re.compile(r"(?<!\d)([01]?\d|2[0-3])[:：]([0-5]\d)(?!\d)")
_MARKDOWN = re.compile(r"[*_#`>\[\]]+")
_PHONE = re.compile(r"\d[\d-]{4,}\d")
_ZH_DIGITS = dict(zip("0123456789", "零一二三四五六七八九", strict=True))


def split_sentences(text: str) -> tuple[list[str], str]:
    """Complete sentences in ``text`` and the unfinished remainder (for streaming)."""
    sentences: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        end = m.end()
        piece = text[start:end].strip()
        if piece:
            sentences.append(piece)
        start = end
    return sentences, text[start:]


_CLAUSE_END = re.compile(r"(，|、|：|,(?!\d)|:(?!\d))\s?")
_CJK = re.compile(r"[\u4e00-\u9fff]")


class SentenceChunker:
    """Cuts a streamed answer into pieces to synthesise as soon as each is complete.

    Pieces end at sentence punctuation (Chinese and English). The *first* piece may also end at a
    comma once it is long enough (``first_clause_chars``), so the caller hears the answer begin
    while the model still writes the rest of its first sentence.
    """

    def __init__(self, *, first_clause_chars: int = 24, first_clause_chars_cjk: int = 0) -> None:
        self._pending = ""
        self._first = True
        self._first_clause_chars = first_clause_chars
        self._first_clause_chars_cjk = first_clause_chars_cjk

    def push(self, text: str) -> list[str]:
        self._pending += text
        out, self._pending = split_sentences(self._pending)
        if self._first and not out and self._first_clause_chars > 0:
            limit = self._first_clause_chars_cjk if _CJK.search(self._pending) else self._first_clause_chars
            # 0 = never cut at a comma (Kokoro says a lone Mandarin clause less intelligibly than a sentence)
            for m in _CLAUSE_END.finditer(self._pending if limit > 0 else ""):
                if len(self._pending[: m.start()].strip()) >= limit:
                    out = [self._pending[: m.end()].strip()]
                    self._pending = self._pending[m.end() :]
                    break
        if out:
            self._first = False
        return [s for s in out if s]

    def flush(self) -> list[str]:
        rest, self._pending = self._pending.strip(), ""
        return [rest] if rest else []


def _zh_time(m: re.Match[str]) -> str:
    hour, minute = int(m.group(1)), int(m.group(2))
    if minute == 0:
        return f"{hour}点"
    if minute == 30:
        return f"{hour}点半"
    return f"{hour}点{minute}分"


def normalise_for_speech(text: str, language: str) -> str:
    """Strip markdown and say times and numbers the way people say them in ``language``."""
    text = _MARKDOWN.sub("", text).strip()
    if language == "zh":
        text = _PHONE.sub(lambda m: "".join(_ZH_DIGITS.get(c, "，") for c in m.group(0)), text)
        text = _TIME.sub(_zh_time, text)
        text = str(cn2an.transform(text, "an2cn"))
    return text
