"""Keyword side of hybrid retrieval: BM25 term weights as sparse vectors.

Tokens: jieba's search-mode segmentation for Chinese (so 停车场 also yields 停车 and 车场), lower-cased
words and numbers for English. Each token maps to a stable 31-bit index. A passage's weights are
BM25's saturated term frequency with length normalisation; the index (Qdrant, ``Modifier.IDF``)
multiplies in the inverse document frequency at query time, so the score is BM25.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from dataclasses import dataclass

import jieba

jieba.setLogLevel(logging.WARNING)

K1 = 1.2
B = 0.75
# Typical passage lengths in tokens, for BM25's length normalisation (no corpus pass needed).
AVG_LEN = {"en": 60.0, "zh": 90.0}

_WORD = re.compile(r"[a-z0-9]+(?:[.'-][a-z0-9]+)*")
_CJK = re.compile(r"[\u3400-\u9fff]")
_EN_STOP = frozenset(
    "a an and are as at be by can do does for from how i if in is it my of on or the to what when where "
    "which who will with you your me we our there this that".split()
)
_ZH_STOP = frozenset("的 了 吗 呢 吧 啊 是 在 我 你 请问 可以 怎么 什么 一下 有 和 与 或 就 都 也 要 会 能 个".split())


@dataclass(frozen=True)
class SparseWeights:
    indices: list[int]
    values: list[float]


def tokenize(text: str, language: str) -> list[str]:
    """Keyword tokens of ``text``; Chinese text is segmented whatever ``language`` says (mixed text)."""
    text = text.lower()
    tokens: list[str] = []
    if language == "zh" or _CJK.search(text):
        for tok in jieba.lcut_for_search(text):
            tok = tok.strip()
            if not tok or tok in _ZH_STOP or tok in _EN_STOP:
                continue
            if _CJK.search(tok) or _WORD.fullmatch(tok):
                tokens.append(tok)
        return tokens
    return [w for w in _WORD.findall(text) if w not in _EN_STOP]


def term_index(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=4).digest(), "big") & 0x7FFFFFFF


def passage_weights(text: str, language: str) -> SparseWeights:
    tokens = tokenize(text, language)
    if not tokens:
        return SparseWeights([], [])
    counts = Counter(term_index(t) for t in tokens)
    norm = K1 * (1 - B + B * len(tokens) / AVG_LEN.get(language, 60.0))
    idx = sorted(counts)
    return SparseWeights(idx, [counts[i] * (K1 + 1) / (counts[i] + norm) for i in idx])


def query_weights(text: str, language: str) -> SparseWeights:
    idx = sorted({term_index(t) for t in tokenize(text, language)})
    return SparseWeights(idx, [1.0] * len(idx))
