"""Shorter prompts: keep only the sentences of lower-ranked passages that bear on the question.

Every token of the prompt costs the caller time (on 2 CPU cores the bundled model reads 60–75
tokens a second), and a small model picks wrong facts when it is shown many similar ones. The best
passage is kept whole; each other passage keeps its first sentence (which carries its heading or
the name of the thing it is about) and the sentences sharing the most keywords with the question
(other than the keywords of that first sentence),
within a character budget, in their original order. A passage with no sentence sharing a keyword
beyond its first is reduced to that first sentence.
"""

from __future__ import annotations

import re
from dataclasses import replace

from asr_tts.text import split_sentences
from rag.keywords import tokenize
from rag.retriever import Passage

_CJK = re.compile(r"[\u3400-\u9fff]")
BUDGET = {"zh": 100, "en": 300}  # characters kept of each passage after the first


def _terms(text: str, language: str) -> set[str]:
    """Keyword tokens; English ones cut to 5 letters so "wrapped" meets "wrapping"."""
    return {t if _CJK.search(t) else t[:5] for t in tokenize(text, language)}


def _sentences(text: str) -> list[str]:
    done, rest = split_sentences(text)
    return [*done, rest] if rest.strip() else done


def focus_text(text: str, question: str, language: str, budget: int) -> str:
    """``text`` cut to its first sentence and the sentences most about ``question``."""
    if len(text) <= budget:
        return text
    sentences = _sentences(text)
    if len(sentences) < 2:
        return text[:budget]
    # terms the first sentence already has (the heading, the thing's name) say which passage this
    # is, not which of its sentences answers: only the others choose sentences
    wanted = _terms(question, language) - _terms(sentences[0], language)
    scored = []
    for i, s in enumerate(sentences[1:], 1):
        overlap = wanted & _terms(s, language)
        weight = sum(len(t) for t in overlap)  # longer (more specific) shared terms weigh more
        if weight:
            scored.append((weight, i))
    keep = {0}
    used = len(sentences[0])
    for _, i in sorted(scored, key=lambda x: (-x[0], x[1])):
        if used + len(sentences[i]) > budget and len(keep) > 1:
            break
        keep.add(i)
        used += len(sentences[i])
    sep = "" if language == "zh" else " "
    return sep.join(sentences[i].strip() for i in sorted(keep))


def focus(passages: list[Passage], question: str, language: str, *, budget: int | None = None) -> list[Passage]:
    """The passages for the prompt: the first whole, the others focused on ``question``."""
    limit = budget if budget is not None else BUDGET.get(language, BUDGET["en"])
    out = passages[:1]
    for p in passages[1:]:
        text = focus_text(p.text, question, language, limit)
        out.append(replace(p, text=text) if text != p.text else p)
    return out
