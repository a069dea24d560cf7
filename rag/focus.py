"""Shorter prompts: show the LLM only the sentences of the retrieved passages that bear on the question.

Two ways, the second preferred when an embedder is at hand (the runtime and the evals use it):
``focus`` (lexical, no model) and ``SentenceSelector`` (each sentence ranked by embedding
similarity to the question, the best few kept under their passages' headings).

Every token of the prompt costs the caller time (on 2 CPU cores the bundled model reads 60–75
tokens a second), and a small model picks wrong facts when it is shown many similar ones. The best
passage is kept whole; each other passage keeps its first sentence (which carries its heading or
the name of the thing it is about) and the sentences sharing the most keywords with the question
(other than the keywords of that first sentence),
within a character budget, in their original order. A passage with no sentence sharing a keyword
beyond its first is reduced to that first sentence.

The selector also reports the best sentence's similarity, an answerability signal for the
confidence model.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from asr_tts.text import split_sentences
from rag.embeddings import Embedder
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


_MARKUP = re.compile(r"\*\*|__|`|^\s*[-*•]\s+|^#+\s*", re.MULTILINE)


def _units(passage: Passage) -> tuple[str, list[str]]:
    """A passage's heading (its first line: section path or FAQ question) and its sentences."""
    head, _, body = passage.text.partition("\n")
    if not body.strip():
        head, body = passage.title, passage.text
    out: list[str] = []
    for line in _MARKUP.sub("", body).splitlines():
        out += [s.strip() for s in _sentences(line) if len(s.strip()) > 1]
    return head.strip(), out


@dataclass(frozen=True)
class Selection:
    passages: list[Passage]
    top: float  # cosine similarity of the best sentence to the question


class SentenceSelector:
    """The sentences of the retrieved passages closest in meaning to the question.

    Each sentence is embedded with its passage's heading ("Metro Line 9 / Key facts: Hours: 6:00 to
    23:30") and ranked by cosine similarity to the question; the best ``sentences`` are kept,
    grouped under their passages in retrieval order. On the labelled Yunhai questions the six best
    sentences of the five best passages hold the gold fact as often as the three best whole
    passages, in a fifth of the prompt. Sentence vectors are cached (knowledge-base text repeats).
    """

    def __init__(self, embedder: Embedder, *, sentences: int = 6, cache_size: int = 8192) -> None:
        self._embedder = embedder
        self.sentences = sentences
        self._cache: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _vectors(self, texts: list[str]) -> npt.NDArray[np.float32]:
        found: dict[str, npt.NDArray[np.float32]] = {}
        with self._lock:
            for t in texts:
                if t in self._cache:
                    self._cache.move_to_end(t)
                    found[t] = self._cache[t]
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            vecs = self._embedder.embed_passages(missing)
            found.update(zip(missing, vecs, strict=True))
            with self._lock:
                self._cache.update(zip(missing, vecs, strict=True))
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return np.stack([found[t] for t in texts])

    def select(self, passages: list[Passage], question: str) -> Selection:
        """The passages cut to their best sentences, and the best sentence's similarity."""
        units: list[tuple[int, int, str]] = []  # (passage, sentence index, text)
        heads: list[str] = []
        per: list[list[str]] = []
        for i, p in enumerate(passages):
            head, sents = _units(p)
            heads.append(head)
            per.append(sents)
            units += [(i, j, s) for j, s in enumerate(sents)]
        if not units:
            return Selection(passages, 0.0)
        scores = self._vectors([f"{heads[i]}: {s}" for i, _, s in units]) @ self._embedder.embed_query(question)
        best = sorted(range(len(units)), key=lambda u: -float(scores[u]))[: self.sentences]
        keep: dict[int, list[int]] = {}
        for u in best:
            keep.setdefault(units[u][0], []).append(units[u][1])
        out = []
        for i, p in enumerate(passages):
            if i in keep:
                sep = "" if p.lang == "zh" else " "
                body = sep.join(per[i][j] for j in sorted(keep[i]))
                out.append(replace(p, text=f"{heads[i]}\n{body}"))
        return Selection(out, float(scores[best[0]]))
